import Dispatch
import Foundation
import GuardrailCore
import GuardrailEngine
import Media

/// Per-item outputs of one classifier, appended as JSON lines to a file so that an interrupted run
/// continues where it stopped: one line per (item, perturbation), keyed by the item's path and
/// content hash. A torn last line (a kill mid-write) is ignored and recomputed.
final class ItemCache {
    struct Line: Codable {
        var path: String
        var sha256: String
        var perturbation: String
        var outputs: [String: CategoryOutput]?
        var error: String?
    }

    private let url: URL?
    private var lines: [String: Line] = [:]
    private var handle: FileHandle?
    private(set) var reused = 0

    /// Opens (creating) the cache file at `path`; nil keeps nothing on disk.
    init(path: String?) throws {
        guard let path else {
            url = nil
            return
        }
        url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if let data = FileManager.default.contents(atPath: path) {
            var valid = 0
            // Only lines ended by a newline count: what follows the last one was cut off, even if
            // it parses.
            for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
                guard let parsed = try? JSONDecoder().decode(Line.self, from: Data(line)) else { break }
                lines[Self.key(parsed.path, parsed.sha256, parsed.perturbation)] = parsed
                valid += line.count + 1
            }
            // Drop a torn tail so that appended lines start on a line of their own.
            if valid < data.count, let handle = try? FileHandle(forWritingTo: url!) {
                try handle.truncate(atOffset: UInt64(valid))
                try handle.close()
            }
        } else {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = try FileHandle(forWritingTo: url!)
        try handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    private static func key(_ path: String, _ sha: String, _ perturbation: String) -> String {
        path + "\u{0}" + sha + "\u{0}" + perturbation
    }

    func lookup(path: String, sha256: String, perturbation: String) -> Line? {
        let found = lines[Self.key(path, sha256, perturbation)]
        if found != nil { reused += 1 }
        return found
    }

    func append(_ line: Line) throws {
        lines[Self.key(line.path, line.sha256, line.perturbation)] = line
        guard let handle else { return }
        var data = try JSONEncoder().encode(line)
        data.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: data)
    }
}

/// What `guardrail bench` asks for.
public struct BenchOptions: Sendable {
    public var split: DatasetSplit?
    public var mode = EvaluationMode.categoryConditioned
    public var sampling = SamplingOptions()
    public var limits = MediaLimits.default
    public var perturbations: [Perturbation] = []
    /// Items drawn for robustness per classifier, from those it classified correctly.
    public var robustItems = 500
    public var seed: UInt64 = 2023
    /// Folder of the per-item caches (one file per classifier identity); nil keeps nothing.
    public var cacheFolder: String?

    public init() {}
}

/// Progress of a run: what is being done, how far.
public struct BenchProgress: Sendable {
    public var stage: String
    public var done: Int
    public var total: Int

    public init(stage: String, done: Int, total: Int) {
        self.stage = stage
        self.done = done
        self.total = total
    }
}

/// Runs classifiers over a labelled data set: every item decoded once for all classifiers, each
/// classifier's outputs cached per item, then the perturbed copies of the items each classifier got
/// right, and the figures.
public final class BenchRunner {
    public let dataset: LabelledDataset
    public let options: BenchOptions
    public let classifiers: [any BenchClassifier]
    public let external: [(outputs: ClassifierOutputs, file: String)]
    /// Every classifier's clean outputs from the last ``run(progress:)`` (the engine's first, then
    /// the prediction files), for calibration.
    public private(set) var outputs: [ClassifierOutputs] = []

    public init(
        dataset: LabelledDataset, classifiers: [any BenchClassifier],
        external: [(outputs: ClassifierOutputs, file: String)] = [], options: BenchOptions
    ) {
        self.dataset = dataset
        self.classifiers = classifiers
        self.external = external
        self.options = options
    }

