import Foundation
import GuardrailCore
import Media
import TestSupport
import Testing

/// Files whose every frame is checked against Pillow, through sampling (the path animations and
/// `frames` take) and through the still decode:
/// - `orientation/`: orientation kept where decoders ignore it (an animated WebP's EXIF chunk, a
///   TIFF's tag, PNG raw profiles, XMP, AVIF irot/imir), against `exif_transpose(im.seek(n))`, bit
///   for bit (AVIF within its YUV-conversion tolerance);
/// - `gif/`: animated GIFs composited as `im.seek(n).convert("RGB")`, bit for bit: each disposal
///   method with and without transparency, local palettes, frames at offsets, interlacing, and an
///   animation cut short (`LOAD_TRUNCATED_IMAGES`), which says so.
@Suite struct FrameGoldenTests {
    @Test(arguments: try! Fixtures.list("orientation"))
    func orientationMatchesPillow(name: String) throws { try check(set: "orientation", name: name) }

    @Test(arguments: try! Fixtures.list("gif"))
    func gifMatchesPillow(name: String) throws { try check(set: "gif", name: name) }

    /// Frames, width, height and the allowed difference per file of `goldens/SET.json`.
    static func goldens(_ set: String) -> [String: [String: Int]] {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/\(set).json")))
        return (try! JSONSerialization.jsonObject(with: data) as! [String: Any]).compactMapValues {
            $0 as? [String: Int]
        }
    }

    func check(set: String, name: String) throws {
        let golden = try #require(Self.goldens(set)[name])
        let (count, width, height) = (golden["frames"]!, golden["width"]!, golden["height"]!)
        let tolerance = golden["max_abs_diff"] ?? 0
        let expected = try Fixtures.bytes("goldens/\(set)/\(name).rgb")
        let size = width * height * 3
        let path = Fixtures.path("\(set)/\(name)")
        let sampler = try VideoSampler(
            path: path, options: SamplingOptions(strategy: .every(seconds: 0.001), maxFrames: nil))
        let sampled = try sampler.collect()
        #expect(sampled.count == count, "\(name)")
        #expect(sampler.warnings == (golden["truncated"] == 1 ? [.truncated] : []), "\(name)")
        for (n, frame) in sampled.enumerated() {
            #expect(frame.image.width == width && frame.image.height == height, "\(name) frame \(n)")
            let comparison = ByteComparison(frame.image.pixels, Array(expected[(n * size)..<((n + 1) * size)]))
            #expect(comparison.maxAbsDiff <= tolerance, "\(name) frame \(n): \(comparison)")
        }
        let still = try MediaSource(path: path)
        let first = ByteComparison(try still.decodeImage().pixels, Array(expected.prefix(size)))
        #expect(first.maxAbsDiff <= tolerance, "\(name): \(first)")
        #expect(still.info.displayWidth == width && still.info.displayHeight == height)
    }
}
