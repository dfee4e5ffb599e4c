import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Policy
import Synchronization
import Vision

/// A classifier the bench runs on decoded items: the engine's policy scoring, linear heads, the
/// Stable Diffusion safety checker. (External classifiers come as prediction files instead.)
public protocol BenchClassifier: AnyObject, Sendable {
    /// The name in reports (`zero-shot`, `heads`, `sd-safety-checker`, or the user's).
    var name: String { get }
    /// What it is and everything that changes its outputs, as reported (model, hashes, settings).
    var identity: [String: String] { get }
    /// The categories it covers (its outputs' keys).
    var covers: [String] { get }
    /// Threshold per covered category (nil where it has none), and where they came from.
    var thresholds: [String: Double?] { get }
    var thresholdProvenance: String { get }
    /// The shortest side its preprocessing resizes to (frames larger than twice this are prescaled).
    var shortestSide: Int { get }
    /// The outputs for a batch of items (their frames go through the model together, in slices
    /// of the scan batch size); `shared` carries embeddings another classifier of the same model
    /// already computed for the same `items` (the runner's numbering of the batch's items).
    func classify(_ batch: BenchBatch, items: [Int], shared: SharedEncodings) throws -> [[String: CategoryOutput]]
}

/// Image embeddings of a batch's frames (one perturbation), by model hash and the items they are
/// of: computed by the first classifier that needs them, reused by others of the same model.
public final class SharedEncodings: Sendable {
    private let embeddings = Mutex<[String: (items: [Int], rows: [[Float]])]>([:])

    public init() {}

    func embeddings(model: String, items: [Int]) -> [[Float]]? {
        embeddings.withLock { $0[model].flatMap { $0.items == items ? $0.rows : nil } }
    }

    func store(_ rows: [[Float]], model: String, items: [Int]) { embeddings.withLock { $0[model] = (items, rows) } }
}

/// The identity entries of every classifier the engine runs: what it is, its model, its
/// preprocessing, the settings its outputs depend on, the kernel path and the engine's version.
func engineIdentity(
    kind: String, model: String, sha256: String, preprocessor: ImagePreprocessor, settings: [String: String],
    compute: ComputeConfiguration
) -> [String: String] {
    [
        "kind": kind, "model": model, "model_sha256": sha256,
        "preprocessing":
            "bicubic resize of the short side to \(preprocessor.shortestEdge), centre crop \(preprocessor.cropWidth)x\(preprocessor.cropHeight), mean \(preprocessor.mean), std \(preprocessor.std)",
        "settings": settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
        "kernel": compute.resultKey, "engine_version": engineVersion,
    ]
}

extension BenchClassifier {
    /// The identity as one hash: keys the per-item cache.
    public var identityHash: String {
        let text = identity.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        return ContentHash.hex(Array((name + "\n" + text).utf8))
    }
}

/// Items decoded for classification together: every frame of every item, in order, with the
/// seed each item's tensor perturbation is drawn from.
public struct BenchBatch: Sendable {
    public var media: [DecodedMedia]
    public var files: [String]
    public var perturbation: Perturbation?
    /// Per item, the seed its frames' noise is drawn from.
    public var seeds: [UInt64]

    public init(media: [DecodedMedia], files: [String], perturbation: Perturbation?, seeds: [UInt64]) {
        (self.media, self.files, self.perturbation, self.seeds) = (media, files, perturbation, seeds)
    }

    /// `body` on consecutive slices of at most `size` frames (pictures, frame infos, displayed
    /// sizes, a file for messages, the tensor hook), results concatenated in frame order. Frame
    /// `f` of an item draws its noise from the item's seed and `f`, whatever slice it is in.
    func inSlices<T>(
        of size: Int, _ body: ([RGBImage], [FrameInfo], [FrameSize?], String, ((Tensor) -> Tensor)?) throws -> [T]
    ) rethrows -> [T] {
        let all = media.enumerated().flatMap { item, media in
            media.images.indices.map { (item: item, frame: $0, seed: SplitMix64.seed([seeds[item], UInt64($0)])) }
        }
        var out: [T] = []
        for start in stride(from: 0, to: all.count, by: max(size, 1)) {
            let slice = all[start..<min(start + max(size, 1), all.count)]
            var hook: ((Tensor) -> Tensor)?
            if let perturbation, perturbation.stage == .tensor {
                let seeds = slice.map(\.seed)
                hook = { perturbation.apply(to: $0, seeds: seeds) }
            }
            out += try body(
                slice.map { media[$0.item].images[$0.frame] }, slice.map { media[$0.item].frames[$0.frame] },
                slice.map { media[$0.item].displayed[$0.frame] }, files[slice.first!.item], hook)
        }
        return out
    }

