import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Policy
import TestSupport
import Testing
import Vision

@Suite struct EngineTests {
    static let model = Fixtures.path("models/clip-b16-tiny")

    func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "guardrail-engine-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Reordering rules and policies in the file changes no bit of any policy's embeddings.
    @Test func permutationChangesNoBit() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("policies/test-policies.json")))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var policies = Array(json["policies"] as! [[String: Any]]).reversed().map { policy -> [String: Any] in
            var p = policy
            p["blocked"] = Array((policy["blocked"] as! [Any]).reversed())
            return p
        }
        policies.swapAt(0, 1)
        json["policies"] = policies
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/shuffled.json"))
        let original = try GuardrailEngine(
            model: Self.model, policies: Fixtures.path("policies/test-policies.json"), settings: ScanSettings(),
            cache: nil)
        let shuffled = try GuardrailEngine(
            model: Self.model, policies: folder + "/shuffled.json", settings: ScanSettings(), cache: nil)
        for (p, policy) in original.policySet.policies.enumerated() {
            let q = try #require(shuffled.policySet.policies.firstIndex { $0.id == policy.id })
            #expect(original.encoded.prototypes[p] == shuffled.encoded.prototypes[q], "\(policy.id)")
            #expect(original.encoded.allowedPrototypes[p] == shuffled.encoded.allowedPrototypes[q])
        }
    }

    @Test func policyEmbeddingsAreCachedPerModelAndFile() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cache = ArtifactCache(folder: folder + "/cache")
        let policies = Fixtures.path("policies/test-policies.json")
        let first = try GuardrailEngine(model: Self.model, policies: policies, settings: ScanSettings(), cache: cache)
        let second = try GuardrailEngine(model: Self.model, policies: policies, settings: ScanSettings(), cache: cache)
        #expect(!first.policiesFromCache && second.policiesFromCache)
        #expect(first.encoded == second.encoded)
        #expect(first.modelSHA256 == second.modelSHA256 && first.modelSHA256.count == 64)
        // Another policy file, or another model, is encoded afresh.
        var text = try String(contentsOfFile: policies, encoding: .utf8)
        text = text.replacingOccurrences(of: "a rocket launch", with: "a rocket on the launch pad")
        try text.write(toFile: folder + "/edited.json", atomically: true, encoding: .utf8)
        let edited = try GuardrailEngine(
            model: Self.model, policies: folder + "/edited.json", settings: ScanSettings(), cache: cache)
        #expect(!edited.policiesFromCache)
        let otherModel = try GuardrailEngine(
            model: Fixtures.path("models/clip-b32-tiny"), policies: policies, settings: ScanSettings(), cache: cache)
        #expect(!otherModel.policiesFromCache)
        // No partial files are left behind.
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: folder + "/cache").filter {
            $0.contains("partial")
        }
        #expect(leftovers.isEmpty)
    }

    func videoScan(earlyExit: Bool, thresholds: [String: Float]) throws -> ScanReport {
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: .every(seconds: 0.2))
        settings.batch = 2
        settings.earlyExit = earlyExit
        settings.thresholdOverrides = thresholds
        let engine = try GuardrailEngine(
            model: Self.model, policies: Fixtures.path("policies/test-policies.json"), settings: settings, cache: nil)
        return try engine.scan(path: Fixtures.path("video/shots.mp4")).get()
    }

    /// Early exit stops decoding but never changes a verdict.
    @Test func earlyExitKeepsVerdicts() throws {
        let low: [String: Float] = ["A": -1, "B": -1, "C": -1]
        let full = try videoScan(earlyExit: false, thresholds: low)
        let early = try videoScan(earlyExit: true, thresholds: low)
        #expect(early.media.earlyExit && !full.media.earlyExit)
        #expect(early.media.framesSampled.count < full.media.framesSampled.count)
        #expect(early.policies.map(\.verdict) == full.policies.map(\.verdict))
        #expect(full.policies.allSatisfy { $0.verdict == true || $0.score == nil })
    }

    /// Two scans of the same input give byte-identical JSON (spec §6.9).
    @Test func scansAreDeterministic() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let a = try encoder.encode(try videoScan(earlyExit: false, thresholds: ["B": 0.18]))
        let b = try encoder.encode(try videoScan(earlyExit: false, thresholds: ["B": 0.18]))
        #expect(a == b)
        let report = try JSONSerialization.jsonObject(with: a) as! [String: Any]
        for key in [
            "engine", "video", "guardrail", "policies", "pruning", "unsafe", "flagged", "categories", "category_scores",
        ] {
            #expect(report[key] != nil, "missing \(key)")
        }
        let segments = (report["policies"] as! [[String: Any]]).flatMap { $0["segments"] as! [[Double]] }
        #expect(segments.allSatisfy { $0.count == 2 && $0[0] <= $0[1] })
    }

    /// Evidence boxes are in the displayed frame: a 90°-rotated 64×48 clip shows as 48×64.
    @Test func boxesFollowTheDisplayedFrame() throws {
        var settings = ScanSettings()
        settings.explainAll = true
        let engine = try GuardrailEngine(
            model: Self.model, policies: Fixtures.path("policies/test-policies.json"), settings: settings, cache: nil)
        let report = try engine.scan(path: Fixtures.path("video/rotate90.mp4")).get()
        let boxes = report.policies.flatMap(\.evidence).flatMap(\.regions).map(\.box)
        #expect(!boxes.isEmpty)
        #expect(
            boxes.allSatisfy {
                $0[0] >= 0 && $0[1] >= 0 && $0[2] <= 48 && $0[3] <= 64 && $0[0] < $0[2] && $0[1] < $0[3]
            })
        #expect(boxes.contains { $0[3] > 48 })
    }

    /// Boxes are in the displayed frame's pixels at every size: 1080p and 4K videos (whose frames
    /// are scaled while decoding), rotated and not, and stills of the same sizes (kept whole).
    @Test(arguments: [
        ("hd/hd1080.mp4", 1920, 1080), ("hd/hd1080_rotate90.mp4", 1080, 1920), ("hd/uhd.mp4", 3840, 2160),
        ("hd/uhd_rotate270.mp4", 2160, 3840), ("still:1920x1080", 1920, 1080), ("still:2160x3840", 2160, 3840),
    ])
    func boxesAreInDisplayedPixelsAtEverySize(file: String, width: Int, height: Int) throws {
        var path = Fixtures.path(file)
        if file.hasPrefix("still:") {
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            var rng = SeededGenerator(seed: 7)
            path = folder + "/still.png"
            try RGBImage(
                width: width, height: height,
                pixels: (0..<width * height * 3).map { _ in UInt8.random(in: 0...255, using: &rng) }
            ).writePNG(to: path)
            try checkBoxes(path: path, width: width, height: height)
        } else {
            try checkBoxes(path: path, width: width, height: height)
        }
    }

    func checkBoxes(path: String, width: Int, height: Int) throws {
        var settings = ScanSettings()
        settings.explainAll = true
        settings.scoring.evidenceRegions = 20
        let engine = try GuardrailEngine(
            model: Self.model, policies: Fixtures.path("policies/test-policies.json"), settings: settings, cache: nil)
        let report = try engine.scan(path: path).get()
        let boxes = report.policies.flatMap(\.evidence).flatMap(\.regions).map(\.box)
        try #require(!boxes.isEmpty)
        #expect(boxes.allSatisfy { $0[0] >= 0 && $0[1] >= 0 && $0[2] <= Double(width) && $0[3] <= Double(height) })
        // The model's view of the displayed frame: the short side resized to 64, the long side to
        // `resized` (rounded down, as transformers does), the middle 64 cropped; a patch is 16 of
        // those pixels. Video frames are first scaled to a short side of 128 while decoding.
        // Boxes must be that crop's patches in the displayed frame's pixels.
        let (short, long) = (Double(min(width, height)), Double(max(width, height)))
        let decodedLong = path.hasSuffix(".mp4") ? (long * 128 / short).rounded() : long
        let resized = Int(64 * decodedLong / (path.hasSuffix(".mp4") ? 128 : short))
        let left = Double((resized - 64) / 2)
        let band = (left * long / Double(resized) - 0.5)...((left + 64) * long / Double(resized) + 0.5)
        for box in boxes {
            let (low, high) = width >= height ? (box[0], box[2]) : (box[1], box[3])
            let across = width >= height ? box[3] - box[1] : box[2] - box[0]
            #expect(band.contains(low) && band.contains(high), "\(path): box \(box) outside the crop \(band)")
            #expect(abs(high - low - 16 * long / Double(resized)) < 0.5 && abs(across - short / 4) < 0.5, "\(box)")
        }
    }

    @Test func safetyCheckerClassifier() throws {
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: .every(seconds: 1))
        let scanner = try SafetyCheckerScanner(
            model: Fixtures.path("models/safety-checker-tiny"), settings: settings, cache: nil)
        let images = [
            "preprocess-landscape.jpg", "preprocess-portrait.jpg", "preprocess-square.jpg", "rgb8.png", "exif6.jpg",
            "baseline420.jpg",
        ]
        let golden = try SafeTensors.read(path: Fixtures.path("goldens/vision/safety-checker-tiny.safetensors"))
        let expected = try #require(golden["has_nsfw_concept"]).scalars.map { $0 != 0 }
        for (name, flagged) in zip(images, expected) {
            let report = try scanner.scan(path: Fixtures.path("images/\(name)")).get()
            #expect(report.policies.map(\.name) == ["Sexual"] && report.engine.classifier == "sd-safety-checker")
            #expect(report.policies[0].verdict == flagged, "\(name)")
        }
    }

    @Test func unreadableFilesFailWithMediaErrors() throws {
        let engine = try GuardrailEngine(
            model: Self.model, policies: Fixtures.path("policies/test-policies.json"), settings: ScanSettings(),
            cache: nil)
        for file in ["corrupt/truncated.mp4", "video/audio_only.m4a"] {
            guard case .failure(let error) = engine.scan(path: Fixtures.path(file)) else {
                Issue.record("\(file) scanned")
                continue
            }
            #expect(error.kind == .media && error.media != nil && error.file == Fixtures.path(file))
        }
    }
}