    /// Runs everything and builds the report. Items that cannot be read are reported and left out.
    public func run(progress: (BenchProgress) -> Void = { _ in }) throws -> BenchReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let indices = dataset.items.indices.filter { dataset.items[$0].belongs(to: options.split) }
        let caches = try classifiers.map { classifier in
            try ItemCache(
                path: options.cacheFolder.map {
                    "\($0)/\(dataset.sha256.prefix(16))/\(classifier.identityHash.prefix(24)).jsonl"
                })
        }
        var outputs = Array(repeating: [Int: [String: CategoryOutput]](), count: classifiers.count)
        var unreadable: [UnreadableItem] = []
        var hashes: [Int: String] = [:]
        var computed = 0
        for start in stride(from: 0, to: indices.count, by: Self.itemsPerBatch) {
            progress(BenchProgress(stage: "classifying", done: start, total: indices.count))
            let batch = Array(indices[start..<min(start + Self.itemsPerBatch, indices.count)])
            let results = try evaluate(
                batch, perturbation: nil, caches: caches, hashes: &hashes, computed: &computed)
            for (index, result) in zip(batch, results) {
                let item = dataset.items[index]
                if let error = result.error {
                    unreadable.append(UnreadableItem(row: item.row, path: item.path, error: error))
                    continue
                }
                for (c, output) in result.outputs.enumerated() { outputs[c][index] = output }
            }
        }
        progress(BenchProgress(stage: "classifying", done: indices.count, total: indices.count))
        let unreadableRows = Set(unreadable.map(\.row))
        let readable = indices.filter { !unreadableRows.contains(dataset.items[$0].row) }
        var reports: [ClassifierReport] = []
        let all =
            classifiers.enumerated().map { c, classifier in
                (
                    ClassifierOutputs(name: classifier.name, covers: classifier.covers, outputs: outputs[c]),
                    Optional(classifier)
                )
            } + external.map { ($0.outputs, nil as (any BenchClassifier)?) }
        for (c, (classifierOutputs, classifier)) in all.enumerated() {
            let effectiveness = EffectivenessReport(
                classifierOutputs, dataset: dataset, indices: readable, mode: options.mode)
            var robustness: [RobustnessResult] = []
            var robustnessNote: String?
            if !options.perturbations.isEmpty {
                if let classifier {
                    (robustness, robustnessNote) = try robust(
                        classifier, number: c, outputs: classifierOutputs, indices: readable, caches: caches,
                        hashes: &hashes, computed: &computed, progress: progress)
                } else {
                    robustnessNote = "a prediction file cannot be re-run on perturbed images"
                }
            }
            reports.append(
                ClassifierReport(
                    name: classifierOutputs.name,
                    identity: classifier?.identity ?? [
                        "kind": "prediction file", "file": external[c - classifiers.count].file,
                    ],
                    thresholds: classifier?.thresholds ?? [:],
                    thresholdProvenance: classifier?.thresholdProvenance
                        ?? "decisions from the file's labels, else its scores above \(PredictionFile.probabilityThreshold)",
                    effectiveness: effectiveness, robustness: robustness, robustnessNote: robustnessNote,
                    curves: Curves(outputs: classifierOutputs, dataset: dataset, indices: readable, mode: options.mode))
            )
        }
        self.outputs = all.map(\.0)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return BenchReport(
            dataset: DatasetSummary(dataset, indices: indices, split: options.split, unreadable: unreadable),
            mode: options.mode, seed: options.seed, sampling: ThresholdSettings.sampling(options.sampling),
            classifiers: reports,
            runtime: Runtime(
                seconds: seconds, items: indices.count, computed: computed,
                reused: caches.reduce(0) { $0 + $1.reused }, cpu: Runtime.thisMachine,
                date: ISO8601DateFormatter().string(from: Date())))
    }

    /// Items decoded and classified together: one forward pass covers several small items.
    public static let itemsPerBatch = 8

    /// A batch of items (one perturbation) through every classifier (or those in `only`), from the
    /// caches where they hold them: per item the outputs by classifier, or why it could not be read.
    private func evaluate(
        _ batch: [Int], perturbation: Perturbation?, caches: [ItemCache], hashes: inout [Int: String],
        computed: inout Int, only: Set<Int>? = nil
    ) throws -> [(outputs: [[String: CategoryOutput]], error: String?)] {
        let key = perturbation?.id ?? "clean"
        var results = batch.map { _ in
            (outputs: Array(repeating: [String: CategoryOutput](), count: classifiers.count), error: String?.none)
        }
        for (n, index) in batch.enumerated() where hashes[index] == nil {
            var hash = ContentHash()
            do {
                try hash.update(contentsOf: dataset.items[index].file)
                hashes[index] = hash.hexDigest()
            } catch {
                results[n].error = "\(dataset.items[index].file): \(error.message)"
            }
        }
        var missing = Array(repeating: [Int](), count: classifiers.count)
        for (n, index) in batch.enumerated() where results[n].error == nil {
            let item = dataset.items[index]
            for c in classifiers.indices where only?.contains(c) ?? true {
                if let line = caches[c].lookup(path: item.path, sha256: hashes[index]!, perturbation: key) {
                    if let error = line.error { results[n].error = error }
                    results[n].outputs[c] = line.outputs ?? [:]
                } else {
                    missing[c].append(n)
                }
            }
        }
        var decoded: [Int: DecodedMedia] = [:]
        for n in Set(missing.joined()).sorted() where results[n].error == nil {
            let item = dataset.items[batch[n]]
            let needing = classifiers.indices.filter { missing[$0].contains(n) }
            do {
                let source = try MediaSource(path: item.file, limits: options.limits)
                let side = needing.map { classifiers[$0].shortestSide }.max()!
                var media = try DecodedMedia(source, sampling: options.sampling, shortestSide: side)
                if let perturbation, perturbation.stage == .image {
                    media = try media.mapImages { (image) throws(MediaError) in try perturbation.apply(to: image) }
                }
                decoded[n] = media
            } catch {
                let message = EngineError(wrapping: error, file: item.file).description
                results[n].error = message
                for c in needing {
                    try caches[c].append(
                        .init(
                            path: item.path, sha256: hashes[batch[n]]!, perturbation: key, outputs: nil, error: message)
                    )
                    computed += 1
                }
            }
        }
        let shared = SharedEncodings()
        for c in classifiers.indices {
            let members = missing[c].filter { decoded[$0] != nil }
            guard !members.isEmpty else { continue }
            let items = members.map { dataset.items[batch[$0]] }
            let work = BenchBatch(
                media: members.map { decoded[$0]! }, files: items.map(\.file), perturbation: perturbation,
                seeds: items.map {
                    SplitMix64.seed([options.seed, $0.path.hashValueStable, key.hashValueStable])
                })
            let outputs = try classifiers[c].classify(work, items: members, shared: shared)
            for (n, output) in zip(members, outputs) {
                let item = dataset.items[batch[n]]
                try caches[c].append(
                    .init(path: item.path, sha256: hashes[batch[n]]!, perturbation: key, outputs: output, error: nil))
                results[n].outputs[c] = output
                computed += 1
            }
        }
        return results
    }

    /// Robust accuracy of `classifier` under every perturbation, on up to ``BenchOptions/robustItems``
    /// items it classified correctly (drawn with the run's seed).
    private func robust(
        _ classifier: any BenchClassifier, number c: Int, outputs: ClassifierOutputs, indices: [Int],
        caches: [ItemCache], hashes: inout [Int: String], computed: inout Int, progress: (BenchProgress) -> Void
    ) throws -> ([RobustnessResult], String?) {
        let correct = indices.filter { index in
            let item = dataset.items[index]
            guard outputs.covers.contains(item.category),
                let decision = outputs.decisive(item, index: index, mode: options.mode)?.unsafe
            else { return false }
            return decision == item.unsafe
        }
        guard !correct.isEmpty else {
            return ([], "no item classified correctly with a decision (calibrate thresholds first)")
        }
        var random = SplitMix64(seed: options.seed)
        var pool = correct
        for i in stride(from: pool.count - 1, to: 0, by: -1) { pool.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        let drawn = Array(pool.prefix(options.robustItems)).sorted()
        var results: [RobustnessResult] = []
        for perturbation in options.perturbations {
            var still = 0
            var failed = 0
            for start in stride(from: 0, to: drawn.count, by: Self.itemsPerBatch) {
                progress(BenchProgress(stage: "\(classifier.name) \(perturbation.id)", done: start, total: drawn.count))
                let batch = Array(drawn[start..<min(start + Self.itemsPerBatch, drawn.count)])
                let results = try evaluate(
                    batch, perturbation: perturbation, caches: caches, hashes: &hashes, computed: &computed, only: [c])
                for (index, result) in zip(batch, results) {
                    guard result.error == nil else {
                        failed += 1
                        continue
                    }
                    let item = dataset.items[index]
                    let perturbed = ClassifierOutputs(
                        name: outputs.name, covers: outputs.covers, outputs: [index: result.outputs[c]])
                    if perturbed.decisive(item, index: index, mode: options.mode)?.unsafe == item.unsafe { still += 1 }
                }
            }
            let k = drawn.count - failed
            let strength = perturbation.strength
            results.append(
                RobustnessResult(
                    perturbation: perturbation.id, kind: perturbation.kind, stage: perturbation.stage.rawValue,
                    strength: strength.value, unit: strength.unit, items: k, failed: failed, cleanAccuracy: 1,
                    robustAccuracy: k == 0 ? nil : Double(still) / Double(k),
                    attackSuccessRate: k == 0 ? nil : Double(k - still) / Double(k)))
        }
        return (
            results,
            correct.count < options.robustItems
                ? "\(correct.count) items were classified correctly, fewer than the \(options.robustItems) asked for: all are used"
                : nil
        )
    }
}

extension String {
    /// A hash of the string that is the same in every process (Swift's `hashValue` is seeded per run).
    var hashValueStable: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }
}
