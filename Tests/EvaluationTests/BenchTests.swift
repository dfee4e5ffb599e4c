import Compute
import Evaluation
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import TestSupport
import Testing
import Vision

/// The bench on the synthetic labelled set (`scripts/gen_bench_fixtures.py`) with the tiny model:
/// manifests, unreadable items, the per-item cache across an interruption, robustness, calibration.
@Suite(.serialized) struct BenchTests {
    static let manifest = Fixtures.path("bench/set/manifest.csv")
    static let model = Fixtures.path("models/clip-b16-tiny")

    static func temporaryFolder(_ name: String) -> String {
        NSTemporaryDirectory() + "guardrail-\(name)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func engine(policies: String = PolicyPacks.unsafeBench, settings: ScanSettings = ScanSettings()) throws
        -> GuardrailEngine
    {
        try GuardrailEngine(model: model, policies: policies, settings: settings, cache: nil)
    }

    /// The engine's columns and the UnsafeBench release's columns describe the same items.
    @Test func bothManifestLayoutsReadTheSame() throws {
        let ours = try LabelledDataset(manifest: Self.manifest)
        let release = try LabelledDataset(manifest: Fixtures.path("bench/set/unsafebench.jsonl"))
        #expect(ours.items.count == 50 && release.items.count == 48)
        for (a, b) in zip(ours.items, release.items) {
            #expect(
                a.path == b.path && a.file == b.file && a.category == b.category && a.unsafe == b.unsafe
                    && a.source == b.source && a.split == b.split)
        }
        #expect(ours.items(in: .test).count == 14 && ours.items(in: .train).count == 36)
    }

