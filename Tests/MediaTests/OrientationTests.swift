import Foundation
import GuardrailCore
import Media
import TestSupport
import Testing

/// Orientation kept where decoders ignore it (an animated WebP's EXIF chunk, a TIFF's tag, PNG raw
/// profiles, XMP, AVIF irot/imir), against Pillow's `exif_transpose(im.seek(n))`, every frame, bit
/// for bit (AVIF within its YUV-conversion tolerance); through sampling (the path animations and
/// `frames` take) and through the still decode.
@Suite struct OrientationTests {
    /// Frames, width and height per file.
    static let goldens: [String: [String: Int]] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/orientation.json")))
        return (try! JSONSerialization.jsonObject(with: data) as! [String: Any]).compactMapValues {
            $0 as? [String: Int]
        }
    }()

    @Test(arguments: try! Fixtures.list("orientation"))
    func framesMatchPillow(name: String) throws {
        let golden = try #require(Self.goldens[name])
        let (count, width, height) = (golden["frames"]!, golden["width"]!, golden["height"]!)
        let expected = try Fixtures.bytes("goldens/orientation/\(name).rgb")
        let path = Fixtures.path("orientation/" + name)
        let sampled = try VideoSampler(path: path, options: SamplingOptions(strategy: .every(seconds: 0.001))).collect()
        #expect(sampled.count == count)
        for (n, frame) in sampled.enumerated() {
            let size = width * height * 3
            #expect(frame.image.width == width && frame.image.height == height, "\(name) frame \(n)")
            let comparison = ByteComparison(frame.image.pixels, Array(expected[(n * size)..<((n + 1) * size)]))
            #expect(comparison.maxAbsDiff <= golden["max_abs_diff"]!, "\(name) frame \(n): \(comparison)")
        }
        let still = try MediaSource(path: path)
        let first = ByteComparison(try still.decodeImage().pixels, Array(expected.prefix(width * height * 3)))
        #expect(first.maxAbsDiff <= golden["max_abs_diff"]!, "\(name): \(first)")
        #expect(still.info.displayWidth == width && still.info.displayHeight == height)
    }
}
