import Foundation
import GuardrailEngine
import TestSupport
import Testing
import Vision

/// `train-heads`, `calibrate`, `scan --heads` and `bench` as a user runs them, on the synthetic
/// labelled set and the tiny model.
@Suite(.serialized) struct BenchCLITests {
    static let manifest = Fixtures.path("bench/set/manifest.csv")
    static let model = Fixtures.path("models/clip-b16-tiny")
    static let image = Fixtures.path("bench/set/sexual_00.png")

    static func temporary(_ name: String) -> String {
        NSTemporaryDirectory() + "guardrail-benchcli-\(UInt32.random(in: 0...UInt32.max))-\(name)"
    }

    @Test func trainCalibrateScanAndBench() throws {
        let heads = Self.temporary("heads.safetensors")
        let calibrated = Self.temporary("calibrated.safetensors")
        let json = Self.temporary("bench.json")
        let html = Self.temporary("bench.html")
        defer { for file in [heads, calibrated, json, html] { try? FileManager.default.removeItem(atPath: file) } }
        let common = ["--dataset", Self.manifest, "--model", Self.model]

        let trained = try CLITests.run(["train-heads"] + common + ["--out", heads])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("wrote 3 heads"))
        let file = try LinearHeads(contentsOf: heads)
        #expect(file.categories == ["Hate", "Sexual", "Violence"] && file.dimension == 24)
        #expect(file.modelSHA256 == (try ModelBundle(Self.model)).sha256 && file.thresholds.allSatisfy { $0 == nil })

        let calibration = try CLITests.run(["calibrate"] + common + ["--heads", heads, "--out", calibrated])
        #expect(calibration.status == 0, "\(calibration.stderr)")
        #expect(calibration.stdout.contains("Sexual: θ") && calibration.stdout.contains("| **micro**"))
        #expect(try LinearHeads(contentsOf: calibrated).thresholds.allSatisfy { $0 != nil })

        let scanned = try CLITests.run(["scan", Self.image, "--model", Self.model, "--heads", calibrated])
        #expect(scanned.status == 0, "\(scanned.stderr)")
        let policies = try #require(scanned.objects.first?["policies"] as? [[String: Any]])
        #expect(policies.map { $0["id"] as? String } == ["Hate", "Sexual", "Violence"])
        #expect(policies.allSatisfy { $0["calibrated"] as? Bool == true && $0["verdict"] is Bool })
        let other = try CLITests.run([
            "scan", Self.image, "--model", Self.model, "--heads", calibrated, "--every", "2s",
        ])
        #expect(other.stderr.contains("calibrated with other settings"))
        let otherPolicies = try #require(other.objects.first?["policies"] as? [[String: Any]])
        #expect(otherPolicies.allSatisfy { $0["calibrated"] as? Bool == false })
        let wrongModel = try CLITests.run([
            "scan", Self.image, "--model", Fixtures.path("models/clip-b32-tiny"), "--heads", heads,
        ])
        #expect(wrongModel.status == 2 && wrongModel.stderr.contains("trained on model"))