    /// Per-frame results split back into per-item lists.
    func perItem<T>(_ values: [T]) -> [[T]] {
        var out: [[T]] = []
        var start = 0
        for item in media {
            out.append(Array(values[start..<(start + item.images.count)]))
            start += item.images.count
        }
        return out
    }
}

/// The engine's policy scoring (SafeWatch mechanisms in CLIP space) with any policy pack: one
/// output per policy, keyed by its name and its id, the decision at its calibrated threshold.
public final class ZeroShotClassifier: BenchClassifier, Sendable {
    public let engine: GuardrailEngine
    public let name: String
    /// The score of an item whose every frame an allowed rule exempted (the policy reports none):
    /// below any policy score, which mixes cosines in [−1, 1].
    public static let exemptedScore: Float = -2

    public init(engine: GuardrailEngine, name: String = "zero-shot") {
        self.engine = engine
        self.name = name
    }

    public var identity: [String: String] {
        var identity = engineIdentity(
            kind: "zero-shot policy scoring", model: engine.modelFolder, sha256: engine.modelSHA256,
            preprocessor: engine.preprocessor, settings: ThresholdSettings.of(engine.settings),
            compute: engine.settings.compute)
        identity["policy_set"] = engine.policySet.name
        identity["policy_sha256"] = engine.policySet.sha256
        // The detector decides policies with detector rules: its model is part of what the outputs depend on.
        if let detector = engine.detector { identity["detector_sha256"] = detector.sha256 }
        return identity
    }

    public var covers: [String] {
        engine.policySet.policies.flatMap { $0.id == $0.name ? [$0.name] : [$0.name, $0.id] }
    }

    public var thresholds: [String: Double?] {
        var out: [String: Double?] = [:]
        for (policy, threshold) in zip(engine.policySet.policies, engine.thresholds) {
            out[policy.name] = .some(threshold.map(Double.init))
        }
        return out
    }

    public var thresholdProvenance: String {
        engine.thresholds.allSatisfy({ $0 == nil })
            ? "none: no threshold is calibrated for this model, so no decisions (threshold-free figures only)"
            : "the policy file's thresholds calibrated for this model (and --threshold overrides)"
    }

    public var shortestSide: Int { engine.preprocessor.shortestEdge }

    public func classify(_ batch: BenchBatch, items: [Int], shared: SharedEncodings) throws
        -> [[String: CategoryOutput]]
    {
        let features = try batch.inSlices(of: engine.settings.batch) { images, frames, displayed, file, hook in
            try engine.features(of: images, frames: frames, displayed: displayed, file: file, perturbation: hook)
        }
        shared.store(features.map(\.global), model: engine.modelSHA256, items: items)
        // Policies with detector rules see the detector's findings on the (perturbed) pictures.
        let found = try batch.media.map { try engine.detections(in: $0.images, displayed: $0.displayed) }
        return zip(batch.perItem(features), found).map { item, detections in
            var out: [String: CategoryOutput] = [:]
            for (policy, verdict) in zip(engine.policySet.policies, engine.verdicts(item, detections: detections)) {
                // Every frame exempted by an allowed rule: no score, which ranks below every scored item.
                let output = CategoryOutput(score: Double(verdict.score ?? Self.exemptedScore), unsafe: verdict.verdict)
                out[policy.name] = output
                out[policy.id] = output
            }
            return out
        }
    }
}

/// Linear heads (`train-heads`) on the model's unit image embeddings; a frame decides unsafe at
/// the head's threshold, an item when any frame does; the score is the highest probability.
public final class HeadsClassifier: BenchClassifier, Sendable {
    public let scanner: HeadsScanner
    public let name: String

    public init(scanner: HeadsScanner, name: String = "heads") {
        self.scanner = scanner
        self.name = name
    }

