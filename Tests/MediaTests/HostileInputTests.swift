import Foundation
import Media
import TestSupport
import Testing

@Suite struct HostileInputTests {
    func imageError(_ path: String, limits: MediaLimits = .default) -> MediaError? {
        do {
            _ = try ImageDecoder(limits: limits).decode(path: Fixtures.path(path))
            return nil
        } catch {
            return error
        }
    }

    func samplingError(_ path: String) -> MediaError? {
        do {
            _ = try VideoSampler(path: Fixtures.path(path)).collect()
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("corrupt/truncated.webp", MediaError.Kind.corrupt),
        ("corrupt/empty.png", .truncated),
        ("corrupt/text.jpg", .corrupt),
        ("corrupt/bomb_65535.png", .tooLarge),
        ("corrupt/bomb_65535.jpg", .tooLarge),
        ("corrupt/bomb_60000.jpg", .tooLarge),
    ])
    func badImagesThrowTheRightKind(path: String, kind: MediaError.Kind) throws {
        let error = try #require(imageError(path), "\(path) decoded")
        #expect(error.kind == kind, "\(error)")
        #expect(error.path.hasSuffix(path) && !error.function.isEmpty && !error.message.isEmpty)
    }

    /// Inputs the fuzzer found crashing (scripts/fuzz.sh), through every sampling strategy: each
    /// samples or fails with a MediaError. `fuzz_backward_cuts.webm`: timestamps going backwards
    /// made a shot end before it started (a trap in `start...end`); `fuzz_gif_code_size.gif`: an LZW
    /// code size past 8 (a trap converting codes to palette indices); `fuzz_ico_fallback_recursion.ico`:
    /// an ICO whose largest size the engine cannot decode, whose fallback to FFmpeg called itself
    /// until the stack overflowed.
    @Test(arguments: try! Fixtures.list("corrupt").filter { $0.hasPrefix("fuzz_") })
    func fuzzerFindingsStayFixed(name: String) {
        if let source = try? MediaSource(path: Fixtures.path("corrupt/" + name)) {
            _ = try? source.decodeImage()
            _ = try? source.otherPictures()
        }
        for strategy in [SamplingStrategy.every(seconds: 0.5), .keyframes, .shots(ShotDetection())] {
            do {
                let frames = try VideoSampler(
                    path: Fixtures.path("corrupt/" + name), options: SamplingOptions(strategy: strategy)
                ).collect()
                #expect(frames.allSatisfy { $0.interval.lowerBound <= $0.interval.upperBound })
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }

    /// Truncated PNG and JPEG files decode as far as their data goes and say so (see
    /// DamagedImageTests for the pixels against Pillow).
    @Test(arguments: ["corrupt/truncated.png", "corrupt/truncated.jpg"])
    func truncatedStillsDecodeWithAWarning(path: String) throws {
        let source = try MediaSource(path: Fixtures.path(path))
        _ = try source.decodeImage()
        #expect(source.warnings == [.truncated])
    }

    @Test(arguments: [
        ("corrupt/truncated.mp4", MediaError.Kind.corrupt),
        ("corrupt/empty.mp4", .truncated),
        ("corrupt/text.mp4", .unsupportedFormat),
        ("corrupt/garbage_packets.mp4", .corrupt),
        ("video/audio_only.m4a", .noVideoStream),
        ("corrupt/bomb_65535.png", .tooLarge),
    ])
    func badVideosThrowTheRightKind(path: String, kind: MediaError.Kind) throws {
        let error = try #require(samplingError(path), "\(path) sampled")
        #expect(error.kind == kind, "\(error)")
    }

    /// A 65535×65535 header is refused from the header, before any pixel buffer exists.
    @Test func bombsAreRefusedQuickly() throws {
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<20 { _ = imageError("corrupt/bomb_65535.png") }
        }
        #expect(elapsed < .seconds(2), "\(elapsed) for 20 refusals")
    }

    @Test func missingFileIsAnIOError() {
        #expect(imageError("does/not/exist.png")?.kind == .io)
        #expect(samplingError("does/not/exist.mp4")?.kind == .io)
        #expect(imageError("images")?.kind == .io)
    }

    @Test func deadlineStopsDecoding() {
        do {
            _ = try VideoSampler(
                path: Fixtures.path("video/h264_bframes.mp4"), limits: MediaLimits(decodeTimeoutSeconds: 1e-6)
            ).collect()
            Issue.record("expected the deadline to stop decoding")
        } catch {
            #expect(error.kind == .io, "\(error)")
        }
    }
}

/// Thousands of random truncations and byte flips of the fixtures: every one must decode or throw
/// `MediaError`; none may crash, hang or return an inconsistent image.
@Suite struct MutationTests {
    static let images = [
        "rgb8.png", "rgba16_adam7.png", "palette4.png", "grey16.png", "exif6.png", "baseline420.jpg",
        "progressive.jpg", "arithmetic.jpg", "cmyk.jpg", "exif6.jpg", "lossy.webp", "animated.webp",
        "still.gif", "rgb24.bmp", "lzw.tiff",
    ]
    static let videos = [
        "video/h264_bframes.mp4", "video/vp9.webm", "video/hevc.mkv", "video/mjpeg.avi", "video/mpeg4.avi",
        "video/h264.ts", "images/animated.gif", "images/animated.png",
    ]

