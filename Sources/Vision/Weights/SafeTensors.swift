import Compute
import Foundation

/// One `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data. Mapped read-only; every header field is
/// validated against the file before any tensor is touched.
final class SafeTensorsFile: Sendable {
    /// Element types; only the float ones load.
    enum DType: String {
        case f64 = "F64"
        case f32 = "F32"
        case f16 = "F16"
        case bf16 = "BF16"
        case i64 = "I64"
        case i32 = "I32"
        case i16 = "I16"
        case i8 = "I8"
        case u8 = "U8"
        case bool = "BOOL"
        case f8e4m3 = "F8_E4M3"
        case f8e5m2 = "F8_E5M2"

        var size: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
            }
        }
    }

    struct Entry {
        var dtype: DType
        var shape: [Int]
        /// Byte range within the file (absolute).
        var range: Range<Int>
    }

    let file: MappedFile
    let entries: [String: Entry]
    /// The `__metadata__` strings.
    let metadata: [String: String]
    var path: String { file.path }

    /// Largest header accepted (the format's own reference reader uses 100 MB).
    static let maxHeaderBytes = 100_000_000

    init(path: String) throws(VisionError) {
        file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ message: String) -> VisionError { .malformedSafeTensors(path: path, message: message) }
        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard headerLength <= UInt64(bytes.count - 8), headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the file (\(bytes.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        let header = Data(bytes[8..<dataStart])
        guard let json = try? JSONSerialization.jsonObject(with: header), let object = json as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in object {
            if key == "__metadata__" {
                guard let strings = value as? [String: String] else {
                    throw fail("__metadata__ must map strings to strings")
                }
                metadata = strings
                continue
            }
            guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
                let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int],
                offsets.count == 2
            else { throw fail("\(key): entry needs dtype, shape and two data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw VisionError.unsupportedDType(key: key, dtype: dtypeName)
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("\(key): negative dimension or reversed offsets")
            }
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("\(key): shape \(shape) overflows") }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, byteCount == offsets[1] - offsets[0] else {
                throw fail("\(key): shape \(shape) × \(dtype.size) bytes ≠ \(offsets[1] - offsets[0]) bytes of data")
            }
            guard offsets[1] <= bytes.count - dataStart else {
                throw fail("\(key): data_offsets \(offsets) run past the end of the file")
            }
            entries[key] = Entry(dtype: dtype, shape: shape, range: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        }
        let ordered = entries.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where next.value.range.lowerBound < previous.value.range.upperBound {
            throw fail("\(previous.key) and \(next.key) overlap")
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// The tensor as F32: borrowed from the mapping when it is F32 and 4-byte aligned, otherwise
    /// copied (misaligned) or converted once (F16, BF16).
    func tensor(_ key: String) throws(VisionError) -> Tensor {
        guard let entry = entries[key] else {
            throw VisionError.strictLoading(missing: [key], unused: [], misshaped: [])
        }
        let count = entry.shape.reduce(1, *)
        let source = file.bytes.baseAddress! + entry.range.lowerBound
        switch entry.dtype {
        case .f32:
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                let typed = source.assumingMemoryBound(to: Float.self)
                return Tensor(shape: entry.shape, storage: TensorStorage(borrowing: typed, count: count, owner: file))
            }
            let storage = TensorStorage(count: count)
            UnsafeMutableRawPointer(storage.pointer).copyMemory(from: source, byteCount: count * 4)
            return Tensor(shape: entry.shape, storage: storage)
        case .f16, .bf16:
            let storage = TensorStorage(count: count)
            let out = storage.pointer
            let half = entry.dtype == .f16
            for i in 0..<count {
                let bits =
                    UInt16(source.load(fromByteOffset: 2 * i, as: UInt8.self))
                    | UInt16(source.load(fromByteOffset: 2 * i + 1, as: UInt8.self)) << 8
                out[i] = half ? floatFromHalf(bits) : Float(bitPattern: UInt32(bits) << 16)
            }
            return Tensor(shape: entry.shape, storage: storage)
        default:
            throw VisionError.unsupportedDType(key: key, dtype: entry.dtype.rawValue)
        }
    }
}

/// IEEE 754 binary16 to binary32, exact for every value including subnormals, infinities and NaN.
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
}

/// Reading whole safetensors files (reference outputs, tools); models load through their own
/// strict path instead.
public enum SafeTensors {
    /// Every tensor of the file at `path`, converted to F32.
    public static func read(path: String) throws(VisionError) -> [String: Tensor] {
        try readWithMetadata(path: path).tensors
    }

    /// Every tensor (F32) and the `__metadata__` strings, from one opening of the file.
    public static func readWithMetadata(path: String) throws(VisionError) -> (
        tensors: [String: Tensor], metadata: [String: String]
    ) {
        let file = try SafeTensorsFile(path: path)
        var tensors: [String: Tensor] = [:]
        for key in file.entries.keys { tensors[key] = try file.tensor(key) }
        return (tensors, file.metadata)
    }
}
