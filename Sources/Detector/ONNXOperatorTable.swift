import Compute

/// One node being evaluated: its inputs (nil for an omitted optional one), the graph it belongs to
/// and the error helpers every operator uses.
struct OperatorCall {
    let node: Node
    /// The node's index in ``ONNXModel/nodes``.
    let index: Int
    let args: [Value?]
    let graph: ONNXGraph

    func fail(_ reason: String) -> ONNXError { ONNXError(file: graph.model.path, node: node.name, reason: reason) }

    /// Input `i`, which must be given.
    func arg(_ i: Int) throws(ONNXError) -> Value {
        guard i < args.count, let value = args[i] else { throw fail("input \(i) missing") }
        return value
    }

    /// Input `i` when given (an optional input).
    func optionalArg(_ i: Int) -> Value? { i < args.count ? args[i] : nil }

    func floats(_ v: Value) throws(ONNXError) -> [Float] {
        guard case .float(let f) = v.data else { throw fail("expected a float tensor") }
        return f
    }

    func ints(_ v: Value) -> [Int64] {
        switch v.data {
        case .int(let i): return i
        case .float(let f): return f.map { Int64($0) }
        }
    }
}

/// An operator the runtime implements: the attributes it accepts, what it refuses of their values
/// at load, and how it evaluates.
struct Operator: Sendable {
    var attributes: Set<String> = []
    var check: @Sendable (Node, (String) -> ONNXError) throws(ONNXError) -> Void = { _, _ in }
    var evaluate: @Sendable (OperatorCall) throws(ONNXError) -> [Value]

    /// Refuses an attribute the operator does not take, then the operator's own checks.
    func checkAttributes(_ node: Node, _ fail: (String) -> ONNXError) throws(ONNXError) {
        for name in node.attributes.keys where !attributes.contains(name) {
            throw fail("unsupported attribute \(name) of \(node.opType)")
        }
        try check(node, fail)
    }
}

/// The operators of YOLOv8's export (opset 11–17), by ONNX name.
enum ONNXOperators {
    static let table: [String: Operator] = [
        "Conv": Operator(
            attributes: ["dilations", "group", "kernel_shape", "pads", "strides", "auto_pad"], check: noAutoPad,
            evaluate: { call throws(ONNXError) in try call.graph.convolution(call, [try call.arg(0)]) }),
        "MaxPool": Operator(
            attributes: ["ceil_mode", "dilations", "kernel_shape", "pads", "strides", "auto_pad", "storage_order"],
            check: { node, fail throws(ONNXError) in
                try noAutoPad(node, fail)
                if node.int("storage_order") ?? 0 != 0 { throw fail("storage_order") }
            },
            evaluate: { call throws(ONNXError) in [try call.graph.maxPool(call, try call.arg(0))] }),
        "Resize": Operator(
            attributes: [
                "coordinate_transformation_mode", "cubic_coeff_a", "mode", "nearest_mode", "exclude_outside",
                "extrapolation_value",
            ],
            check: { node, fail throws(ONNXError) in
                if case .string(let mode) = node.attributes["mode"], mode != "nearest" {
                    throw fail("Resize mode \(mode)")
                }
            },
            evaluate: { call throws(ONNXError) in [try call.graph.resize(call.node, call.args, fail: call.fail)] }),
        "Sigmoid": Operator(evaluate: sigmoid),
        "Add": binary, "Sub": binary, "Mul": binary, "Div": binary,
        "Identity": Operator(evaluate: { call throws(ONNXError) in [try call.arg(0)] }),
        "Constant": Operator(
            attributes: ["value"],
            evaluate: { call throws(ONNXError) in
                guard case .tensor(let value) = call.node.attributes["value"] else {
                    throw call.fail("Constant without a tensor value")
                }
                return [value]
            }),
        "Concat": Operator(
            attributes: ["axis"],
            evaluate: { call throws(ONNXError) in
                [try Layout.concat(call.args.compactMap { $0 }, axis: Int(call.node.int("axis") ?? 0), fail: call.fail)]
            }),
        "Split": Operator(attributes: ["axis", "num_outputs"], evaluate: split),
        "Reshape": Operator(
            attributes: ["allowzero"],
            evaluate: { call throws(ONNXError) in
                [
                    try Layout.reshape(
                        try call.arg(0), to: call.ints(try call.arg(1)), allowZero: call.node.int("allowzero") == 1,
                        fail: call.fail)
                ]
            }),
        "Transpose": Operator(
            attributes: ["perm"],
            evaluate: { call throws(ONNXError) in
                let x = try call.arg(0)
                let perm = call.node.ints("perm")?.map(Int.init) ?? Array((0..<x.shape.count).reversed())
                return [try Layout.transpose(x, perm: perm, fail: call.fail)]
            }),
        "Softmax": Operator(
            attributes: ["axis"],
            evaluate: { call throws(ONNXError) in
                [
                    try Elementwise.softmax(
                        try call.arg(0), axis: Int(call.node.int("axis") ?? -1), compute: call.graph.compute,
                        fail: call.fail)
                ]
            }),
        "Slice": Operator(evaluate: slice),
        "Shape": Operator(attributes: ["start", "end"], evaluate: shape),
        "Gather": Operator(
            attributes: ["axis"],
            evaluate: { call throws(ONNXError) in
                [
                    try Layout.gather(
                        try call.arg(0), indices: try call.arg(1), axis: Int(call.node.int("axis") ?? 0),
                        fail: call.fail)
                ]
            }),
        "Unsqueeze": Operator(attributes: ["axes"], evaluate: unsqueeze),
        "Range": Operator(evaluate: range),
        "Expand": Operator(
            evaluate: { call throws(ONNXError) in
                [try Elementwise.expand(try call.arg(0), to: call.ints(try call.arg(1)).map(Int.init), fail: call.fail)]
            }),
        "ConstantOfShape": Operator(attributes: ["value"], evaluate: constantOfShape),
        "Cast": Operator(
            attributes: ["to", "saturate"],
            check: { node, fail throws(ONNXError) in
                guard [1, 7, 6, 11, 9].contains(node.int("to") ?? 0) else {
                    throw fail("Cast to type \(node.int("to") ?? 0)")
                }
            },
            evaluate: cast),
    ]

