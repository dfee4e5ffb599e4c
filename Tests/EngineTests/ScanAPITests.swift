import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Policy
import TestSupport
import Testing
import Vision

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ label: String) throws -> String {
    let folder = NSTemporaryDirectory() + "guardrail-\(label)-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
}

@Suite struct ScanAPITests {
    static let model = Fixtures.path("models/clip-b16-tiny")
    static let policies = Fixtures.path("policies/test-policies.json")

    static func engine(_ sampling: SamplingStrategy = .every(seconds: 0.5), threads: Int? = nil) throws
        -> GuardrailEngine
    {
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: sampling)
        settings.compute = ComputeConfiguration(threads: threads)
        settings.thresholdOverrides = ["A": 0.05, "B": 0.05, "C": 0.05]
        return try GuardrailEngine(model: model, policies: policies, settings: settings, cache: nil)
    }

    /// A scan opens a file with FFmpeg once, whatever the sampling mode and format; PNG, JPEG and
    /// WebP never reach FFmpeg. Each file is scanned from a copy with a unique path, so other tests
    /// running at the same time cannot add to its count.
    @Test(arguments: [
        "video/h264_bframes.mp4", "video/vp9.webm", "video/shots.mp4", "video/annexb.h264", "video/offset5.mkv",
        "images/animated.gif", "images/animated.png", "images/still.avif", "images/lzw.tiff", "images/rgb8.png",
        "images/exif6.jpg", "images/animated.webp", "viewer/two_streams.mkv", "viewer/cover.m4a",
    ])
    func oneOpenPerScan(file: String) throws {
        let folder = try temporaryFolder("opens")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let viaFFmpeg =
            !["png", "jpg", "webp"].contains((file as NSString).pathExtension) || file.hasSuffix("animated.png")
        for (label, strategy) in [
            ("every", SamplingStrategy.every(seconds: 0.25)), ("keyframes", .keyframes),
            ("shots", .shots(ShotDetection())),
        ] {
            let copy = folder + "/\(label)-" + (file as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: Fixtures.path(file), toPath: copy)
            let engine = try Self.engine(strategy)
            let opens = try MediaSource.countingFFmpegOpens(of: copy) {
                let report = try engine.scan(path: copy).get()
                #expect(!report.media.framesSampled.isEmpty)
            }
            #expect(opens == (viaFFmpeg ? 1 : 0), "\(file) \(label)")
        }
    }

    /// Sampling from one opened source gives what sampling the path gives, pass after pass.
    @Test func samplingAnOpenedSourceMatchesThePath() throws {
        for strategy in [SamplingStrategy.keyframes, .shots(ShotDetection()), .every(seconds: 0.3)] {
            let options = SamplingOptions(strategy: strategy)
            let path = Fixtures.path("video/shots.mp4")
            let fromPath = try VideoSampler(path: path, options: options).collect()
            let fromSource = try VideoSampler(source: MediaSource(path: path), options: options).collect()
            #expect(fromPath.map(\.timestamp) == fromSource.map(\.timestamp))
            #expect(fromPath.map(\.image) == fromSource.map(\.image))
        }
    }

    /// Results come back in input order with four jobs, equal to a one-job run; errors keep their
    /// place and their kind.
    @Test func jobsKeepInputOrder() throws {
        let files = [
            "video/shots.mp4", "images/rgb8.png", "corrupt/truncated.mp4", "video/vp9.webm", "images/exif6.jpg",
            "video/audio_only.m4a", "images/animated.gif", "video/rotate90.mp4",
        ].map(Fixtures.path)
        func run(jobs: Int) throws -> [ScanOutcome] {
            // One thread per scan in both runs: OpenBLAS's sums (CPUs without AVX-512) depend on it.
            let engine = try Self.engine(threads: 1)
            let collected = Collected()
            try engine.scan(paths: files, jobs: jobs) { collected.append($0) }
            return collected.outcomes
        }
        let serial = try run(jobs: 1)
        let parallel = try run(jobs: 4)
        #expect(parallel.map(\.index) == Array(files.indices))
        #expect(parallel.map(\.path) == files)
        for (a, b) in zip(serial, parallel) {
            switch (a.result, b.result) {
            case (.success(let x), .success(let y)):
                #expect(try JSONText.compact(x) == JSONText.compact(y), "\(a.path)")
            case (.failure(let x), .failure(let y)):
                #expect(x.kind == .media && y.kind == .media && x.media == y.media, "\(a.path)")
            default:
                Issue.record("\(a.path): one run failed, the other did not")
            }
        }
    }

    /// Folders are walked in name order, hidden entries skipped; empty folders give nothing.
    @Test func foldersExpand() throws {
        let folder = try temporaryFolder("expand")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fm = FileManager.default
        for path in ["b/2.png", "b/1.png", "a.mp4", ".hidden.png", ".git/x.png", "empty/"] {
            if path.hasSuffix("/") {
                try fm.createDirectory(atPath: folder + "/" + path, withIntermediateDirectories: true)
            } else {
                try fm.createDirectory(
                    atPath: folder + "/" + (path as NSString).deletingLastPathComponent,
                    withIntermediateDirectories: true)
                fm.createFile(atPath: folder + "/" + path, contents: Data([1]))
            }
        }
        #expect(
            try MediaFiles.expand([folder, "/no/such/file"])
                == [folder + "/a.mp4", folder + "/b/1.png", folder + "/b/2.png", "/no/such/file"])
        #expect(try MediaFiles.expand([folder + "/empty"]).isEmpty)
        let collected = Collected()
        try Self.engine().scan(paths: [folder + "/empty"]) { collected.append($0) }
        #expect(collected.outcomes.isEmpty)
    }

    /// Damaged files are scanned and the report says what the decoder read past.
    @Test func reportsCarryDecoderWarnings() throws {
        let engine = try Self.engine()
        let truncated = try engine.scan(path: Fixtures.path("damaged/truncated_scan.jpg")).get()
        #expect(truncated.media.warnings == ["truncated"])
        let damaged = try engine.scan(path: Fixtures.path("damaged/extraneous_bytes.jpg")).get()
        #expect(damaged.media.warnings.count == 1 && damaged.media.warnings[0].hasPrefix("damaged: Corrupt JPEG data"))
        #expect(try engine.scan(path: Fixtures.path("images/rgb8.png")).get().media.warnings.isEmpty)
    }

    /// Everything a viewer could see is scanned: cover art and an APNG's default image are frames
    /// of their own in the report, labelled with where they came from.
    @Test func picturesBesidesTheStreamAreScanned() throws {
        let engine = try Self.engine()
        let video = try engine.scan(path: Fixtures.path("viewer/video_cover.mp4")).get()
        #expect(video.media.framesSampled.last?.source == "attached_picture")
        #expect(video.media.framesSampled.dropLast().allSatisfy { $0.source == nil })
        let apng = try engine.scan(path: Fixtures.path("viewer/apng_default.png")).get()
        #expect(apng.media.framesSampled.compactMap(\.source) == ["default_image"])
        let streams = try engine.scan(path: Fixtures.path("viewer/two_streams.mkv")).get()
        #expect(Set(streams.media.framesSampled.map(\.source)) == [nil, "video_stream_1"])
        #expect(streams.media.framesSampled.map(\.index) == Array(streams.media.framesSampled.indices))
        let audio = try engine.scan(path: Fixtures.path("viewer/cover.m4a")).get()
        #expect(audio.media.kind == "image" && audio.media.framesSampled.count == 1)
        // Stream frames keep their JSON shape: no `source` key.
        let plain = try JSONText.compact(try engine.scan(path: Fixtures.path("images/rgb8.png")).get())
        #expect(!plain.contains("\"source\""))
    }

    /// Load errors say which layer failed.
    @Test func loadErrorsAreTyped() throws {
        let folder = try temporaryFolder("load")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func kind(model: String = Self.model, policies: String = Self.policies) -> EngineError.Kind? {
            do {
                _ = try GuardrailEngine(model: model, policies: policies, settings: ScanSettings(), cache: nil)
                return nil
            } catch {
                return error.kind
            }
        }
        #expect(kind(model: folder) == .model)
        #expect(kind(policies: folder + "/none.json") == .policy)
        // Two policies with one name: refused at load, in scan and in the library alike.
        try
            #"{"name": "x", "version": "1", "policies": [{"id": "a", "name": "Same", "blocked": ["r"]}, {"id": "b", "name": "Same", "blocked": ["s"]}]}"#
            .write(toFile: folder + "/names.json", atomically: true, encoding: .utf8)
        #expect(kind(policies: folder + "/names.json") == .policy)
        // A preprocessor that does not fit the tower is a model error at load, not a scan error.
        for file in [
            "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json", "vocab.json", "merges.txt", "tokenizer_config.json",
        ] {
            try FileManager.default.createSymbolicLink(
                atPath: folder + "/" + file, withDestinationPath: Fixtures.path("models/clip-b16-tiny/" + file))
        }
        try #"{"crop_size": 96, "size": 96}"#.write(
            toFile: folder + "/preprocessor_config.json", atomically: true, encoding: .utf8)
        #expect(kind(model: folder) == .model)
    }

    /// Errors keep the layer's own error, and only those that may pass on another attempt are
    /// retryable: a file that is not there (yet), not a damaged one, a model or a policy.
    @Test func errorsCarryTheirCauseAndRetryability() throws {
        let engine = try Self.engine()
        guard case .failure(let vanished) = engine.scan(path: NSTemporaryDirectory() + "guardrail-\(UUID()).mp4"),
            case .failure(let damaged) = engine.scan(path: Fixtures.path("corrupt/truncated.mp4"))
        else {
            Issue.record("a missing or damaged file scanned")
            return
        }
        #expect(vanished.media?.kind == .io && vanished.isRetryable)
        #expect(damaged.media?.kind == .corrupt && !damaged.isRetryable)
        do {
            _ = try GuardrailEngine(
                model: Fixtures.path("images"), policies: Self.policies, settings: ScanSettings(), cache: nil)
            Issue.record("a folder without a model loaded")
        } catch {
            guard case .model(.incompleteModel(let part, _)) = error.cause else {
                Issue.record("\(error)")
                return
            }
            #expect(part == "config" && !error.isRetryable)
        }
        struct Unknown: Error {}
        let unexpected = EngineError(wrapping: Unknown(), file: "x")
        #expect(unexpected.kind == .internal && !unexpected.isRetryable)
        #expect(EngineError(.io, file: "x", message: "gone").isRetryable)
    }

    /// Whether a cache is used changes no byte of a report: the model hash is always computed, so a
    /// threshold calibrated for this model applies either way.
    @Test func cacheNeverChangesAVerdict() throws {
        let folder = try temporaryFolder("nocache")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sha = try ModelBundle(Self.model).sha256
        var text = try String(contentsOfFile: Self.policies, encoding: .utf8)
        text = text.replacingOccurrences(
            of: #""value": 0.08129925916445861"#, with: #""value": 0.08129925916445861, "model_sha256": "\#(sha)""#)
        try text.write(toFile: folder + "/calibrated.json", atomically: true, encoding: .utf8)
        func report(cache: ArtifactCache?) throws -> String {
            let engine = try GuardrailEngine(
                model: Self.model, policies: folder + "/calibrated.json", settings: ScanSettings(), cache: cache)
            return try JSONText.compact(try engine.scan(path: Fixtures.path("images/rgb8.png")).get())
        }
        let cache = ArtifactCache(folder: folder + "/cache")
        let uncached = try report(cache: nil)
        let cold = try report(cache: cache)
        let warm = try report(cache: cache)
        #expect(uncached == cold && cold == warm)
        #expect(uncached.contains(sha) && !uncached.contains("not computed"))
        let parsed = try JSONSerialization.jsonObject(with: Data(uncached.utf8)) as! [String: Any]
        let animals = (parsed["policies"] as! [[String: Any]]).first { $0["id"] as? String == "A" }!
        #expect(animals["verdict"] is Bool && animals["calibrated"] as? Bool == true)
    }
}