        let bench = try CLITests.run(
            ["bench"] + common + [
                "--classifier", "zero-shot", "--classifier", "heads:" + calibrated, "--robustness", "jpeg:30",
                "--robust-items", "5", "--out-json", json, "--out-html", html,
            ])
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(bench.stdout.contains("## zero-shot") && bench.stdout.contains("| jpeg:30"))
        #expect(bench.stderr.contains("row 49") && bench.stderr.contains("row 50"))
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let classifiers = try #require(report["classifiers"] as? [[String: Any]])
        #expect(classifiers.count == 2)
        let robustness = try #require(classifiers[1]["robustness"] as? [[String: Any]])
        #expect(robustness.first?["items"] as? Int == 5)
        #expect((report["dataset"] as? [String: Any])?["unreadable"] as? [Any] != nil)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("heads:") && !page.contains("<script"))
    }

    /// `scan`'s own JSONL as a prediction file gives exactly the zero-shot classifier's figures.
    @Test func scanOutputAsPredictions() throws {
        let policies = Self.temporary("calibrated.json")
        let predictions = Self.temporary("scan.jsonl")
        let json = Self.temporary("bench.json")
        defer { for file in [policies, predictions, json] { try? FileManager.default.removeItem(atPath: file) } }
        let common = ["--dataset", Self.manifest, "--model", Self.model]
        #expect(try CLITests.run(["calibrate"] + common + ["--out", policies]).status == 0)
        let scan = try CLITests.run(["scan", Fixtures.path("bench/set"), "--model", Self.model, "--policy", policies])
        try scan.stdout.write(toFile: predictions, atomically: true, encoding: .utf8)
        let bench = try CLITests.run(
            ["bench"] + common + [
                "--policy", policies, "--classifier", "zero-shot", "--predictions", "scan=" + predictions,
                "--out-json", json,
            ])
        #expect(bench.status == 0, "\(bench.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let classifiers = try #require(report["classifiers"] as? [[String: Any]])
        func figures(_ c: [String: Any]) throws -> Data {
            var effectiveness = try #require(c["effectiveness"] as? [String: Any])
            effectiveness["classifier"] = nil
            effectiveness["covers"] = nil
            effectiveness["not_covered"] = nil
            return try JSONSerialization.data(withJSONObject: effectiveness, options: .sortedKeys)
        }
        #expect(try figures(classifiers[0]) == figures(classifiers[1]))
    }

    /// Malformed arguments exit 64; a bad manifest row exits 2 naming it.
    @Test func badInputs() throws {
        let robustness = try CLITests.run([
            "bench", "--dataset", Self.manifest, "--model", Self.model, "--robustness", "jpeg:0",
        ])
        #expect(robustness.status == 64 && robustness.stderr.contains("JPEG quality"))
        let manifest = Self.temporary("bad.csv")
        defer { try? FileManager.default.removeItem(atPath: manifest) }
        try "path,category,label\na.png,Sexual,safe\nb.png,Sexual,perhaps\n".write(
            toFile: manifest, atomically: true, encoding: .utf8)
        let bad = try CLITests.run(["bench", "--dataset", manifest, "--model", Self.model])
        #expect(bad.status == 2 && bad.stderr.contains("row 2, field label"))
        // A prediction file's rows that name no item are counted in a warning.
        let predictions = Self.temporary("predictions.csv")
        defer { try? FileManager.default.removeItem(atPath: predictions) }
        try "path,category,score\nsexual_00.png,Sexual,0.9\nnot-in-the-set.png,Sexual,0.2\n".write(
            toFile: predictions, atomically: true, encoding: .utf8)
        let external = try CLITests.run([
            "bench", "--dataset", Self.manifest, "--model", Self.model, "--predictions", "x=" + predictions,
        ])
        #expect(external.status == 0 && external.stderr.contains("1 rows name no item of the data set"))
        #expect(external.stdout.contains("## x") && external.stdout.contains("items without an output: 16"))
        // Calibration fits on the train split only: a manifest without one is refused.
        try "path,category,label\n\(Self.image),Sexual,safe\n".write(
            toFile: manifest, atomically: true, encoding: .utf8)
        let noTrain = try CLITests.run([
            "calibrate", "--dataset", manifest, "--model", Self.model, "--out", Self.temporary("x.json"),
        ])
        #expect(noTrain.status == 2 && noTrain.stderr.contains("no item has split train"))
    }
}

/// `guardrail detect` as a user runs it, on the tiny YOLOv8-shaped export (random weights: the
/// detections mean nothing, their shape does).
@Suite struct DetectCLITests {
    @Test func detectionsPerFrame() throws {
        let model = Fixtures.path("detector/tiny-yolo.onnx")
        let run = try CLITests.run([
            "detect", Fixtures.path("images/rgb8.png"), Fixtures.path("video/shots.mp4"), "--detector-model", model,
            "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let reports = run.objects
        #expect(reports.count == 2)
        let frames = try #require(reports.last?["frames"] as? [[String: Any]])
        #expect(frames.count == 3 && frames.allSatisfy { $0["timestamp_s"] is Double && $0["candidates"] is Int })
        for frame in frames {
            let detections = try #require(frame["detections"] as? [[String: Any]])
            #expect(detections.count <= frame["candidates"] as? Int ?? 0)
            for detection in detections {
                #expect((detection["box"] as? [Int])?.count == 4 && detection["label"] is String)
            }
        }
        let missing = try CLITests.run([
            "detect", Fixtures.path("images/rgb8.png"), "--detector-model", "/nonexistent.onnx",
        ])
        #expect(missing.status == 2 && missing.stderr.contains("no detector model"))
        let damaged = try CLITests.run([
            "detect", Fixtures.path("images/rgb8.png"), "--detector-model", Fixtures.path("images/rgb8.png"),
        ])
        #expect(damaged.status == 2)
    }
}
