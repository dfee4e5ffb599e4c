import Foundation
import Glibc

/// Files written whole or not at all: the bytes go to a temporary name in the destination folder,
/// which is then renamed into place, so readers never see a partial file, concurrent writers do
/// not interleave, and a crash leaves at most a stray `.partial-*` file.
public enum AtomicFile {
    /// Writes `data` to `path`, creating the folder if needed.
    public static func write(_ data: Data, to path: String) throws(CoreError) {
        try write(to: path) { handle in handle.write(data) }
    }

    /// Calls `body` with a handle on a temporary file, then renames it to `path`; on any error the
    /// temporary file is removed and `path` is left as it was.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws(CoreError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary =
            path + ".partial-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        do {
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            guard FileManager.default.createFile(atPath: temporary, contents: nil),
                let handle = FileHandle(forWritingAtPath: temporary)
            else { throw CoreError(path: path, message: "cannot create \(temporary)") }
            defer { try? handle.close() }
            try body(handle)
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            if let error = error as? CoreError { throw error }
            throw CoreError(path: path, message: "cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw CoreError(path: path, message: "cannot rename into place: \(reason)")
        }
    }
}
