import Foundation
import TestSupport
import Testing

/// `fixtures/manifest.json` (written by `scripts/gen_manifest.py`) describes every fixture and
/// nothing else: each entry names its generator and licence.
@Suite struct FixtureManifestTests {
    @Test func everyFixtureHasAnEntry() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("manifest.json")))
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        let root = URL(fileURLWithPath: Fixtures.root).standardizedFileURL.path
        var files = Set<String>()
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        while let relative = walker.nextObject() as? String {
            var isFolder: ObjCBool = false
            FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isFolder)
            if !isFolder.boolValue && relative != "manifest.json" { files.insert(relative) }
        }
        #expect(files.subtracting(manifest.keys).sorted() == [], "files without an entry")
        #expect(Set(manifest.keys).subtracting(files).sorted() == [], "entries without a file")
        let incomplete = manifest.filter { $0.value["generator"] == nil || $0.value["licence"] == nil }.keys
        #expect(incomplete.isEmpty, "\(incomplete.sorted())")
    }
}