    private static func noAutoPad(_ node: Node, _ fail: (String) -> ONNXError) throws(ONNXError) {
        if case .string(let pad) = node.attributes["auto_pad"], pad != "NOTSET" { throw fail("auto_pad \(pad)") }
    }

    private static let binary = Operator(evaluate: { call throws(ONNXError) in
        [try Elementwise.binary(call.node.opType, try call.arg(0), try call.arg(1), fail: call.fail)]
    })

    private static func sigmoid(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let x = try call.arg(0)
        var values = try call.floats(x)
        values.withUnsafeMutableBufferPointer { v in
            if let start = v.baseAddress {
                Activation.sigmoid.apply(start, count: v.count, compute: call.graph.compute)
            }
        }
        return [Value(shape: x.shape, floats: values)]
    }

    private static func split(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let x = try call.arg(0)
        let axis = try Layout.axis(Int(call.node.int("axis") ?? 0), rank: x.shape.count, fail: call.fail)
        var sizes: [Int]
        if let split = call.optionalArg(1) {
            sizes = call.ints(split).map(Int.init)
        } else {
            let parts = call.node.outputs.count
            guard x.shape[axis] % parts == 0 else { throw call.fail("cannot split \(x.shape[axis]) into \(parts)") }
            sizes = Array(repeating: x.shape[axis] / parts, count: parts)
        }
        return try Layout.split(x, axis: axis, sizes: sizes, fail: call.fail)
    }

    private static func slice(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let x = try call.arg(0)
        let starts = call.ints(try call.arg(1))
        let ends = call.ints(try call.arg(2))
        let axes = call.optionalArg(3).map(call.ints) ?? starts.indices.map { Int64($0) }
        let steps = call.optionalArg(4).map(call.ints) ?? starts.map { _ in 1 }
        return [try Layout.slice(x, starts: starts, ends: ends, axes: axes, steps: steps, fail: call.fail)]
    }

    private static func shape(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let shape = try call.arg(0).shape.map { Int64($0) }
        let rank = shape.count
        var start = Int(call.node.int("start") ?? 0)
        var end = Int(call.node.int("end") ?? Int64(rank))
        if start < 0 { start += rank }
        if end < 0 { end += rank }
        (start, end) = (max(0, min(start, rank)), max(0, min(end, rank)))
        let part = Array(shape[start..<max(start, end)])
        return [Value(shape: [part.count], ints: part)]
    }

    private static func unsqueeze(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let x = try call.arg(0)
        let axes = call.optionalArg(1).map(call.ints) ?? (call.node.ints("axes") ?? [])
        let rank = x.shape.count + axes.count
        var shape = x.shape
        for a in axes.map({ Int($0) < 0 ? Int($0) + rank : Int($0) }).sorted() {
            guard a >= 0, a <= shape.count else { throw call.fail("Unsqueeze axis \(a)") }
            shape.insert(1, at: a)
        }
        return [Value(shape: shape, data: x.data)]
    }

    private static func range(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let (start, limit, delta) = (try call.arg(0), try call.arg(1), try call.arg(2))
        guard start.count > 0, limit.count > 0, delta.count > 0 else { throw call.fail("Range needs scalar bounds") }
        if case .int = start.data {
            let (s, l, d) = (call.ints(start)[0], call.ints(limit)[0], call.ints(delta)[0])
            guard d != 0 else { throw call.fail("Range delta 0") }
            let n = max(0, Int(((Double(l - s)) / Double(d)).rounded(.up)))
            guard n <= ONNXModel.maxElements else { throw call.fail("Range of \(n) elements") }
            return [Value(shape: [n], ints: (0..<n).map { s + Int64($0) * d })]
        }
        let (s, l, d) = (try call.floats(start)[0], try call.floats(limit)[0], try call.floats(delta)[0])
        guard d != 0, s.isFinite, l.isFinite else { throw call.fail("Range bounds") }
        let n = max(0, Int(((l - s) / d).rounded(.up)))
        guard n <= ONNXModel.maxElements else { throw call.fail("Range of \(n) elements") }
        return [Value(shape: [n], floats: (0..<n).map { s + Float($0) * d })]
    }

    private static func constantOfShape(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let shape = call.ints(try call.arg(0)).map(Int.init)
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) <= ONNXModel.maxElements else {
            throw call.fail("ConstantOfShape \(shape)")
        }
        let count = shape.reduce(1, *)
        if case .tensor(let value) = call.node.attributes["value"] {
            switch value.data {
            case .float(let f): return [Value(shape: shape, floats: Array(repeating: f.first ?? 0, count: count))]
            case .int(let i): return [Value(shape: shape, ints: Array(repeating: i.first ?? 0, count: count))]
            }
        }
        return [Value(shape: shape, floats: Array(repeating: 0, count: count))]
    }

    private static func cast(_ call: OperatorCall) throws(ONNXError) -> [Value] {
        let x = try call.arg(0)
        switch call.node.int("to") {
        case 1, 11:
            switch x.data {
            case .float(let f): return [Value(shape: x.shape, floats: f)]
            case .int(let i): return [Value(shape: x.shape, floats: i.map(Float.init))]
            }
        default: return [Value(shape: x.shape, ints: call.ints(x))]
        }
    }
}
