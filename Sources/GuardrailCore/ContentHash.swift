import Crypto
import Foundation

/// SHA-256 for the model, policy and data hashes that key caches and appear in reports, from
/// swift-crypto (BoringSSL on Linux, which uses the CPU's SHA extensions where it has them).
public struct ContentHash {
    private var hasher = Crypto.SHA256()

    public init() {}

    /// Adds bytes to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Adds bytes to the message.
    public mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        hasher.update(data: Array(bytes))
    }

    /// Adds a file's whole contents to the message, read in 8 MiB chunks.
    public mutating func update(contentsOf path: String) throws(CoreError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CoreError(path: path, message: "cannot read")
        }
        defer { try? handle.close() }
        while true {
            let chunk = handle.readData(ofLength: 8 << 20)
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { update($0) }
        }
    }

    /// The digest as 64 lowercase hex digits.
    public func hexDigest() -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 of `bytes` in hex.
    public static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hash = ContentHash()
        hash.update(bytes)
        return hash.hexDigest()
    }

    /// The SHA-256 of a string's UTF-8 bytes in hex.
    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}
