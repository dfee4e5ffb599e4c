import Foundation
import Glibc

/// SHA-256 over a model folder's `config.json` and every `*.safetensors` file (names sorted), the
/// hash reports and caches are keyed by. Remembered in `cacheFolder` per file path, size and
/// modification time, so a large model is read once.
public enum ModelHash {
    public static func sha256(folder model: String, cacheFolder: String?) throws -> String {
        let fm = FileManager.default
        let files = try fm.contentsOfDirectory(atPath: model)
            .filter { $0 == "config.json" || $0.hasSuffix(".safetensors") }.sorted()
        var stamp = ""
        for file in files {
            let attributes = try fm.attributesOfItem(atPath: model + "/" + file)
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            stamp += "\(file):\(size):\(modified);"
        }
        let resolved = (model as NSString).resolvingSymlinksInPath
        let entry = cacheFolder.map { $0 + "/" + SHA256.hex(Array((resolved + "|" + stamp).utf8)) }
        if let entry, let cached = try? String(contentsOfFile: entry, encoding: .utf8), cached.count == 64 {
            return cached
        }
        var hasher = SHA256()
        for file in files {
            hasher.update(Array(file.utf8))
            guard let handle = FileHandle(forReadingAtPath: model + "/" + file) else {
                throw VisionError.io(path: model + "/" + file, message: "cannot read")
            }
            defer { handle.closeFile() }
            while true {
                let chunk = handle.readData(ofLength: 8 << 20)
                if chunk.isEmpty { break }
                chunk.withUnsafeBytes { hasher.update($0) }
            }
        }
        let digest = hasher.hexDigest()
        if let entry { try? writeAtomically(Data(digest.utf8), to: entry) }
        return digest
    }
}

/// Writes `data` under a temporary name in the destination folder and renames it into place, so
/// readers never see a partial file and concurrent writers do not interleave.
public func writeAtomically(_ data: Data, to path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    try data.write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
        try? FileManager.default.removeItem(atPath: temporary)
        throw VisionError.io(path: path, message: "cannot rename into place")
    }
}
