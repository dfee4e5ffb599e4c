import Foundation
import GuardrailCore
import Media
import TestSupport
import Testing

/// Damaged files every browser shows: decoded like Pillow (`LOAD_TRUNCATED_IMAGES` for the
/// truncated ones), with the damage reported as warnings instead of the file refused.
@Suite struct DamagedImageTests {
    struct Golden: Decodable {
        var width: Int
        var height: Int
        var warnings: [String]
        var maxAbsDiff: Int
    }

    static let goldens: [String: Golden] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/damaged.json")))
        let object = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var out: [String: Golden] = [:]
        for (name, value) in object where name != "generator" {
            let entry = value as! [String: Any]
            out[name] = Golden(
                width: entry["width"] as! Int, height: entry["height"] as! Int,
                warnings: entry["warnings"] as! [String],
                maxAbsDiff: entry["max_abs_diff"] as! Int)
        }
        return out
    }()

    @Test(arguments: try! Fixtures.list("damaged"))
    func decodesLikePillowAndSaysSo(name: String) throws {
        let golden = try #require(Self.goldens[name])
        let source = try MediaSource(path: Fixtures.path("damaged/" + name))
        let image = try source.decodeImage()
        #expect(image.width == golden.width && image.height == golden.height)
        let expected = try Fixtures.bytes("goldens/damaged/\(name).rgb")
        let comparison = ByteComparison(image.pixels, expected)
        #expect(comparison.maxAbsDiff <= golden.maxAbsDiff, "\(name): \(comparison)")
        #expect(source.warnings.map { "\($0)".split(separator: ":")[0] } == golden.warnings.map { Substring($0) })
    }

    /// A file of which nothing decodes is still refused, with the reason.
    @Test func nothingDecodableIsRefused() throws {
        let jpeg = try Fixtures.bytes("images/baseline420.jpg")
        let folder = NSTemporaryDirectory() + "guardrail-damaged-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Cut inside the headers: no scan data at all.
        try Data(jpeg.prefix(300)).write(to: URL(fileURLWithPath: folder + "/headers.jpg"))
        #expect(throws: MediaError.self) { _ = try MediaSource(path: folder + "/headers.jpg").decodeImage().width }
        let png = try Fixtures.bytes("images/rgb8.png")
        try Data(png.prefix(60)).write(to: URL(fileURLWithPath: folder + "/header.png"))
        #expect(throws: MediaError.self) { _ = try MediaSource(path: folder + "/header.png").decodeImage().width }
    }
}