    static func mutate(_ original: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = original
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        case 1:
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
        case 2:
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            let end = min(bytes.count, start + Int.random(in: 1...64, using: &rng))
            let fill: UInt8 = Bool.random(using: &rng) ? 0xFF : 0
            for i in start..<end { bytes[i] = fill }
        default:
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 0x80
            bytes.removeLast(Int.random(in: 0..<bytes.count / 2, using: &rng))
        }
        return bytes
    }

    /// Mutates the fixtures `rounds` times, round-robin, and runs `decode` on each mutant in a
    /// temporary file; returns how many decoded and how many were refused with an error.
    func mutationRounds(
        _ sources: [String], rounds: Int, seed: UInt64, decode: (String) throws(MediaError) -> Void
    ) throws -> (decoded: Int, refused: Int) {
        var rng = SeededGenerator(seed: seed)
        let folder = NSTemporaryDirectory() + "guardrail-mutations-\(seed)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var decoded = 0
        var refused = 0
        for round in 0..<rounds {
            let source = sources[round % sources.count]
            let path = "\(folder)/\(round)-\(source.split(separator: "/").last!)"
            try Data(Self.mutate(try Fixtures.bytes(source), using: &rng)).write(to: URL(fileURLWithPath: path))
            do {
                try decode(path)
                decoded += 1
            } catch {
                #expect(!error.message.isEmpty)
                refused += 1
            }
            try FileManager.default.removeItem(atPath: path)
        }
        return (decoded, refused)
    }

    @Test func mutatedImages() throws {
        let result = try mutationRounds(Self.images.map { "images/\($0)" }, rounds: 2400, seed: 0x5EED_1) {
            (path) throws(MediaError) in
            let image = try ImageDecoder().decode(path: path)
            #expect(image.pixels.count == image.width * image.height * 3)
        }
        print("mutated images: \(result.decoded) decoded, \(result.refused) refused")
        // Both outcomes occur: the loop exercises error paths and the decoders' tolerance.
        #expect(result.decoded > 100 && result.refused > 100)
    }

    @Test func mutatedVideos() throws {
        let options = SamplingOptions(strategy: .every(seconds: 0.2), maxFrames: 8)
        let result = try mutationRounds(Self.videos, rounds: 800, seed: 0x5EED_2) { (path) throws(MediaError) in
            let frames = try VideoSampler(path: path, options: options).collect()
            #expect(frames.allSatisfy { $0.image.pixels.count == $0.image.width * $0.image.height * 3 })
        }
        print("mutated videos: \(result.decoded) decoded, \(result.refused) refused")
        #expect(result.decoded > 50 && result.refused > 50)
    }
}
