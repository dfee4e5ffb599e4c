import Foundation
import GuardrailCore

/// Why an ONNX file cannot be used: the file, the node (or part) at fault, and the reason.
public struct ONNXError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var node: String?
    public var reason: String

    public init(file: String, node: String? = nil, reason: String) {
        (self.file, self.node, self.reason) = (file, node, reason)
    }

    public var description: String { "\(file): " + (node.map { "node \($0): " } ?? "") + reason }
}

/// An ONNX tensor's values: 32-bit floats for activations and weights, 64-bit integers for shapes
/// and indices (every other element type is converted on load, or refused).
public enum TensorData: Sendable, Equatable {
    case float([Float])
    case int([Int64])

    var count: Int {
        switch self {
        case .float(let v): return v.count
        case .int(let v): return v.count
        }
    }
}

/// A tensor with its shape (row-major).
public struct Value: Sendable, Equatable {
    public var shape: [Int]
    public var data: TensorData

    public init(shape: [Int], data: TensorData) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        (self.shape, self.data) = (shape, data)
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, data: .float(floats)) }
    public init(shape: [Int], ints: [Int64]) { self.init(shape: shape, data: .int(ints)) }

    public var count: Int { data.count }
}

/// One attribute of a node, as far as the supported operators use them.
public enum Attribute: Sendable, Equatable {
    case int(Int64)
    case float(Float)
    case ints([Int64])
    case floats([Float])
    case string(String)
    case tensor(Value)
}

/// A node of the graph: an operator applied to named inputs ("" for an omitted optional input).
public struct Node: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]
}

/// A declared graph input or output: its name and dimensions (nil for a symbolic dimension).
public struct ValueInfo: Sendable {
    public var name: String
    public var dims: [Int?]
}

/// The parts of an ONNX `ModelProto` an inference engine needs: opset, nodes in order,
/// initializers, inputs and outputs. Read from the protobuf wire format over untrusted bytes: every
/// length is checked against what remains, and dimensions against a size limit, so a damaged file
/// is an ``ONNXError`` rather than a crash or an allocation of absurd size.
public struct ONNXModel: Sendable {
    public var path: String
    public var opset: Int
    public var producer: String
    public var nodes: [Node]
    public var initializers: [String: Value]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// The SHA-256 of the file's bytes, for reports and caches that key on the model.
    public var sha256: String

    /// At most this many elements in one tensor (2^31: far above any detector's weights).
    public static let maxElements = 1 << 31