/// A model whose outputs overflow to infinity fails every file with a model error, in the
/// library and through the CLI: a score that is not a number never passes a file.
@Suite struct NonFiniteTests {
    @Test func overflowingModelFailsFiles() throws {
        let folder = try temporaryFolder("overflow")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try OverflowingModel.write(to: folder)
        var settings = ScanSettings()
        settings.thresholdOverrides = ["A": 0.5, "B": 0.5, "C": 0.5]
        let engine = try GuardrailEngine(
            model: folder, policies: Fixtures.path("policies/test-policies.json"), settings: settings, cache: nil)
        for file in ["images/rgb8.png", "video/shots.mp4"] {
            guard case .failure(let error) = engine.scan(path: Fixtures.path(file)) else {
                Issue.record("\(file) passed with a non-finite model output")
                continue
            }
            #expect(error.kind == .model && error.message.contains("not finite"), "\(error)")
            #expect(!error.isRetryable)
        }
        let run = try CLITests.run([
            "scan", "--model", folder, "--policy", Fixtures.path("policies/test-policies.json"), "--threshold", "A=0.5",
            Fixtures.path("images/rgb8.png"),
        ])
        #expect(run.status == 2 && run.objects.first?["error"] != nil && !run.stdout.contains("{}"))
    }
}

/// Outcomes gathered from the delivery callback.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ScanOutcome] = []

    func append(_ outcome: ScanOutcome) { lock.withLock { list.append(outcome) } }

    var outcomes: [ScanOutcome] { lock.withLock { list } }
}
