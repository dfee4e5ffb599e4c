import Foundation
import Media
import TestSupport
import Testing

@Suite struct ImageDecoderTests {
    static let goldens = try! MediaGoldens.load()
    static let names = goldens.images.keys.sorted()

    /// Every fixture image decodes to what Pillow's exif_transpose + convert("RGB") gives.
    @Test(arguments: names)
    func matchesPillow(name: String) throws {
        let golden = try #require(Self.goldens.images[name])
        let image = try ImageDecoder().decode(path: Fixtures.path("images/\(name)"))
        #expect(image.width == golden.width && image.height == golden.height, "\(name): size")
        let expected = try Fixtures.bytes("goldens/images/\(name).rgb")
        try #require(image.pixels.count == expected.count)
        let comparison = ByteComparison(image.pixels, expected)
        #expect(comparison.maxAbsDiff <= golden.maxAbsDiff, "\(name): \(comparison)")
        #expect(comparison.meanAbsDiff <= golden.meanAbsDiff, "\(name): \(comparison)")
    }

    @Test func exifOrientationSwapsDimensions() throws {
        let upright = try ImageDecoder().decode(path: Fixtures.path("images/exif1.jpg"))
        for orientation in 5...8 {
            let turned = try ImageDecoder().decode(path: Fixtures.path("images/exif\(orientation).jpg"))
            #expect(turned.width == upright.height && turned.height == upright.width)
        }
    }

    @Test func contentDecidesNotTheExtension() throws {
        let renamed = try ImageDecoder().decode(path: Fixtures.path("corrupt/png_named.jpg"))
        let original = try ImageDecoder().decode(path: Fixtures.path("images/rgb8.png"))
        #expect(renamed == original)
    }

    @Test func pixelLimitIsConfigurable() throws {
        let limits = MediaLimits(maxPixels: 100)
        #expect(throws: MediaError.self) {
            try ImageDecoder(limits: limits).decode(path: Fixtures.path("images/rgb8.png"))
        }
        do {
            _ = try ImageDecoder(limits: limits).decode(path: Fixtures.path("images/baseline420.jpg"))
            Issue.record("expected too_large")
        } catch {
            #expect(error.kind == .tooLarge)
        }
    }

    @Test func fileSizeLimit() {
        let limits = MediaLimits(maxFileBytes: 100)
        do {
            _ = try ImageDecoder(limits: limits).decode(path: Fixtures.path("images/rgb8.png"))
            Issue.record("expected too_large")
        } catch {
            #expect(error.kind == .tooLarge)
        }
    }

    @Test func writtenPNGReadsBack() throws {
        let image = try ImageDecoder().decode(path: Fixtures.path("images/baseline444.jpg"))
        let path = NSTemporaryDirectory() + "guardrail-roundtrip-\(UInt32.random(in: 0...UInt32.max)).png"
        try image.writePNG(to: path)
        #expect(try ImageDecoder().decode(path: path) == image)
    }
}