    public init(contentsOf path: String) throws(ONNXError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ONNXError(file: path, reason: "cannot read the file")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws(ONNXError) {
        self.path = path
        sha256 = ContentHash.hex(bytes)
        var reader = WireReader(bytes[...], file: path, part: "model")
        var opset: Int?
        var producer = ""
        var graph: ArraySlice<UInt8>?
        while let (field, wire) = try reader.nextKey() {
            switch (field, wire) {
            case (2, 2): producer = try reader.string()
            case (7, 2): graph = try reader.bytes()
            case (8, 2):
                var op = WireReader(try reader.bytes(), file: path, part: "opset_import")
                var domain = ""
                var version: Int64 = 0
                while let (f, w) = try op.nextKey() {
                    switch (f, w) {
                    case (1, 2): domain = try op.string()
                    case (2, 0): version = try op.varint()
                    default: try op.skip(w)
                    }
                }
                if domain.isEmpty || domain == "ai.onnx" { opset = Int(clamping: version) }
            default: try reader.skip(wire)
            }
        }
        guard let graph else { throw ONNXError(file: path, reason: "no graph in the model") }
        guard let opset else { throw ONNXError(file: path, reason: "no default-domain opset_import") }
        self.opset = opset
        self.producer = producer
        var nodes: [Node] = []
        var initializers: [String: Value] = [:]
        var inputs: [ValueInfo] = []
        var outputs: [ValueInfo] = []
        var g = WireReader(graph, file: path, part: "graph")
        while let (field, wire) = try g.nextKey() {
            switch (field, wire) {
            case (1, 2): nodes.append(try Self.node(try g.bytes(), index: nodes.count, file: path))
            case (5, 2):
                let (name, value) = try Self.tensor(
                    try g.bytes(), file: path, part: "initializer \(initializers.count)")
                initializers[name] = value
            case (11, 2): inputs.append(try Self.valueInfo(try g.bytes(), file: path))
            case (12, 2): outputs.append(try Self.valueInfo(try g.bytes(), file: path))
            case (15, 2): throw ONNXError(file: path, reason: "sparse initializers are not supported")
            default: try g.skip(wire)
            }
        }
        self.nodes = nodes
        self.initializers = initializers
        // Initializers may also be listed as inputs (older exporters): only the others are fed.
        self.inputs = inputs.filter { initializers[$0.name] == nil }
        self.outputs = outputs
        guard !self.inputs.isEmpty, !outputs.isEmpty else {
            throw ONNXError(file: path, reason: "the graph declares no input or no output")
        }
    }

    private static func node(_ bytes: ArraySlice<UInt8>, index: Int, file: String) throws(ONNXError) -> Node {
        var r = WireReader(bytes, file: file, part: "node \(index)")
        var node = Node(name: "#\(index)", opType: "", domain: "", inputs: [], outputs: [], attributes: [:])
        while let (field, wire) = try r.nextKey() {
            switch (field, wire) {
            case (1, 2): node.inputs.append(try r.string())
            case (2, 2): node.outputs.append(try r.string())
            case (3, 2):
                let name = try r.string()
                if !name.isEmpty { node.name = name }
            case (4, 2): node.opType = try r.string()
            case (7, 2): node.domain = try r.string()
            case (5, 2):
                let (name, attribute) = try Self.attribute(try r.bytes(), file: file, node: node.name)
                node.attributes[name] = attribute
            default: try r.skip(wire)
            }
        }
        guard !node.opType.isEmpty else { throw ONNXError(file: file, node: node.name, reason: "no op_type") }
        return node
    }

    private static func attribute(_ bytes: ArraySlice<UInt8>, file: String, node: String) throws(ONNXError) -> (
        String, Attribute
    ) {
        var r = WireReader(bytes, file: file, part: "attribute of node \(node)")
        var name = ""
        var type: Int64 = 0
        var (i, f, s): (Int64?, Float?, [UInt8]?) = (nil, nil, nil)
        var ints: [Int64] = []
        var floats: [Float] = []
        var tensor: Value?
        while let (field, wire) = try r.nextKey() {
            switch (field, wire) {
            case (1, 2): name = try r.string()
            case (20, 0): type = try r.varint()
            case (3, 0): i = try r.varint()
            case (2, 5): f = try r.fixed32Float()
            case (4, 2): s = Array(try r.bytes())
            case (5, 2): tensor = try Self.tensor(try r.bytes(), file: file, part: "attribute \(name) of \(node)").1
            case (8, 0): ints.append(try r.varint())
            case (8, 2): ints += try r.packedVarints()
            case (7, 5): floats.append(try r.fixed32Float())
            case (7, 2): floats += try r.packedFloats()
            case (6, 2), (11, 2):
                throw ONNXError(file: file, node: node, reason: "graph attribute \(name) is not supported")
            default: try r.skip(wire)
            }
        }
        // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
        switch type {
        case 1: return (name, .float(f ?? 0))
        case 2: return (name, .int(i ?? 0))
        case 3: return (name, .string(String(decoding: s ?? [], as: UTF8.self)))
        case 4:
            guard let tensor else { throw ONNXError(file: file, node: node, reason: "attribute \(name) has no tensor") }
            return (name, .tensor(tensor))
        case 6: return (name, .floats(floats))
        case 7: return (name, .ints(ints))
        default: throw ONNXError(file: file, node: node, reason: "attribute \(name) has unsupported type \(type)")
        }
    }

    private static func valueInfo(_ bytes: ArraySlice<UInt8>, file: String) throws(ONNXError) -> ValueInfo {
        var r = WireReader(bytes, file: file, part: "value info")
        var info = ValueInfo(name: "", dims: [])
        while let (field, wire) = try r.nextKey() {
            switch (field, wire) {
            case (1, 2): info.name = try r.string()
            case (2, 2):
                // TypeProto.tensor_type (1) → shape (2) → dim (1) → dim_value (1) | dim_param (2).
                var type = WireReader(try r.bytes(), file: file, part: "type of \(info.name)")
                while let (f, w) = try type.nextKey() {
                    guard f == 1, w == 2 else {
                        try type.skip(w)
                        continue
                    }
                    var tensor = WireReader(try type.bytes(), file: file, part: "tensor type of \(info.name)")
                    while let (tf, tw) = try tensor.nextKey() {
                        guard tf == 2, tw == 2 else {
                            try tensor.skip(tw)
                            continue
                        }
                        var shape = WireReader(try tensor.bytes(), file: file, part: "shape of \(info.name)")
                        while let (sf, sw) = try shape.nextKey() {
                            guard sf == 1, sw == 2 else {
                                try shape.skip(sw)
                                continue
                            }
                            var dim = WireReader(try shape.bytes(), file: file, part: "dim of \(info.name)")
                            var value: Int?
                            while let (df, dw) = try dim.nextKey() {
                                if df == 1, dw == 0 {
                                    value = Int(clamping: try dim.varint())
                                } else {
                                    try dim.skip(dw)
                                }
                            }
                            info.dims.append(value)
                        }
                    }
                }
            default: try r.skip(wire)
            }
        }
        return info
    }

    /// A `TensorProto`: its name and values (FLOAT, DOUBLE, FLOAT16 become floats; INT64, INT32,
    /// INT8, UINT8, BOOL become integers), from `raw_data` or the typed fields.
    static func tensor(_ bytes: ArraySlice<UInt8>, file: String, part: String) throws(ONNXError) -> (String, Value) {
        var r = WireReader(bytes, file: file, part: part)
        var dims: [Int64] = []
        var type: Int64 = 0
        var name = ""
        var raw: ArraySlice<UInt8>?
        var floats: [Float] = []
        var ints: [Int64] = []
        var doubles: [Double] = []
        while let (field, wire) = try r.nextKey() {
            switch (field, wire) {
            case (1, 0): dims.append(try r.varint())
            case (1, 2): dims += try r.packedVarints()
            case (2, 0): type = try r.varint()
            case (8, 2): name = try r.string()
            case (9, 2): raw = try r.bytes()
            case (4, 2): floats += try r.packedFloats()
            case (4, 5): floats.append(try r.fixed32Float())
            case (5, 2), (7, 2): ints += try r.packedVarints()
            case (5, 0), (7, 0): ints.append(try r.varint())
            case (10, 2): doubles += try r.packedDoubles()
            case (14, 0):
                if try r.varint() != 0 {
                    throw ONNXError(file: file, node: name, reason: "tensors in external data files are not supported")
                }
            default: try r.skip(wire)
            }
        }
        let place = name.isEmpty ? part : "tensor \(name)"
        guard dims.allSatisfy({ $0 >= 0 && $0 <= maxElements }) else {
            throw ONNXError(file: file, node: place, reason: "dimensions \(dims) out of range")
        }
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= maxElements else {
                throw ONNXError(file: file, node: place, reason: "dimensions \(dims) hold too many elements")
            }
            count = product
        }
        let shape = dims.map { Int($0) }
        func size(_ got: Int) throws(ONNXError) {
            guard got == count else {
                throw ONNXError(file: file, node: place, reason: "\(got) values for dimensions \(dims) (\(count))")
            }
        }
        if let raw {
            let width: Int
            switch type {
            case 1, 6: width = 4
            case 7, 11: width = 8
            case 10, 5: width = 2
            case 2, 3, 9: width = 1
            default: throw ONNXError(file: file, node: place, reason: "unsupported element type \(type)")
            }
            try size(raw.count / width)
            guard raw.count == count * width else {
                throw ONNXError(
                    file: file, node: place, reason: "raw_data has \(raw.count) bytes, not \(count * width)")
            }
            let base = raw.startIndex
            func u64(_ i: Int, _ w: Int) -> UInt64 {
                var v: UInt64 = 0
                for b in 0..<w { v |= UInt64(raw[base + i * w + b]) << (8 * b) }
                return v
            }
            switch type {
            case 1:
                return (name, Value(shape: shape, floats: (0..<count).map { Float(bitPattern: UInt32(u64($0, 4))) }))
            case 11:
                return (name, Value(shape: shape, floats: (0..<count).map { Float(Double(bitPattern: u64($0, 8))) }))
            case 10:
                return (
                    name,
                    Value(shape: shape, floats: (0..<count).map { Float(Float16(bitPattern: UInt16(u64($0, 2)))) })
                )
            case 7: return (name, Value(shape: shape, ints: (0..<count).map { Int64(bitPattern: u64($0, 8)) }))
            case 6:
                return (
                    name, Value(shape: shape, ints: (0..<count).map { Int64(Int32(bitPattern: UInt32(u64($0, 4)))) })
                )
            case 5:
                return (
                    name, Value(shape: shape, ints: (0..<count).map { Int64(Int16(bitPattern: UInt16(u64($0, 2)))) })
                )
            case 3:
                return (name, Value(shape: shape, ints: (0..<count).map { Int64(Int8(bitPattern: UInt8(u64($0, 1)))) }))
            default: return (name, Value(shape: shape, ints: (0..<count).map { Int64(u64($0, 1)) }))
            }
        }
        switch type {
        case 1:
            try size(floats.count)
            return (name, Value(shape: shape, floats: floats))
        case 11:
            try size(doubles.count)
            return (name, Value(shape: shape, floats: doubles.map(Float.init)))
        case 6, 7, 2, 3, 5, 9:
            try size(ints.count)
            return (name, Value(shape: shape, ints: ints))
        default: throw ONNXError(file: file, node: place, reason: "unsupported element type \(type)")
        }
    }
}

