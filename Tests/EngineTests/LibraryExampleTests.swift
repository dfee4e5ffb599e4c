import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Policy
import TestSupport
import Testing
import Vision

/// The "Using the library" example of docs/architecture.md, run on the fixtures.
@Suite struct LibraryExampleTests {
    @Test func readmeExampleRuns() throws {
        let folder = try temporaryFolder("example")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in ["video/shots.mp4", "images/rgb8.png", "corrupt/truncated.mp4"] {
            try FileManager.default.copyItem(
                atPath: Fixtures.path(file), toPath: folder + "/" + (file as NSString).lastPathComponent)
        }
        ComputeProcess.start()
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: .keyframes, maxFrames: 64)
        settings.compute = ComputeConfiguration(threads: 1)
        let cache = ArtifactCache(folder: folder + "/.cache")
        let model = try ModelBundle(Fixtures.path("models/clip-b16-tiny"), hashCache: cache)
        let engine = try GuardrailEngine(
            model: model, policies: try PolicySet.load(PolicyPacks.folder() + "/unsafebench.json"), settings: settings,
            cache: cache)
        let collected = Collected()
        try engine.scan(paths: [folder], jobs: 4) { collected.append($0) }
        let outcomes = collected.outcomes
        #expect(outcomes.map { ($0.path as NSString).lastPathComponent } == ["rgb8.png", "shots.mp4", "truncated.mp4"])
        #expect(outcomes.map { (try? $0.result.get()) != nil } == [true, true, false])
        #expect(outcomes.compactMap { try? $0.result.get() }.allSatisfy { !$0.policies.isEmpty })
        if case .failure(let error) = outcomes[2].result { #expect(error.kind == .media && !error.isRetryable) }
        let source = try MediaSource(path: folder + "/shots.mp4")
        #expect(source.info.kind == .video)
        var frames = 0
        let report = try engine.scan(source, progress: { frames = $0 })
        #expect(report.policies.count == 11 && frames == report.media.framesSampled.count)
        let sampler = try VideoSampler(
            source: try MediaSource(path: folder + "/shots.mp4"),
            options: SamplingOptions(strategy: .every(seconds: 1), outputSize: FrameSize(width: 224, height: 224)))
        while let frame = try sampler.next() { #expect(frame.image.width == 224) }
    }
}
