import Compute
import Foundation
import GuardrailCore

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
        let layout = entries.mapValues { (dtype: $0.dtype, shape: $0.shape, byteCount: $0.bytes.count) }
        var out = header(layout, metadata: metadata)
        for name in entries.keys.sorted() { out += entries[name]!.bytes }
        return out
    }

    /// The length prefix and JSON header for tensors stored in name order; data follows directly.
    static func header(_ layout: [String: (dtype: String, shape: [Int], byteCount: Int)], metadata: [String: String])
        -> [UInt8]
    {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in layout.keys.sorted() {
            let entry = layout[name]!
            header[name] = [
                "dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.byteCount],
            ]
            offset += entry.byteCount
        }
        var json = [UInt8](
            (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8))
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// Writes F32 tensors one at a time, asking `values` for each in name order, so a large
    /// checkpoint never sits in memory whole. Atomic like ``write(_:metadata:to:)``.
    public static func writeStreaming(
        shapes: [String: [Int]], to path: String, values: (String, [Int]) -> [Float]
    ) throws(VisionError) {
        let layout = shapes.mapValues { (dtype: "F32", shape: $0, byteCount: $0.reduce(1, *) * 4) }
        do {
            try AtomicFile.write(to: path) { handle in
                handle.write(Data(header(layout, metadata: [:])))
                for name in shapes.keys.sorted() {
                    handle.write(values(name, shapes[name]!).withUnsafeBufferPointer { Data(buffer: $0) })
                }
            }
        } catch {
            throw VisionError.io(path: error.path, message: error.message)
        }
    }

    /// Writes the file atomically: a temporary file in the same folder, renamed into place.
    public static func write(_ entries: [String: Entry], metadata: [String: String] = [:], to path: String)
        throws(VisionError)
    {
        do {
            try AtomicFile.write(Data(encode(entries, metadata: metadata)), to: path)
        } catch {
            throw VisionError.io(path: error.path, message: error.message)
        }
    }
}