    /// A fault names the row and the field.
    @Test(arguments: [
        ("path,category,label\na.png,Sexual,maybe\n", "row 1, field label"),
        ("path,category,label\na.png,,safe\n", "row 1, field category"),
        ("path,category,label,source\na.png,Sexual,safe,real\nb.png,Sexual,unsafe,cartoon\n", "row 2, field source"),
        ("path,category,label\na.png,Sexual\n", "row 1"),
        (
            "{\"path\": \"a.png\", \"category\": \"Sexual\", \"label\": 1}\n{\"path\": \"b.png\", \"label\": 0}\n",
            "row 2, field category"
        ),
        (
            "{\"image\": \"a.png\", \"category\": \"Sexual\", \"safety_label\": \"Unsafe\", \"split\": \"dev\"}\n",
            "row 1, field split"
        ),
    ])
    func manifestErrorsNameRowAndField(text: String, expected: String) throws {
        let path = Self.temporaryFolder("manifest") + ".csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try LabelledDataset(manifest: path)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    /// An interrupted run (the cache cut in the middle of a line, as a kill leaves it) continues
    /// where it stopped and gives the same report as an uninterrupted one; only the missing
    /// outputs are computed.
    @Test func interruptedRunResumes() throws {
        let dataset = try LabelledDataset(manifest: Self.manifest)
        let engine = try Self.engine()
        var options = BenchOptions()
        options.cacheFolder = Self.temporaryFolder("bench-cache")
        defer { try? FileManager.default.removeItem(atPath: options.cacheFolder!) }
        let uncached = try BenchRunner(
            dataset: dataset, classifiers: [ZeroShotClassifier(engine: engine)], options: BenchOptions()
        ).run()
        let first = try BenchRunner(
            dataset: dataset, classifiers: [ZeroShotClassifier(engine: engine)], options: options
        )
        .run()
        #expect(first.runtime.reused == 0 && first.runtime.computed == 49)
        // Keep the first 20 lines and half of the 21st.
        let folder = try #require(
            FileManager.default.subpaths(atPath: options.cacheFolder!)?.first { $0.hasSuffix(".jsonl") })
        let file = options.cacheFolder! + "/" + folder
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 49)
        let kept = lines.prefix(20).joined(separator: "\n") + "\n" + lines[20].prefix(lines[20].count / 2)
        try kept.write(toFile: file, atomically: true, encoding: .utf8)
        let resumed = try BenchRunner(
            dataset: dataset, classifiers: [ZeroShotClassifier(engine: engine)], options: options
        ).run()
        #expect(resumed.runtime.reused == 20 && resumed.runtime.computed == 29)
        for report in [first, resumed] {
            var a = uncached
            var b = report
            (a.runtime, b.runtime) = (Runtime.zero, Runtime.zero)
            #expect(try JSONText.compact(a) == JSONText.compact(b))
        }
        #expect(first.dataset.unreadable.map(\.path) == ["broken.png", "missing.png"])
    }

    /// Noise of norm 0 changes nothing: every originally correct item stays correct (robust
    /// accuracy exactly 1); a large perturbation does change decisions; draws repeat with the seed.
    @Test func robustnessCountsItemsStillCorrect() throws {
        let dataset = try LabelledDataset(manifest: Self.manifest)
        let engine = try Self.engine(
            settings: {
                var s = ScanSettings()
                s.thresholdOverrides = ["Sexual": 0.3, "Violence": 0.3, "Hate": 0.0]
                return s
            }())
        var options = BenchOptions()
        options.perturbations = [.gaussianNoise(l2: 0), .crop(fraction: 0.2), .gaussianNoise(l2: 100)]
        options.robustItems = 10
        let run = {
            try BenchRunner(dataset: dataset, classifiers: [ZeroShotClassifier(engine: engine)], options: options).run()
        }
        let report = try run()
        let robustness = report.classifiers[0].robustness
        #expect(robustness.map(\.items) == [10, 10, 10])
        #expect(robustness[0].robustAccuracy == 1 && robustness[0].attackSuccessRate == 0)
        #expect(robustness.dropFirst().contains { ($0.robustAccuracy ?? 1) < 1 })
        #expect(try JSONText.compact(robustness) == JSONText.compact(try run().classifiers[0].robustness))
    }

    /// A video in a manifest is scored as `scan` scores it (every sampled frame, the best score).
    @Test func videosAreScoredAsScanScoresThem() throws {
        let folder = Self.temporaryFolder("video-set")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let video = Fixtures.path("video/shots.mp4")
        try "path,category,label\n\(video),Violence,unsafe\n\(Fixtures.path("images/rgb8.png")),Violence,safe\n".write(
            toFile: folder + "/manifest.csv", atomically: true, encoding: .utf8)
        let engine = try Self.engine()
        let runner = BenchRunner(
            dataset: try LabelledDataset(manifest: folder + "/manifest.csv"),
            classifiers: [ZeroShotClassifier(engine: engine)], options: BenchOptions())
        _ = try runner.run()
        let scanned = try engine.scan(MediaSource(path: video))
        #expect(scanned.media.framesSampled.count == 3)
        // The bench encodes the video's frames in one batch with the image's; the engine's packed
        // kernel gives every row the same sums whatever the batch, OpenBLAS's differ in the last bits.
        let tolerance = engine.settings.compute.packed ? 0 : 1e-6
        for policy in scanned.policies {
            let benched = try #require(runner.outputs[0].outputs[0]?[policy.name]?.score)
            #expect(abs(benched - Double(policy.score ?? ZeroShotClassifier.exemptedScore)) <= tolerance)
        }
    }

    /// The safety checker covers `Sexual` only (the other categories are not covered, never 0) and
    /// decides each item as `scan --classifier sd-safety-checker` does.
    @Test func safetyCheckerCoversSexualAsScanDecides() throws {
        let dataset = try LabelledDataset(manifest: Self.manifest)
        let scanner = try SafetyCheckerScanner(
            model: Fixtures.path("models/safety-checker-tiny"), settings: ScanSettings(), cache: nil)
        let runner = BenchRunner(
            dataset: dataset, classifiers: [SafetyCheckerClassifier(scanner: scanner)], options: BenchOptions())
        let report = try runner.run()
        let effectiveness = report.classifiers[0].effectiveness
        #expect(effectiveness.covers == ["Sexual"] && effectiveness.notCovered == ["Hate", "Violence"])
        #expect(effectiveness.categories.keys.sorted() == ["Sexual"])
        for (index, item) in dataset.items.enumerated() where item.category == "Sexual" && item.path != "broken.png" {
            let scanned = try scanner.scan(MediaSource(path: item.file)).policies[0]
            let output = try #require(runner.outputs[0].outputs[index]?["Sexual"])
            #expect(output.unsafe == scanned.verdict && output.score == scanned.score.map(Double.init))
        }
    }

    /// A policy with a detector rule is decided in the bench as `scan` decides it (here by the tiny
    /// random export, which fires on every picture at about 0.56).
    @Test func zeroShotAppliesDetectorRulesAsScanDoes() throws {
        let dataset = try LabelledDataset(manifest: Self.manifest)
        var settings = ScanSettings()
        settings.detectorModel = Fixtures.path("detector/tiny-yolo.onnx")
        let engine = try Self.engine(policies: Fixtures.path("policies/detect-policies.json"), settings: settings)
        #expect(engine.detector != nil)
        let runner = BenchRunner(
            dataset: dataset, classifiers: [ZeroShotClassifier(engine: engine)], options: BenchOptions())
        _ = try runner.run()
        for (index, item) in dataset.items.enumerated().prefix(20) where item.path != "broken.png" {
            let scanned = try engine.scan(MediaSource(path: item.file)).policies
            for policy in scanned {
                #expect(
                    runner.outputs[0].outputs[index]?[policy.name]?.unsafe == policy.verdict,
                    "\(item.path) \(policy.id)")
            }
            #expect(scanned.first { $0.id == "sexual" }?.verdict == true)
        }
    }

    /// Perturbations do what they say, deterministically.
    @Test func perturbations() throws {
        let image = try ImageDecoder().decode(path: Fixtures.path("images/rgb8.png"))
        #expect(try Perturbation.crop(fraction: 0.5).apply(to: image).width == (image.width + 1) / 2)
        let resized = try Perturbation.resize(scale: 0.5).apply(to: image)
        #expect(resized.width == image.width && resized.height == image.height && resized != image)
        let jpeg = try Perturbation.jpeg(quality: 20).apply(to: image)
        #expect(jpeg.width == image.width && jpeg != image)
        let flat = RGBImage(width: 9, height: 7, pixels: Array(repeating: 90, count: 9 * 7 * 3))
        #expect(try Perturbation.blur(sigma: 2).apply(to: flat) == flat)
        #expect(try Perturbation.blur(sigma: 2).apply(to: image) != image)
        let tensor = Tensor(shape: [2, 3, 4, 4], scalars: Array(repeating: 0, count: 96))
        let noisy = Perturbation.gaussianNoise(l2: 0.5).apply(to: tensor, seeds: [7, 8]).scalars
        #expect(noisy == Perturbation.gaussianNoise(l2: 0.5).apply(to: tensor, seeds: [7, 8]).scalars)
        // Each frame's draw depends on its own seed only, whatever batch it is in.
        let swapped = Perturbation.gaussianNoise(l2: 0.5).apply(to: tensor, seeds: [8, 7]).scalars
        #expect(Array(noisy[0..<48]) == Array(swapped[48..<96]) && noisy[0..<48] != noisy[48..<96])
        for frame in 0..<2 {
            let norm = noisy[(frame * 48)..<((frame + 1) * 48)].reduce(0) { $0 + Double($1 * $1) }.squareRoot()
            #expect(abs(norm - 0.5) < 1e-5)
        }
        #expect(try Perturbation.parse("jpeg:50,20") == [.jpeg(quality: 50), .jpeg(quality: 20)])
        #expect(throws: DatasetError.self) { try Perturbation.parse("jpeg:500") }
        #expect(throws: DatasetError.self) { try Perturbation.parse("warp:1") }
    }

    /// Thresholds: max F1 with ties to the smaller threshold, precision and recall targets, and
    /// none where a target cannot be reached.
    @Test func thresholdSelection() {
        let labels = [true, true, false, true, false, false]
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]
        // F1 at 0.8 is 0.8, at 0.6 it is 6/7: the best.
        #expect(CalibratedThreshold(category: "x", labels: labels, scores: scores, target: .maxF1).threshold == 0.6)
        // F1 2/3 at 0.9 and at 0.6 (0.5 and 0.4 between): the tie goes to the smaller, 0.6.
        let tied = CalibratedThreshold(
            category: "x", labels: [true, false, false, true], scores: [0.9, 0.8, 0.7, 0.6], target: .maxF1)
        #expect(tied.threshold == 0.6 && tied.trainF1 == 2.0 / 3)
        let flat = CalibratedThreshold(category: "x", labels: [true, false], scores: [0.5, 0.5], target: .maxF1)
        #expect(flat.threshold == 0.5)
        #expect(
            CalibratedThreshold(category: "x", labels: labels, scores: scores, target: .precision(1)).threshold == 0.8)
        #expect(CalibratedThreshold(category: "x", labels: labels, scores: scores, target: .recall(1)).threshold == 0.6)
        #expect(
            CalibratedThreshold(category: "x", labels: [false, true], scores: [0.9, 0.1], target: .precision(0.9))
                .threshold == nil)
        // An item that can never be flagged (−∞) is no candidate.
        #expect(
            CalibratedThreshold(category: "x", labels: [true, false], scores: [-.infinity, 0.2], target: .recall(1))
                .threshold == nil)
    }

    /// A calibrated policy file applies to its model and settings only; otherwise the threshold is
    /// left out with a warning, and the policy reports `calibrated: false`.
    @Test func calibratedThresholdsApplyToTheirSettingsOnly() throws {
        let dataset = try LabelledDataset(manifest: Self.manifest)
        let engine = try Self.engine()
        let out = Self.temporaryFolder("calibrated") + ".json"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try CalibrationWriter.writePolicies(
            from: engine.policySet.path, to: out, thresholds: ["Sexual": 0.25], modelSHA256: engine.modelSHA256,
            settings: ThresholdSettings.of(engine.settings))
        let same = try Self.engine(policies: out)
        #expect(same.thresholdWarnings.isEmpty)
        #expect(zip(same.policySet.policies, same.thresholds).first { $0.0.name == "Sexual" }?.1 == 0.25)
        var other = ScanSettings()
        other.sampling = SamplingOptions(strategy: .keyframes)
        let differing = try Self.engine(policies: out, settings: other)
        #expect(differing.thresholds.allSatisfy { $0 == nil })
        #expect(differing.thresholdWarnings.count == 1 && differing.thresholdWarnings[0].contains("sampling"))
        let report = try differing.scan(MediaSource(path: dataset.items[0].file))
        #expect(report.policies.allSatisfy { !$0.calibrated && $0.verdict == nil })
        var rescored = ScanSettings()
        rescored.scoring.lambda = 0.7
        #expect(try Self.engine(policies: out, settings: rescored).thresholdWarnings.first?.contains("lambda") == true)
    }
}

extension Runtime {
    /// A runtime of zeros, to compare reports without their timings.
    static var zero: Runtime {
        Runtime(seconds: 0, items: 0, computed: 0, reused: 0)
    }
}
