import Foundation
import GuardrailCore
import Media
import TestSupport
import Testing

/// Pictures a viewer can see besides the main stream's frames are found and decoded exactly.
@Suite struct ViewerPictureTests {
    /// Audio with cover art is a picture: the cover, decoded as the still file it was made from.
    @Test(arguments: [("viewer/cover.m4a", "images/rgb8.png"), ("viewer/cover.mp3", "images/baseline420.jpg")])
    func audioWithCoverArtIsItsCover(file: String, cover: String) throws {
        let source = try MediaSource(path: Fixtures.path(file))
        #expect(source.info.kind == .image && source.info.audioStreams == 1)
        #expect(try source.decodeImage() == (try ImageDecoder().decode(path: Fixtures.path(cover))))
        #expect(try source.otherPictures().isEmpty)
        // Sampling it gives the cover as its one frame.
        let frames = try VideoSampler(path: Fixtures.path(file)).collect()
        #expect(frames.map(\.image) == [try ImageDecoder().decode(path: Fixtures.path(cover))])
    }

    /// A video's cover art is a picture besides its frames.
    @Test func videoCoverArtIsFound() throws {
        let source = try MediaSource(path: Fixtures.path("viewer/video_cover.mp4"))
        #expect(source.info.kind == .video)
        let others = try source.otherPictures()
        #expect(others.map(\.name) == ["attached_picture"])
        #expect(others.first?.image == (try ImageDecoder().decode(path: Fixtures.path("images/rgb8.png"))))
    }

    /// An APNG's default image outside the animation (what non-APNG viewers show) is found; one
    /// that is the first animation frame is not counted twice.
    @Test func apngDefaultImageIsFound() throws {
        let source = try MediaSource(path: Fixtures.path("viewer/apng_default.png"))
        let others = try source.otherPictures()
        #expect(others.map(\.name) == ["default_image"])
        let pixel = try #require(others.first).image[0, 0]
        #expect(pixel == (255, 0, 0))
        #expect(try MediaSource(path: Fixtures.path("images/animated.png")).otherPictures().isEmpty)
    }

    /// Every image of an MPO, as Pillow's `seek(n)` gives them, bit for bit.
    @Test func mpoImagesAreFound() throws {
        let source = try MediaSource(path: Fixtures.path("viewer/stereo.mpo"))
        let expected = try Fixtures.bytes("goldens/viewer/stereo.mpo.rgb")
        let size = 32 * 24 * 3
        let images = [try source.decodeImage()] + (try source.otherPictures()).map(\.image)
        #expect(images.count == 3)
        for (n, image) in images.enumerated() {
            #expect(image.pixels == Array(expected[(n * size)..<((n + 1) * size)]), "image \(n)")
        }
        #expect(try MediaSource(path: Fixtures.path("images/baseline420.jpg")).otherPictures().isEmpty)
    }

