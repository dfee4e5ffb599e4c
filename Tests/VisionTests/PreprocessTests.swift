import Foundation
import GuardrailCore
import Media
import TestSupport
import Testing
import Vision

@Suite struct PreprocessTests {
    static let images = [
        "preprocess-landscape.jpg", "preprocess-portrait.jpg", "preprocess-square.jpg", "rgb8.png", "exif6.jpg",
        "baseline420.jpg",
    ]

    /// Pillow's bicubic resize and the centre crop, byte for byte, downscaling and upscaling.
    @Test(arguments: images, [224, 96])
    func resizeAndCropMatchPillow(name: String, size: Int) throws {
        let image = try ImageDecoder().decode(path: Fixtures.path("images/\(name)"))
        let (cropped, transform) = ImagePreprocessor(imageSize: size).resizeAndCrop(image)
        let expected = try Fixtures.bytes("goldens/vision/preprocess/\(name).\(size).rgb")
        try #require(cropped.pixels.count == expected.count)
        let comparison = ByteComparison(cropped.pixels, expected)
        #expect(comparison.maxAbsDiff == 0, "\(name) at \(size): \(comparison)")
        #expect(transform.sourceWidth == image.width && transform.offsetX >= 0 && transform.offsetY >= 0)
    }

    /// The whole pipeline against `CLIPImageProcessor`'s tensors, read from the checkpoint's
    /// `preprocessor_config.json`.
    @Test func pixelValuesMatchTheProcessor() throws {
        let folder = Fixtures.path("models/clip-b32-tiny")
        let processor = try ModelBundle(folder).loadPreprocessor(imageSize: 96)
        #expect(processor.shortestEdge == 96 && processor.cropWidth == 96)
        let images = try Self.images.prefix(4).map { try ImageDecoder().decode(path: Fixtures.path("images/\($0)")) }
        let (pixels, _) = processor(images)
        let golden = try SafeTensors.read(path: Fixtures.path("goldens/vision/clip-b32-tiny.safetensors"))
        let expected = try #require(golden["pixel_values"])
        try #require(pixels.shape == expected.shape)
        let comparison = TensorComparison(pixels, expected)
        #expect(comparison.maxAbsDiff <= 1e-6, "\(comparison)")
    }

    @Test func transformMapsCropBoxesBackToTheSource() {
        let image = RGBImage(width: 400, height: 200, pixels: [UInt8](repeating: 0, count: 400 * 200 * 3))
        let (_, t) = ImagePreprocessor(imageSize: 100).resizeAndCrop(image)
        // 400×200 → 200×100, crop offset 50: crop x 0…100 is source x 100…300.
        #expect(t.offsetX == 50 && t.offsetY == 0)
        let box = t.sourceBox(cropX0: 0, cropY0: 0, cropX1: 100, cropY1: 100)
        #expect(box == (100, 0, 300, 200))
    }

    /// A window of a resize is exactly that part of the whole resize, for up- and downscaling on
    /// either axis, windows inside and at the edges.
    @Test(arguments: [
        (600, 3, 44800, 224), (3, 600, 224, 44800), (640, 480, 128, 96), (97, 61, 301, 190), (50, 40, 50, 100),
        (80, 30, 200, 30),
    ])
    func windowsMatchTheWholeResize(sizes: (Int, Int, Int, Int)) {
        let (source, target) = ((sizes.0, sizes.1), (sizes.2, sizes.3))
        var rng = SeededGenerator(seed: UInt64(source.0 * 1000 + source.1))
        let image = RGBImage(
            width: source.0, height: source.1,
            pixels: (0..<source.0 * source.1 * 3).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let (w, h) = target
        let whole = PillowResample.bicubic.resize(image, width: w, height: h)
        for (columns, rows) in [
            (0..<min(w, 96), 0..<min(h, 96)), ((w - 96) / 2..<(w + 96) / 2, (h - 96) / 2..<(h + 96) / 2),
            (max(w - 7, 0)..<w, max(h - 5, 0)..<h),
        ] where columns.lowerBound >= 0 && rows.lowerBound >= 0 {
            let window = PillowResample.bicubic.resize(image, width: w, height: h, columns: columns, rows: rows)
            var expected: [UInt8] = []
            for y in rows {
                expected += whole.pixels[((y * w + columns.lowerBound) * 3)..<((y * w + columns.upperBound) * 3)]
            }
            #expect(window.pixels == expected, "\(source) → \(target), window \(columns) × \(rows)")
        }
    }

    /// Extreme aspect ratios cost a crop-sized window, not the resize's full size (100000×1 would
    /// resize to 9 600 000×96 here: 2.8 GB if computed whole).
    @Test func extremeAspectRatiosStayBounded() {
        let processor = ImagePreprocessor(imageSize: 96)
        for (w, h) in [(100_000, 1), (1, 100_000), (65_535, 2)] {
            let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 200, count: w * h * 3))
            let (pixels, transforms) = processor([image])
            #expect(pixels.shape == [1, 3, 96, 96])
            #expect(transforms[0].sourceWidth == w && pixels.scalars.allSatisfy(\.isFinite))
        }
    }
}
