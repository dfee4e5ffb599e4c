import Foundation
import GuardrailCore
import Testing

@Suite struct ContentHashTests {
    /// FIPS 180-4 examples and lengths around the padding boundary, against Python's hashlib.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
    ])
    func digests(text: String, expected: String) {
        #expect(ContentHash.hex(text) == expected)
    }

    /// Feeding the message in uneven pieces, or from a file, gives the same digest as at once.
    @Test func incrementalUpdates() throws {
        let message = (0..<1000).map { UInt8($0 % 251) }
        var hasher = ContentHash()
        var start = 0
        for size in [1, 63, 64, 65, 7, 300, 500] {
            let end = min(start + size, message.count)
            hasher.update(message[start..<end])
            start = end
        }
        hasher.update(message[start...])
        #expect(hasher.hexDigest() == ContentHash.hex(message))
        let path = NSTemporaryDirectory() + "guardrail-hash-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try AtomicFile.write(Data(message), to: path)
        var fromFile = ContentHash()
        try fromFile.update(contentsOf: path)
        #expect(fromFile.hexDigest() == ContentHash.hex(message))
        #expect(throws: CoreError.self) { try fromFile.update(contentsOf: path + ".missing") }
    }
}

@Suite struct ArtifactCacheTests {
    func temporaryFolder() -> String {
        NSTemporaryDirectory() + "guardrail-cache-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Keys name every part and the engine version, in a stable order.
    @Test func keysCoverEveryPart() {
        let a = ArtifactKey(kind: "policies", parts: ["model": "m", "tokenizer": "t"])
        let b = ArtifactKey(kind: "policies", parts: ["tokenizer": "t", "model": "m"])
        #expect(a.digest == b.digest)
        #expect(a.description == "policies|engine=\(engineVersion)|model=m|tokenizer=t")
        #expect(ArtifactKey(kind: "policies", parts: ["model": "m", "tokenizer": "u"]).digest != a.digest)
        #expect(ArtifactKey(kind: "concepts", parts: ["model": "m", "tokenizer": "t"]).digest != a.digest)
    }

    /// Stores are atomic and the least recently used entries go once the bound is passed.
    @Test func evictsLeastRecentlyUsed() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cache = ArtifactCache(folder: folder, maxBytes: 250)
        let keys = (0..<4).map { ArtifactKey(kind: "test", parts: ["i": String($0)]) }
        let old = Date(timeIntervalSinceNow: -100)
        for (i, key) in keys.prefix(2).enumerated() {
            let path = try cache.store(key, extension: "bin", data: Data(repeating: UInt8(i), count: 100))
            try FileManager.default.setAttributes(
                [.modificationDate: old.addingTimeInterval(Double(i))], ofItemAtPath: path)
        }
        // Reading the first makes it the most recently used.
        #expect(cache.lookup(keys[0], extension: "bin") != nil)
        try cache.store(keys[2], extension: "bin", data: Data(repeating: 2, count: 100))
        #expect(cache.lookup(keys[1], extension: "bin") == nil)
        #expect(cache.lookup(keys[0], extension: "bin") != nil && cache.lookup(keys[2], extension: "bin") != nil)
        // An entry larger than the bound is kept until the next store.
        let big = try cache.store(keys[3], extension: "bin", data: Data(repeating: 3, count: 300))
        #expect(FileManager.default.fileExists(atPath: big))
        let names = try FileManager.default.contentsOfDirectory(atPath: folder + "/test")
        #expect(!names.contains { $0.contains(".partial-") })
        #expect(try Data(contentsOf: URL(fileURLWithPath: big)) == Data(repeating: 3, count: 300))
    }

    /// A failed write leaves neither the destination nor a temporary file behind.
    @Test func failedWritesLeaveNothing() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        struct Stop: Error {}
        #expect(throws: CoreError.self) {
            try AtomicFile.write(to: folder + "/file") { handle in
                handle.write(Data([1, 2, 3]))
                throw Stop()
            }
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty ?? true)
    }

    @Test func defaultFolderFollowsTheEnvironment() {
        #expect(ArtifactCache.defaultFolder(environment: ["GUARDRAIL_CACHE": "/c", "HOME": "/h"]) == "/c")
        #expect(ArtifactCache.defaultFolder(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/guardrail")
        #expect(ArtifactCache.defaultFolder(environment: ["HOME": "/h"]) == "/h/.cache/guardrail")
    }
}

@Suite struct VectorTests {
    @Test func helpersMatchTheirFormulas() {
        #expect(Vectors.normalized([3, 4]) == [0.6, 0.8])
        #expect(Vectors.normalized([0, 0]) == [0, 0])
        #expect(Vectors.dot([1, 2, 3], [4, 5, 6]) == 32)
        #expect(Vectors.add([1, 2], [3, 4]) == [4, 6])
        #expect(abs(Vectors.cosine([1, 0], [1, 1]) - 0.5.squareRoot()) < 1e-12)
        #expect(Vectors.cosine([0, 0], [1, 1]) == 0)
        #expect(Vectors.norm([3, 4]) == 5)
    }

    /// JSON output is sorted and refuses values it cannot represent instead of printing `{}`.
    @Test func jsonRefusesNonFiniteNumbers() throws {
        #expect(try JSONText.compact(["b": 1, "a": 2]) == #"{"a":2,"b":1}"#)
        #expect(try JSONText.compact(["path": "a/b"]) == #"{"path":"a/b"}"#)
        #expect(throws: (any Error).self) { try JSONText.compact([Float.nan]) }
    }
}
