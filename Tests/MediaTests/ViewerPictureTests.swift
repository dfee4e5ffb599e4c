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

    /// A multi-page TIFF: the first page is decoded and the pages after it are reported as not
    /// scanned (FFmpeg's TIFF decoder reads one page); a single-page TIFF reports nothing.
    @Test func furtherTIFFPagesAreReported() throws {
        let source = try MediaSource(path: Fixtures.path("viewer/pages.tiff"))
        let image = try source.decodeImage()
        #expect(Array(image.pixels.prefix(3)) == [255, 0, 0])
        #expect(source.warnings == [.skipped("2 further TIFF pages not scanned (only the first is decoded)")])
        let single = try MediaSource(path: Fixtures.path("images/lzw.tiff"))
        _ = try single.decodeImage()
        #expect(single.warnings.isEmpty)
    }

    /// Every video stream is sampled, each at its own size, in every strategy, from one opened input.
    @Test(arguments: [SamplingStrategy.every(seconds: 0.5), .keyframes, .shots(ShotDetection())])
    func everyVideoStreamIsSampled(strategy: SamplingStrategy) throws {
        let source = try MediaSource(path: Fixtures.path("viewer/two_streams.mkv"))
        #expect(source.videoStreamCount == 2)
        var sizes: [[Int]] = []
        for stream in 0..<source.videoStreamCount {
            let frames = try VideoSampler(source: source, options: SamplingOptions(strategy: strategy), stream: stream)
                .collect()
            #expect(!frames.isEmpty)
            sizes.append(Array(Set(frames.map { $0.image.width * 1000 + $0.image.height })))
        }
        #expect(sizes == [[64048], [48032]])
        #expect(MediaSource.ffmpegOpens(of: Fixtures.path("viewer/two_streams.mkv")) >= 1)
    }
}
