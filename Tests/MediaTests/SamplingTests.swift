import Media
import TestSupport
import Testing

@Suite struct SamplingTests {
    static let goldens = try! MediaGoldens.load()

    func sample(_ path: String, _ options: SamplingOptions) throws -> [SampledFrame] {
        try VideoSampler(path: Fixtures.path(path), options: options).collect()
    }

    @Test func everySecondTakesFirstFrameAtOrAfterEachMultiple() throws {
        let frames = try sample("video/h264_bframes.mp4", SamplingOptions(strategy: .every(seconds: 0.3)))
        // Frames are 0.04 s apart: the first at or after 0.3 k.
        #expect(frames.map(\.timestamp) == [0, 0.32, 0.6, 0.92, 1.2, 1.52, 1.8])
        #expect(frames.map(\.interval.lowerBound) == frames.map(\.timestamp))
        #expect(frames.last?.interval.upperBound == 2.0)
    }

    /// Jumping to the keyframe before a target gives the very frames sequential decoding gives.
    @Test func seekingGivesTheSameFramesAsDecodingEverything() throws {
        let sampler = try VideoSampler(
            path: Fixtures.path("video/h264_bframes.mp4"), options: SamplingOptions(strategy: .every(seconds: 1)))
        let sampled = try sampler.collect()
        // Keyframes every 0.48 s: reaching 1.0 s starts from the keyframe at 0.96 s instead of
        // decoding the 25 frames before it.
        #expect(sampler.decodedFrames < 15, "decoded \(sampler.decodedFrames) frames")
        let everything = try allFrames("h264_bframes.mp4")
        #expect(sampled.map(\.timestamp) == [0, 1])
        for frame in sampled {
            let reference = try #require(everything.first { $0.timestamp == frame.timestamp })
            #expect(frame.image == reference.image, "frame at \(frame.timestamp)")
        }
    }

    @Test func variableFrameRateGaps() throws {
        let frames = try sample("video/vfr.mkv", SamplingOptions(strategy: .every(seconds: 0.1)))
        // Frames at 0.04 s steps up to 0.4, then 0.2 s apart: a grid point falling in a gap takes
        // the next frame, and the points that frame covers are skipped.
        #expect(frames.map(\.timestamp) == [0, 0.12, 0.2, 0.32, 0.4, 0.6, 0.8, 1.0])
    }

    @Test func streamsNotStartingAtZero() throws {
        let frames = try sample("video/offset5.mkv", SamplingOptions(strategy: .every(seconds: 0.5)))
        #expect(frames.map(\.timestamp) == [5, 5.52])
        #expect(frames.last?.interval == 5.52...6.0)
    }

    @Test(arguments: ["h264_bframes.mp4", "vp9.webm", "shots.mp4"])
    func keyframesMatchFFprobe(name: String) throws {
        let expected = try #require(Self.goldens.video[name]?.frames).filter { $0.key == 1 }.map(\.t)
        let frames = try sample("video/\(name)", SamplingOptions(strategy: .keyframes, maxFrames: nil))
        #expect(frames.map(\.timestamp) == expected)
        #expect(frames.allSatisfy { $0.isKeyframe })
    }

    @Test func maxFramesThinsEvenly() throws {
        let frames = try sample(
            "video/h264_bframes.mp4", SamplingOptions(strategy: .every(seconds: 0.04), maxFrames: 5))
        // 50 candidates, keep floor((i + 0.5) · 50 / 5) = 5, 15, 25, 35, 45.
        #expect(frames.map(\.timestamp) == [0.2, 0.6, 1.0, 1.4, 1.8])
        #expect(frames.map(\.index) == [0, 1, 2, 3, 4])
    }

    @Test func maxDurationStopsEarly() throws {
        let frames = try sample(
            "video/h264_bframes.mp4", SamplingOptions(strategy: .every(seconds: 0.5), maxDuration: 1.1))
        #expect(frames.map(\.timestamp) == [0, 0.52, 1.0])
        #expect(frames.last?.interval.upperBound == 1.1)
    }

    @Test func shotsOneFramePerShot() throws {
        let frames = try sample("video/shots.mp4", SamplingOptions(strategy: .shots(ShotDetection())))
        #expect(frames.map(\.interval) == [0...1, 1...2, 2...3])
        #expect(frames.allSatisfy { $0.interval.contains($0.timestamp) })
    }

    @Test func longShotsAreSplit() throws {
        let frames = try sample(
            "video/shots.mp4", SamplingOptions(strategy: .shots(ShotDetection(maxShotSeconds: 0.5))))
        #expect(frames.count == 6)
        #expect(frames.map(\.interval.lowerBound) == [0, 0.5, 1, 1.5, 2, 2.5])
    }

    @Test func animatedImagesAreShortVideos() throws {
        for name in ["animated.gif", "animated.png", "animated.webp"] {
            let frames = try sample("images/\(name)", SamplingOptions(strategy: .every(seconds: 0.1)))
            #expect(frames.map(\.timestamp) == [0, 0.2, 0.5], "\(name)")
            #expect(frames.last?.interval.upperBound == 1.0, "\(name)")
        }
    }
}