/// Protobuf wire-format reading over a byte slice: varints, fixed-width values and
/// length-delimited fields, each checked against the bytes left.
struct WireReader {
    private var remaining: ArraySlice<UInt8>
    private let file: String
    private let part: String

    init(_ bytes: ArraySlice<UInt8>, file: String, part: String) {
        (self.remaining, self.file, self.part) = (bytes, file, part)
    }

    private func fail(_ reason: String) -> ONNXError { ONNXError(file: file, node: part, reason: reason) }

    /// The next field number and wire type, or nil at the end.
    mutating func nextKey() throws(ONNXError) -> (Int, Int)? {
        guard !remaining.isEmpty else { return nil }
        let key = try varint()
        guard key > 0, key >> 3 <= Int64(Int32.max) else { throw fail("malformed field key") }
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func varint() throws(ONNXError) -> Int64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = remaining.first else { throw fail("truncated varint") }
            remaining = remaining.dropFirst()
            guard shift < 64 else { throw fail("varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return Int64(bitPattern: value) }
            shift += 7
        }
    }

    private mutating func take(_ count: Int) throws(ONNXError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining.count else { throw fail("a field runs past the end (\(count) bytes)") }
        let out = remaining.prefix(count)
        remaining = remaining.dropFirst(count)
        return out
    }

    mutating func bytes() throws(ONNXError) -> ArraySlice<UInt8> {
        let length = try varint()
        guard length >= 0, length <= Int64(remaining.count) else { throw fail("a field runs past the end") }
        return try take(Int(length))
    }

    mutating func string() throws(ONNXError) -> String { String(decoding: try bytes(), as: UTF8.self) }

    mutating func fixed32Float() throws(ONNXError) -> Float {
        let b = try take(4)
        let i = b.startIndex
        return Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
    }

    mutating func packedVarints() throws(ONNXError) -> [Int64] {
        var inner = WireReader(try bytes(), file: file, part: part)
        var out: [Int64] = []
        while !inner.remaining.isEmpty { out.append(try inner.varint()) }
        return out
    }

    mutating func packedFloats() throws(ONNXError) -> [Float] {
        var inner = WireReader(try bytes(), file: file, part: part)
        guard inner.remaining.count % 4 == 0 else { throw fail("packed floats of \(inner.remaining.count) bytes") }
        var out: [Float] = []
        while !inner.remaining.isEmpty { out.append(try inner.fixed32Float()) }
        return out
    }

    mutating func packedDoubles() throws(ONNXError) -> [Double] {
        let raw = try bytes()
        guard raw.count % 8 == 0 else { throw fail("packed doubles of \(raw.count) bytes") }
        return stride(from: raw.startIndex, to: raw.endIndex, by: 8).map { start in
            var v: UInt64 = 0
            for b in 0..<8 { v |= UInt64(raw[start + b]) << (8 * b) }
            return Double(bitPattern: v)
        }
    }

    /// Skips a field of wire type `wire`.
    mutating func skip(_ wire: Int) throws(ONNXError) {
        switch wire {
        case 0: _ = try varint()
        case 1: _ = try take(8)
        case 2: _ = try bytes()
        case 5: _ = try take(4)
        default: throw fail("unsupported wire type \(wire)")
        }
    }
}
