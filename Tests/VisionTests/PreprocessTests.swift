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
}
