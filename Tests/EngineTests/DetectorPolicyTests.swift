import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Policy
import TestSupport
import Testing

/// Policies with detector rules: flagged by NudeNet's detections (here the tiny random test export,
/// whose scores are near 0.56), decided without calibration, with the detections as evidence; left
/// to their CLIP rules, with a warning, when no detector model is there.
@Suite struct DetectorPolicyTests {
    static let model = Fixtures.path("models/clip-b16-tiny")
    static let policies = Fixtures.path("policies/detect-policies.json")
    static let image = Fixtures.path("images/rgb8.png")

    static func engine(detector: String?, policies: String = policies) throws -> GuardrailEngine {
        var settings = ScanSettings()
        settings.detectorModel = detector
        return try GuardrailEngine(model: model, policies: policies, settings: settings, cache: nil)
    }

    @Test func detectionsDecideThePolicy() throws {
        let engine = try Self.engine(detector: Fixtures.path("detector/tiny-yolo.onnx"))
        #expect(engine.thresholdWarnings.isEmpty && engine.detectorWarning == nil && engine.detector != nil)
        let report = try engine.scan(MediaSource(path: Self.image))
        let sexual = try #require(report.policies.first { $0.id == "sexual" })
        #expect(sexual.verdict == true && sexual.calibrated && sexual.flaggedFrames == 1)
        let detections = try #require(sexual.detections)
        #expect(!detections.isEmpty && detections.count <= 3)
        #expect(detections.allSatisfy { $0.score >= 0.3 && $0.model == "nudenet" && $0.box.count == 4 })
        #expect(detections.map(\.score) == detections.map(\.score).sorted(by: >))
        #expect(sexual.explanation?.contains("nudenet detected \(detections[0].label)") == true)
        // The CLIP-only policy is untouched: uncalibrated, and no detections key in its JSON.
        let violence = try #require(report.policies.first { $0.id == "violence" })
        #expect(violence.verdict == nil && violence.detections == nil)
        let json = try JSONText.compact(violence)
        #expect(!json.contains("detections"))
        #expect(report.unsafe == true)
    }

    /// `detect` and `scan --explain all` see the same pixels of a 1080p video (both pre-scale its
    /// frames for the detector) and report the same detections: the scan's evidence is the best
    /// of `detect`'s per-frame detections at the policy's `min_score`, frame, label, score and box.
    @Test func detectAndScanReportTheSameDetections() throws {
        let (video, detector) = (Fixtures.path("hd/hd1080.mp4"), Fixtures.path("detector/tiny-yolo.onnx"))
        let detect = try CLITests.run(["detect", "--json", "--every", "0.5s", "--detector-model", detector, video])
        let scan = try CLITests.run([
            "scan", "--model", Self.model, "--policy", Self.policies, "--detector-model", detector, "--explain", "all",
            "--every", "0.5s", video,
        ])
        #expect(detect.status == 0 && scan.status == 0, "\(detect.stderr) \(scan.stderr)")
        struct Found: Equatable {
            var frame: Int, label: String, score: Double, box: [Int]
        }
        let frames = try #require(detect.objects.first?["frames"] as? [[String: Any]])
        #expect(frames.count > 1)
        var expected: [Found] = []
        for frame in frames {
            for d in frame["detections"] as? [[String: Any]] ?? [] where (d["score"] as? Double ?? 0) >= 0.3 {
                let found = Found(
                    frame: frame["index"] as? Int ?? -1, label: d["label"] as? String ?? "",
                    score: d["score"] as? Double ?? 0, box: d["box"] as? [Int] ?? [])
                // As the scan ranks them: by score, earlier frames first among equal ones.
                expected.insert(found, at: expected.firstIndex { found.score > $0.score } ?? expected.count)
            }
        }
        let policies = try #require(scan.objects.first?["policies"] as? [[String: Any]])
        let sexual = try #require(policies.first { $0["id"] as? String == "sexual" })
        let reported = (sexual["detections"] as? [[String: Any]] ?? []).map {
            Found(
                frame: $0["frame_index"] as? Int ?? -1, label: $0["label"] as? String ?? "",
                score: $0["score"] as? Double ?? 0, box: $0["box"] as? [Int] ?? [])
        }
        #expect(!reported.isEmpty)
        #expect(reported == Array(expected.prefix(reported.count)))
    }

    /// Detections below `min_score` give a verdict of false, never null.
    @Test func aHighMinimumScoreGivesFalse() throws {
        let strict = NSTemporaryDirectory() + "guardrail-detect-strict-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: strict) }
        let text = try String(contentsOfFile: Self.policies, encoding: .utf8).replacingOccurrences(
            of: "\"min_score\": 0.3", with: "\"min_score\": 0.99")
        try text.write(toFile: strict, atomically: true, encoding: .utf8)
        let report = try Self.engine(detector: Fixtures.path("detector/tiny-yolo.onnx"), policies: strict).scan(
            MediaSource(path: Self.image))
        let sexual = try #require(report.policies.first { $0.id == "sexual" })
        #expect(sexual.verdict == false && sexual.calibrated && sexual.detections == [])
    }

    /// Without the model the detector rules are not applied, and the engine says so.
    @Test func withoutTheModelTheRulesAreLeftOut() throws {
        for detector in [nil, "/nonexistent/320n.onnx"] {
            let engine = try Self.engine(detector: detector)
            #expect(engine.detector == nil)
            #expect(engine.thresholdWarnings.isEmpty)
            #expect(engine.detectorWarning?.contains("detector rules of sexual are not applied") == true)
            let sexual = try #require(
                try engine.scan(MediaSource(path: Self.image)).policies.first { $0.id == "sexual" })
            #expect(sexual.verdict == nil && sexual.detections == nil)
        }
    }

    /// A label NudeNet does not have, another model, or a min_score outside [0, 1] is refused at load.
    @Test(arguments: [
        ("\"BUTTOCKS_COVERED\"]", "\"BUTTOCKS_COVERED\", \"TAIL_EXPOSED\"]", "TAIL_EXPOSED is not a NudeNet label"),
        ("\"model\": \"nudenet\"", "\"model\": \"yolo-world\"", "detect.model"),
        ("\"min_score\": 0.3", "\"min_score\": 3", "detect.min_score"),
    ])
    func badDetectorRulesAreRefused(original: String, replacement: String, message: String) throws {
        let path = NSTemporaryDirectory() + "guardrail-detect-bad-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = try String(contentsOfFile: Self.policies, encoding: .utf8)
        #expect(text.contains(original))
        try text.replacingOccurrences(of: original, with: replacement).write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try Self.engine(detector: Fixtures.path("detector/tiny-yolo.onnx"), policies: path)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
