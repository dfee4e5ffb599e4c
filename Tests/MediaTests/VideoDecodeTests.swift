import Media
import TestSupport
import Testing

/// Every frame of a clip: a grid finer than any frame interval takes each frame once.
func allFrames(_ name: String, outputSize: FrameSize? = nil) throws -> [SampledFrame] {
    let options = SamplingOptions(strategy: .every(seconds: 0.001), maxFrames: nil, outputSize: outputSize)
    return try VideoSampler(path: Fixtures.path("video/\(name)"), options: options).collect()
}

@Suite struct VideoDecodeTests {
    static let goldens = try! MediaGoldens.load()
    static let clips = goldens.video.filter { $0.value.hasVideo }.keys.sorted()

    /// Frame count and every timestamp match ffprobe's, whatever the container and codec.
    @Test(arguments: clips)
    func timestampsMatchFFprobe(name: String) throws {
        let expected = try #require(Self.goldens.video[name]?.frames).map(\.t)
        let frames = try allFrames(name)
        #expect(frames.map(\.timestamp) == expected, "\(name)")
    }

    /// The first frame as the ffmpeg CLI renders it (autorotate, rgb24) with the same swscale
    /// flags. ffmpeg rotates the YUV planes before converting and we rotate the RGB result, which
    /// moves chroma siting by a pixel: rotated clips get a small tolerance, others none beyond 2.
    @Test(arguments: clips.filter { $0 != "sar2.mp4" })
    func firstFrameMatchesFFmpeg(name: String) throws {
        let frame = try #require(try allFrames(name).first)
        let expected = try Fixtures.bytes("goldens/video/\(name).rgb")
        try #require(frame.image.pixels.count == expected.count, "\(name): \(frame.image.width)x\(frame.image.height)")
        let comparison = ByteComparison(frame.image.pixels, expected)
        let rotated = name.hasPrefix("rotate")
        #expect(comparison.maxAbsDiff <= (rotated ? 8 : 2), "\(name): \(comparison)")
        #expect(comparison.meanAbsDiff <= (rotated ? 0.5 : 0.05), "\(name): \(comparison)")
    }

    @Test(arguments: [("rotate90.mp4", 48, 64), ("rotate180.mp4", 64, 48), ("rotate270.mp4", 48, 64)])
    func displayRotationIsApplied(name: String, width: Int, height: Int) throws {
        let info = try MediaProbe.probe(path: Fixtures.path("video/\(name)"))
        #expect(info.displayWidth == width && info.displayHeight == height)
        let frame = try #require(try allFrames(name).first)
        #expect(frame.image.width == width && frame.image.height == height)
    }

    /// A 2:1 sample aspect ratio doubles the displayed width; each pair of columns averages to
    /// the stored column ffmpeg renders.
    @Test func sampleAspectRatioIsApplied() throws {
        let frame = try #require(try allFrames("sar2.mp4").first)
        #expect(frame.image.width == 128 && frame.image.height == 48)
        let stored = try Fixtures.bytes("goldens/video/sar2.mp4.rgb")
        var halved = [UInt8](repeating: 0, count: stored.count)
        for y in 0..<48 {
            for x in 0..<64 {
                for c in 0..<3 {
                    let a = Int(frame.image.pixels[(y * 128 + 2 * x) * 3 + c])
                    let b = Int(frame.image.pixels[(y * 128 + 2 * x + 1) * 3 + c])
                    halved[(y * 64 + x) * 3 + c] = UInt8((a + b + 1) / 2)
                }
            }
        }
        let comparison = ByteComparison(halved, stored)
        #expect(comparison.meanAbsDiff < 6, "\(comparison)")
    }

    /// Solid (200, 50, 100) encoded full range, limited range, and with the BT.709 matrix: each
    /// decodes back to the same colour only if range and matrix are honoured.
    @Test(arguments: ["color_full.mp4", "color_limited.mp4", "color_bt709.mp4"])
    func colourRangeAndMatrixAreHonoured(name: String) throws {
        let frame = try #require(try allFrames(name).first)
        let (r, g, b) = frame.image[32, 24]
        #expect(abs(Int(r) - 200) <= 3 && abs(Int(g) - 50) <= 3 && abs(Int(b) - 100) <= 3, "\(name): \(r),\(g),\(b)")
    }

    @Test func singleFrameFilesYieldTheirFrame() throws {
        #expect(try allFrames("single_frame.mp4").count == 1)
        let png = try VideoSampler(path: Fixtures.path("images/rgb8.png")).collect()
        #expect(png.count == 1)
        #expect(png.first?.image == (try ImageDecoder().decode(path: Fixtures.path("images/rgb8.png"))))
        let jpeg = try VideoSampler(path: Fixtures.path("images/baseline444.jpg")).collect()
        #expect(jpeg.count == 1)
    }

    @Test func outputSizeIsTheDisplayedSize() throws {
        let frames = try allFrames("rotate90.mp4", outputSize: FrameSize(width: 24, height: 32))
        #expect(frames.allSatisfy { $0.image.width == 24 && $0.image.height == 32 })
    }

    @Test func metadata() throws {
        let info = try MediaProbe.probe(path: Fixtures.path("video/h264_bframes.mp4"))
        #expect(info.kind == .video && info.codec == "h264" && info.container.contains("mp4"))
        #expect(info.width == 64 && info.height == 48 && info.frameRate == 25 && info.durationSeconds == 2)
        #expect(info.frameCount == 50 && info.streamCount == 1 && !info.variableFrameRate)
        let audio = try MediaProbe.probe(path: Fixtures.path("video/audio_only.m4a"))
        #expect(audio.kind == .audio && audio.audioStreams == 1 && audio.videoStreams == 0)
        #expect(try MediaProbe.probe(path: Fixtures.path("images/animated.gif")).kind == .animation)
        #expect(try MediaProbe.probe(path: Fixtures.path("images/animated.png")).kind == .animation)
        #expect(try MediaProbe.probe(path: Fixtures.path("images/animated.webp")).frameCount == 3)
        #expect(try MediaProbe.probe(path: Fixtures.path("images/still.gif")).kind == .image)
        #expect(try MediaProbe.probe(path: Fixtures.path("images/exif6.jpg")).rotation == 90)
    }
}
