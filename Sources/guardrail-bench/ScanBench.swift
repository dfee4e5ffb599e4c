import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import RepositoryFiles
import Vision

struct ScanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "End-to-end scan of a 60 s 1080p H.264 clip with a random ViT-B/32 and the 11-policy pack.",
        discussion:
            "Needs the ffmpeg command for the clip. Prints wall time, frames/s, speed against real time, peak memory, and the split decode / encode / scoring."
    )

    @Option(help: "Clip length in seconds.")
    var seconds = 60

    @Option(help: "Keep the random checkpoint in this folder (reused when it exists).")
    var checkpoint: String?

    @Option(help: "Use this clip instead of generating one.")
    var clip: String?

    @Option(help: "Run NudeNet's detector for the Sexual policy's detector rule too (its 320n.onnx).")
    var detectorModel: String?

    func run() throws {
        let folder = NSTemporaryDirectory() + "guardrail-scan-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try benchmarkModel(checkpoint: checkpoint, folder: folder)
        let repository = URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().path
        let video = clip ?? folder + "/clip.mp4"
        if clip == nil { try generateClip(video, seconds: seconds) }
        let policies = repository + "/policies/unsafebench.json"
        let cache = ArtifactCache(folder: folder + "/cache")
        var setup = ScanSettings()
        setup.detectorModel = detectorModel
        let start = Date()
        _ = try GuardrailEngine(model: model, policies: policies, settings: setup, cache: cache)
        let cold = Date().timeIntervalSince(start)
        let warmStart = Date()
        _ = try GuardrailEngine(model: model, policies: policies, settings: setup, cache: cache)
        print(
            String(
                format: "engine start: %.2f s cold (model hash + 11 policies encoded), %.2f s with the cache", cold,
                Date().timeIntervalSince(warmStart)))
        let duration = try MediaProbe.probe(path: video).durationSeconds ?? Double(seconds)
        for (label, strategy) in [("every 1s", SamplingStrategy.every(seconds: 1)), ("keyframes", .keyframes)] {
            setup.sampling = SamplingOptions(strategy: strategy, maxFrames: nil)
            let engine = try GuardrailEngine(model: model, policies: policies, settings: setup, cache: cache)
            var timings = ScanTimings()
            let t0 = Date()
            let report = try engine.scan(MediaSource(path: video), progress: { _ in }, timings: { timings = $0 })
            let wall = Date().timeIntervalSince(t0)
            let frames = report.media.framesSampled.count
            print(
                String(
                    format:
                        "%-10@ %3d frames  %6.2f s  %5.1f frames/s  %5.1fx real time   decode %.2f s  encode %.2f s  scoring %.3f s (%.1f%% of encode)",
                    label as NSString, frames, wall, Double(frames) / wall, duration / wall, timings.decode,
                    timings.encode, timings.score, 100 * timings.score / max(timings.encode, 1e-9)))
        }
        print(String(format: "peak memory %.0f MB", peakMemoryMB()))
    }
}