    public var identity: [String: String] {
        var identity = engineIdentity(
            kind: "linear heads on image embeddings", model: scanner.bundle.folder, sha256: scanner.bundle.sha256,
            preprocessor: scanner.embedder.preprocessor,
            settings: ["sampling": ThresholdSettings.sampling(scanner.settings.sampling)],
            compute: scanner.settings.compute)
        identity["heads"] = scanner.headsPath
        identity["heads_sha256"] = scanner.headsSHA256
        return identity
    }

    public var covers: [String] { scanner.heads.categories }

    public var thresholds: [String: Double?] {
        var out: [String: Double?] = [:]
        for (k, category) in scanner.heads.categories.enumerated() { out[category] = scanner.heads.threshold(k) }
        return out
    }

    public var thresholdProvenance: String {
        scanner.heads.thresholds.allSatisfy({ $0 == nil })
            ? "the default probability threshold 0.5 (no calibration in the heads file)"
            : "calibrated thresholds from the heads file (0.5 where none)"
    }

    public var shortestSide: Int { scanner.embedder.preprocessor.shortestEdge }

    public func classify(_ batch: BenchBatch, items: [Int], shared: SharedEncodings) throws
        -> [[String: CategoryOutput]]
    {
        let key = scanner.bundle.sha256
        let embeddings: [[Float]]
        if let reused = shared.embeddings(model: key, items: items) {
            embeddings = reused
        } else {
            embeddings = try batch.inSlices(of: scanner.settings.batch) { images, _, _, file, hook in
                try scanner.embedder.embeddings(of: images, file: file, perturbation: hook)
            }
            shared.store(embeddings, model: key, items: items)
        }
        let heads = scanner.heads
        return batch.perItem(embeddings.map(heads.probabilities)).map { probabilities in
            var out: [String: CategoryOutput] = [:]
            for (k, category) in heads.categories.enumerated() {
                let best = probabilities.map { $0[k] }.max() ?? 0
                out[category] = CategoryOutput(score: best, unsafe: best >= heads.threshold(k))
            }
            return out
        }
    }
}

/// The Stable Diffusion safety checker (UnsafeBench's SD_Filter), covering `Sexual`: the score is
/// the highest adjusted concept score over frames (unsafe above 0, as diffusers decides).
public final class SafetyCheckerClassifier: BenchClassifier, Sendable {
    public let scanner: SafetyCheckerScanner
    public let name: String

    public init(scanner: SafetyCheckerScanner, name: String = "sd-safety-checker") {
        self.scanner = scanner
        self.name = name
    }

    public var identity: [String: String] {
        engineIdentity(
            kind: "Stable Diffusion safety checker", model: scanner.bundle.folder, sha256: scanner.bundle.sha256,
            preprocessor: scanner.checker.preprocessor,
            settings: ["sampling": ThresholdSettings.sampling(scanner.settings.sampling)],
            compute: scanner.settings.compute)
    }

    public var covers: [String] { [UnsafeCategory.sexual.rawValue] }
    public var thresholds: [String: Double?] { [UnsafeCategory.sexual.rawValue: 0] }
    public var thresholdProvenance: String {
        "the checker's own per-concept thresholds (unsafe when an adjusted score > 0)"
    }
    public var shortestSide: Int { scanner.checker.preprocessor.shortestEdge }

    public func classify(_ batch: BenchBatch, items: [Int], shared: SharedEncodings) throws
        -> [[String: CategoryOutput]]
    {
        let results = try batch.inSlices(of: scanner.settings.batch) { images, _, _, file, hook in
            var (pixels, _) = scanner.checker.preprocessor(images)
            if let hook { pixels = hook(pixels) }
            let results = try scanner.checker.check(pixels)
            guard results.flatMap(\.conceptScores).allSatisfy(\.isFinite) else {
                throw EngineError(
                    .model, file: file, message: "the safety checker produced scores that are not finite numbers")
            }
            return results
        }
        return batch.perItem(results).map { item in
            let best = item.map { Double($0.conceptScores.max() ?? -1) }.max() ?? -1
            return [
                UnsafeCategory.sexual.rawValue: CategoryOutput(
                    score: best, unsafe: item.contains(where: \.hasNSFWConcept))
            ]
        }
    }
}