    /// Every size of an ICO (stored as PNG, 32-bit BMP, 8-bit palette BMP): the largest is the
    /// image, the others further pictures, each as Pillow's `ico.getimage(size)`, bit for bit.
    @Test(arguments: ["sizes_png.ico", "sizes_bmp32.ico", "sizes_bmp8.ico"])
    func icoSizesAreFound(name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/ico.json")))
        let sizes = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?[name] as? [[Int]])
        let expected = try Fixtures.bytes("goldens/viewer/\(name).rgb")
        let source = try MediaSource(path: Fixtures.path("viewer/" + name))
        #expect(source.info.kind == .image && source.info.width == sizes[0][0] && source.info.height == sizes[0][1])
        let images = [try source.decodeImage()] + (try source.otherPictures()).map(\.image)
        #expect(images.map { [$0.width, $0.height] } == sizes)
        var offset = 0
        for (n, image) in images.enumerated() {
            #expect(image.pixels == Array(expected[offset..<(offset + image.pixels.count)]), "\(name) size \(n)")
            offset += image.pixels.count
        }
        #expect(source.warnings.isEmpty)
    }

    /// Every page of a multi-page TIFF (modes RGB, L, P, RGBA, 1-bit; raw, LZW, PackBits, Deflate;
    /// each page's own orientation tag), bit for bit with the goldens; past the cap the rest are
    /// reported; a single-page TIFF has no further pictures.
    @Test(arguments: ["pages_mixed.tiff", "pages_many.tiff"])
    func everyTIFFPageIsDecoded(name: String) throws {
        let sizes = try Self.goldenSizes(name)
        let expected = try Fixtures.bytes("goldens/viewer/\(name).rgb")
        let source = try MediaSource(path: Fixtures.path("viewer/" + name))
        let others = try source.otherPictures()
        #expect(Set(others.map(\.name)) == ["tiff_page"])
        let images = [try source.decodeImage()] + others.map(\.image)
        let scanned = min(sizes.count, MediaSource.maxOtherPictures + 1)
        #expect(images.map { [$0.width, $0.height] } == Array(sizes.prefix(scanned)))
        var offset = 0
        for (n, image) in images.enumerated() {
            #expect(image.pixels == Array(expected[offset..<(offset + image.pixels.count)]), "\(name) page \(n)")
            offset += image.pixels.count
        }
        let skipped = sizes.count - scanned
        #expect(source.warnings == (skipped > 0 ? [.skipped("\(skipped) more TIFF pages past the cap of 16")] : []))
        let single = try MediaSource(path: Fixtures.path("images/lzw.tiff"))
        _ = try single.decodeImage()
        #expect(try single.otherPictures().isEmpty && single.warnings.isEmpty)
    }

    /// A page FFmpeg cannot decode (its strips point past the end) is reported, not silently dropped,
    /// and the pages around it are still scanned.
    @Test func undecodableTIFFPageIsReported() throws {
        var bytes = try Fixtures.bytes("viewer/pages.tiff")
        // Little-endian (Pillow's): IFD0's offset at 4, each IFD a count, 12-byte entries, the next offset.
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        let first = u32(4)
        let page2 = u32(first + 2 + 12 * u16(first))
        let entries = (0..<u16(page2)).map { page2 + 2 + 12 * $0 }
        let stripOffsets = try #require(entries.first { u16($0) == 273 })
        for i in 0..<4 { bytes[stripOffsets + 8 + i] = 0xFF }
        let path = NSTemporaryDirectory() + "guardrail-broken-page-\(UInt32.random(in: 0...UInt32.max)).tiff"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try MediaSource(path: path)
        let others = try source.otherPictures()
        #expect(others.count == 1 && Array(others[0].image.pixels.prefix(3)) == [0, 255, 0])
        #expect(source.warnings.count == 1 && source.warnings[0].description.hasPrefix("skipped: a TIFF page"))
    }

    /// Resolution tags (TIFF 72×144 dpi, an APNG's 1:2 pHYs) stretch nothing: FFmpeg reads them as a
    /// sample aspect ratio, but Pillow and viewers show the stored size. Videos keep theirs.
    @Test(arguments: ["aspect.tiff", "aspect_phys.png"])
    func imageResolutionIsNotAnAspectRatio(name: String) throws {
        let size = try #require(try Self.goldenSizes(name).first)
        let expected = try Fixtures.bytes("goldens/viewer/\(name).rgb")
        let source = try MediaSource(path: Fixtures.path("viewer/" + name))
        #expect([source.info.displayWidth, source.info.displayHeight] == [size[0], size[1]])
        let frames = try VideoSampler(source: source, options: SamplingOptions(strategy: .every(seconds: 0.1)))
            .collect()
        #expect(frames.flatMap(\.image.pixels) == Array(expected.prefix(frames.count * size[0] * size[1] * 3)))
        #expect(!frames.isEmpty)
        let video = try MediaProbe.probe(path: Fixtures.path("video/sar2.mp4"))
        #expect(video.displayWidth == 2 * (video.width ?? 0))
    }

    private static func goldenSizes(_ name: String) throws -> [[Int]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/tiff.json")))
        return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?[name] as? [[Int]])
    }

    /// Every video stream is sampled, each at its own size, in every strategy, from one opened input.
    @Test(arguments: [SamplingStrategy.every(seconds: 0.5), .keyframes, .shots(ShotDetection())])
    func everyVideoStreamIsSampled(strategy: SamplingStrategy) throws {
        let path = try copiedFixture("viewer/two_streams.mkv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var sizes: [[Int]] = []
        let opens = try MediaSource.countingFFmpegOpens(of: path) {
            let source = try MediaSource(path: path)
            #expect(source.videoStreamCount == 2)
            for stream in 0..<source.videoStreamCount {
                let frames = try VideoSampler(
                    source: source, options: SamplingOptions(strategy: strategy), stream: stream
                ).collect()
                #expect(!frames.isEmpty)
                sizes.append(Array(Set(frames.map { $0.image.width * 1000 + $0.image.height })))
            }
        }
        #expect(sizes == [[64048], [48032]])
        #expect(opens == 1)
    }

    /// A copy of a fixture under a name of its own, so counting its opens sees this test's only.
    private func copiedFixture(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "guardrail-\(UUID().uuidString)-" + (name as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: Fixtures.path(name), toPath: path)
        return path
    }
}
