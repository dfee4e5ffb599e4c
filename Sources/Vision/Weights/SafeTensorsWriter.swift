import Foundation
import Glibc

/// Writes safetensors files: the header lists tensors in name order, padded with spaces to a
/// multiple of 8 bytes so every tensor starts aligned.
public enum SafeTensorsWriter {
    /// One tensor's raw little-endian bytes with its dtype name (`F32`, `F16`, `BF16`, `I64`, …).
    public struct Entry: Sendable {
        public var dtype: String
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(dtype: String, shape: [Int], bytes: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// A float tensor as F32, or as F16 (round to nearest even) when `half` is true.
        public init(_ tensor: Tensor, half: Bool = false) {
            dtype = half ? "F16" : "F32"
            shape = tensor.shape
            bytes = tensor.withUnsafeBufferPointer { values in
                if half {
                    return values.flatMap { value -> [UInt8] in
                        let bits = Float16(value).bitPattern
                        return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
                    }
                }
                return values.flatMap { value -> [UInt8] in
                    let bits = value.bitPattern
                    return [
                        UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24),
                    ]
                }
            }
        }
    }

    /// The file's bytes.
    public static func encode(_ entries: [String: Entry], metadata: [String: String] = [:]) -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = entries.keys.sorted()
        for name in names {
            let entry = entries[name]!
            header[name] = [
                "dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count],
            ]
            offset += entry.bytes.count
        }
        var json = [UInt8](
            (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        for name in names { out += entries[name]!.bytes }
        return out
    }

    /// Writes the file atomically: a temporary file in the same folder, renamed into place.
    public static func write(_ entries: [String: Entry], metadata: [String: String] = [:], to path: String)
        throws(VisionError)
    {
        let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try Data(encode(entries, metadata: metadata)).write(to: URL(fileURLWithPath: temporary))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw VisionError.io(path: path, message: "cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw VisionError.io(path: path, message: "cannot rename into place: \(message)")
        }
    }
}
