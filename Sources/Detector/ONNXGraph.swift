import Compute
import Foundation
import GuardrailCore

/// An ONNX graph ready to run: its operators checked at load (an unknown operator, an unsupported
/// attribute, a missing input or a cycle is an ``ONNXError`` naming the node), convolutions on the
/// engine's GEMM kernel (1×1 ones reading their input in place, 3×3 stride-1 ones by Winograd, 3×3
/// stride-2 ones on few channels directly, the rest by im2col a cache-sized block at a time).
/// Fused without changing a bit: Conv → Sigmoid → Mul (SiLU), Concat → 1×1 Conv (with a nearest
/// upsampling as its first part taken at the low resolution), and sibling Winograd Convs of one
/// input. Each value is dropped after its last reader, and the shape arithmetic (`Shape` and what
/// depends only on shapes and constants) is evaluated once per input size and reused.
public final class ONNXGraph: @unchecked Sendable {
    public let model: ONNXModel
    public let compute: ComputeConfiguration
    /// Operators the runtime implements (YOLOv8's export, opset 11–17).
    public static let supportedOperators: Set<String> = [
        "Conv", "Sigmoid", "Mul", "Add", "Sub", "Div", "Concat", "Split", "MaxPool", "Resize", "Reshape",
        "Transpose", "Softmax", "Slice", "Shape", "Gather", "Unsqueeze", "Range", "Expand", "ConstantOfShape", "Cast",
        "Constant", "Identity",
    ]

    /// What the run loop does with each node, every value named by its slot in the run's array of
    /// values (resolved once here, so a run hashes no names).
    private struct Step {
        /// The node's inputs' slots (nil for an omitted optional input), and its outputs'.
        var inputs: [Int?]
        var outputs: [Int?]
        /// How many outputs it must produce (its non-empty output names).
        var required: Int
        /// Its output depends only on constants and input shapes (folded once per input size).
        var shapeOnly = false
        /// Fused into a neighbour (a Sigmoid and Mul of a SiLU, a Concat read in place by a Conv).
        var skipped = false
        /// For a Conv → Sigmoid → Mul chain (SiLU) computed in the convolution's output: the Mul's
        /// output slot, where the Conv's result goes.
        var fused: Int?
        /// For a 1×1 Conv of a channel Concat used by nothing else: the Concat's input slots, which
        /// it reads in place (the Concat is skipped, its copy never made).
        var concatenated: [Int]?
        /// For such a Conv whose first part is a nearest upsampling used by nothing else: the
        /// Resize's node index. The Resize is skipped; when it replicates pixels by whole factors,
        /// the Conv multiplies that part at the low resolution and upsamples the product (a 1×1
        /// Conv commutes with replication: the same sums, a quarter of them at 2×), else it
        /// resizes first.
        var upsampled: Int?
        /// For the first of several stride-1 3×3 Convs of one input with the same padding and
        /// activation (YOLO's box and class branches): the others' output slots and channel
        /// counts. It runs them all as one, their weights stacked after its own (one Winograd
        /// input transform instead of one each, the same bits), and they are skipped.
        var siblings: [(slot: Int, channels: Int)] = []
        /// The values this node reads last, dropped after it runs so that their memory is reused
        /// (and still in cache) for the next ones instead of all staying alive until the end.
        var releases: [Int] = []
    }
    private var steps: [Step] = []
    /// The slot of every value name (initializers, graph inputs, node outputs).
    private var slots: [String: Int] = [:]
    /// The initializers in their slots: where every run's values start.
    private var initialValues: [Value?] = []
    /// A Conv as read and checked at load.
    private struct Convolution {
        /// The weight as `[M, C·kH·kW]`, its shape `[M, C, kH, kW]`, and the bias.
        var weight: [Float]
        var shape: [Int]
        var bias: [Float]?
        var strides: [Int]
        var dilations: [Int]
        /// Top, left, bottom, right.
        var pads: [Int]
        /// A stride-1 3×3 Conv on the packed kernel, which may run by Winograd.
        var winograd: Bool
    }
    /// Each Conv node's ``Convolution`` by node index (nil for other nodes).
    private var convolutions: [Convolution?] = []
    /// Winograd weight transforms by Conv index and tile side, made on first use (the tile
    /// depends on the map size).
    private var winogradWeights: [[Int]: [Float]] = [:]
    /// The shape arithmetic's values (slot and value) by input shapes.
    private var folded: [[Int]: [(Int, Value)]] = [:]
    private let lock = NSLock()

    public init(_ model: ONNXModel, compute: ComputeConfiguration = .default) throws(ONNXError) {
        self.model = model
        self.compute = compute
        var known = Set(model.initializers.keys).union(model.inputs.map(\.name))
        known.insert("")
        var constant = Set(model.initializers.keys)
        constant.insert("")
        var shapeOnly = Set<Int>()
        for (index, node) in model.nodes.enumerated() {
            func fail(_ reason: String) -> ONNXError { ONNXError(file: model.path, node: node.name, reason: reason) }
            guard node.domain.isEmpty || node.domain == "ai.onnx" else { throw fail("operator domain \(node.domain)") }
            guard Self.supportedOperators.contains(node.opType) else {
                throw fail("unsupported operator \(node.opType)")
            }
            for input in node.inputs where !known.contains(input) {
                // Graph order is topological in a valid model; anything else is a cycle or a missing value.
                throw fail("input \(input) is neither an initializer, a graph input nor an earlier node's output")
            }
            try Self.checkAttributes(node, fail: fail)
            try Self.checkOutputs(node, known: known, fail: fail)
            if node.opType == "Shape" || node.opType == "Constant" || node.inputs.allSatisfy(constant.contains) {
                shapeOnly.insert(index)
                for output in node.outputs { constant.insert(output) }
            }
            for output in node.outputs { known.insert(output) }
        }
        for output in model.outputs where !known.contains(output.name) {
            throw ONNXError(file: model.path, node: output.name, reason: "no node produces the graph output")
        }
        var fusedSiLU: [Int: String] = [:]
        var skipped = Set<Int>()
        var concatenated: [Int: [String]] = [:]
        var upsampled: [Int: Int] = [:]
        // SiLU fusion: y = Conv(x), s = Sigmoid(y), z = Mul(y, s), y and s used nowhere else.
        var uses: [String: [Int]] = [:]
        for (index, node) in model.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { uses[input, default: []].append(index) }
        }
        let graphOutputs = Set(model.outputs.map(\.name))
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" && node.outputs.count == 1 {
            let y = node.outputs[0]
            guard !graphOutputs.contains(y), let users = uses[y], users.count == 2 else { continue }
            let nodes = users.map { model.nodes[$0] }
            guard let sig = users.first(where: { model.nodes[$0].opType == "Sigmoid" }),
                let mul = users.first(where: { model.nodes[$0].opType == "Mul" }), nodes.count == 2,
                let s = model.nodes[sig].outputs.first, uses[s] == [mul], !graphOutputs.contains(s),
                Set(model.nodes[mul].inputs) == [y, s], let z = model.nodes[mul].outputs.first
            else { continue }
            fusedSiLU[index] = z
            skipped.formUnion([sig, mul])
        }
        var producer: [String: Int] = [:]
        for (index, node) in model.nodes.enumerated() {
            for output in node.outputs { producer[output] = index }
        }
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" {
            guard node.unitSteps, node.ints("pads")?.allSatisfy({ $0 == 0 }) ?? true, node.inputs.count >= 2,
                let w = model.initializers[node.inputs[1]], w.shape.count == 4, w.shape[2] == 1, w.shape[3] == 1,
                let x = node.inputs.first, !graphOutputs.contains(x), uses[x] == [index], let concat = producer[x],
                model.nodes[concat].opType == "Concat", model.nodes[concat].int("axis") == 1,
                !shapeOnly.contains(concat), !model.nodes[concat].inputs.contains("")
            else { continue }
            concatenated[index] = model.nodes[concat].inputs
            skipped.insert(concat)
            // A nearest upsampling as the first part (YOLO's neck): the 1×1 Conv may take its share
            // at the low resolution and upsample that instead (see `Step.upsampled`).
            // Packed kernels only: their sums run in an order the engine fixes, whatever the product's
            // width, while OpenBLAS's may differ between the low- and full-resolution widths.
            let first = model.nodes[concat].inputs[0]
            if compute.packed, let resize = producer[first], model.nodes[resize].opType == "Resize",
                uses[first] == [concat],
                !graphOutputs.contains(first), !shapeOnly.contains(resize)
            {
                upsampled[index] = resize
                skipped.insert(resize)
            }
        }
        var lastReader: [String: Int] = [:]
        for (index, node) in model.nodes.enumerated() {
            let deferred = upsampled[index].map { model.nodes[$0].inputs } ?? []
            for name in (concatenated[index] ?? []) + deferred + (skipped.contains(index) ? [] : node.inputs) {
                lastReader[name] = index
            }
        }
        for name in model.initializers.keys.sorted() + model.inputs.map(\.name) + model.nodes.flatMap(\.outputs)
        where !name.isEmpty && slots[name] == nil {
            slots[name] = slots.count
        }
        initialValues = [Value?](repeating: nil, count: slots.count)
        for (name, value) in model.initializers { initialValues[slots[name]!] = value }
        steps = model.nodes.enumerated().map { index, node in
            Step(
                inputs: node.inputs.map { slots[$0] }, outputs: node.outputs.map { slots[$0] },
                required: node.outputs.filter { !$0.isEmpty }.count, shapeOnly: shapeOnly.contains(index),
                skipped: skipped.contains(index), fused: fusedSiLU[index].map { slots[$0]! },
                concatenated: concatenated[index].map { $0.map { slots[$0]! } }, upsampled: upsampled[index])
        }
        for (name, index) in lastReader
        where !name.isEmpty && !graphOutputs.contains(name) && model.initializers[name] == nil {
            steps[index].releases.append(slots[name]!)
        }
        convolutions = Array(repeating: nil, count: model.nodes.count)
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" {
            guard node.inputs.count >= 2, let w = model.initializers[node.inputs[1]], w.shape.count == 4,
                case .float(let weights) = w.data
            else {
                throw ONNXError(file: model.path, node: node.name, reason: "Conv needs a 4-D float weight initializer")
            }
            var bias: [Float]?
            if node.inputs.count > 2, !node.inputs[2].isEmpty {
                guard let b = model.initializers[node.inputs[2]], b.shape == [w.shape[0]],
                    case .float(let values) = b.data
                else {
                    throw ONNXError(
                        file: model.path, node: node.name, reason: "Conv bias must be a float initializer [M]")
                }
                bias = values
            }
            let group = Int(node.int("group") ?? 1)
            guard group == 1 else {
                throw ONNXError(file: model.path, node: node.name, reason: "grouped convolution (group \(group))")
            }
            let strides = node.ints("strides")?.map(Int.init) ?? [1, 1]
            let dilations = node.ints("dilations")?.map(Int.init) ?? [1, 1]
            let pads = node.ints("pads")?.map(Int.init) ?? [0, 0, 0, 0]
            guard strides.count == 2, dilations.count == 2, pads.count == 4, strides.allSatisfy({ $0 > 0 }),
                dilations.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 })
            else {
                throw ONNXError(file: model.path, node: node.name, reason: "Conv strides, dilations or pads malformed")
            }
            convolutions[index] = Convolution(
                weight: weights, shape: w.shape, bias: bias, strides: strides, dilations: dilations, pads: pads,
                winograd: compute.packed && node.unitSteps && w.shape[2] == 3 && w.shape[3] == 3)
        }
        var siblings: [String: [Int]] = [:]
        for (index, conv) in convolutions.enumerated() {
            guard let conv, conv.winograd, steps[index].concatenated == nil, !steps[index].skipped,
                let x = model.nodes[index].inputs.first
            else { continue }
            siblings["\(x) \(conv.pads) \(steps[index].fused != nil) \(conv.bias != nil)", default: []].append(index)
        }
        for members in siblings.values where members.count > 1 {
            let (first, others) = (members[0], members.dropFirst())
            let stacked = members.map { convolutions[$0]! }
            convolutions[first]!.weight = stacked.flatMap(\.weight)
            convolutions[first]!.shape[0] = stacked.reduce(0) { $0 + $1.shape[0] }
            convolutions[first]!.bias = stacked[0].bias == nil ? nil : stacked.flatMap { $0.bias! }
            steps[first].siblings = others.map {
                (steps[$0].fused ?? steps[$0].outputs[0]!, convolutions[$0]!.shape[0])
            }
            for other in others {
                steps[other].skipped = true
                convolutions[other] = nil
            }
        }
    }

    /// Split has one output per part, every other operator exactly one; each names a new value, so
    /// everything later read by output name exists and is written once.
    private static func checkOutputs(_ node: Node, known: Set<String>, fail: (String) -> ONNXError) throws(ONNXError) {
        guard node.opType == "Split" ? !node.outputs.isEmpty : node.outputs.count == 1 else {
            throw fail("\(node.opType) has \(node.outputs.count) outputs")
        }
        for output in node.outputs {
            guard !output.isEmpty else { throw fail("an output of \(node.opType) has no name") }
            guard !known.contains(output) else { throw fail("output \(output) is already a value of the graph") }
        }
        guard Set(node.outputs).count == node.outputs.count else { throw fail("an output is named twice") }
    }

    private static func checkAttributes(_ node: Node, fail: (String) -> ONNXError) throws(ONNXError) {
        let allowed: [String: Set<String>] = [
            "Conv": ["dilations", "group", "kernel_shape", "pads", "strides", "auto_pad"],
            "Concat": ["axis"], "Split": ["axis", "num_outputs"], "Gather": ["axis"], "Cast": ["to", "saturate"],
            "MaxPool": ["ceil_mode", "dilations", "kernel_shape", "pads", "strides", "auto_pad", "storage_order"],
            "ConstantOfShape": ["value"], "Transpose": ["perm"], "Softmax": ["axis"], "Reshape": ["allowzero"],
            "Resize": [
                "coordinate_transformation_mode", "cubic_coeff_a", "mode", "nearest_mode", "exclude_outside",
                "extrapolation_value",
            ],
            "Shape": ["start", "end"], "Constant": ["value"], "Unsqueeze": ["axes"],
        ]
        for name in node.attributes.keys where !(allowed[node.opType]?.contains(name) ?? false) {
            throw fail("unsupported attribute \(name) of \(node.opType)")
        }
        switch node.opType {
        case "Conv", "MaxPool":
            if case .string(let pad) = node.attributes["auto_pad"], pad != "NOTSET" { throw fail("auto_pad \(pad)") }
            if node.opType == "MaxPool", node.int("storage_order") ?? 0 != 0 { throw fail("storage_order") }
        case "Resize":
            if case .string(let mode) = node.attributes["mode"], mode != "nearest" { throw fail("Resize mode \(mode)") }
        case "Cast":
            guard [1, 7, 6, 11, 9].contains(node.int("to") ?? 0) else {
                throw fail("Cast to type \(node.int("to") ?? 0)")
            }
        default: break
        }
    }

    /// Runs the graph on `inputs` (by name) and returns the declared outputs; `observe`, when
    /// given, learns how long each node evaluated (its index in ``ONNXModel/nodes``, seconds).
    /// Skipped nodes (fused into a neighbour, or shape arithmetic already folded) are not reported.
    public func run(_ inputs: [String: Value], observe: ((_ node: Int, _ seconds: Double) -> Void)? = nil)
        throws(ONNXError) -> [String: Value]
    {
        var values = initialValues
        for input in model.inputs {
            guard let value = inputs[input.name] else {
                throw ONNXError(file: model.path, node: input.name, reason: "graph input not given")
            }
            guard value.shape.count == input.dims.count,
                zip(value.shape, input.dims).allSatisfy({ $1 == nil || $0 == $1 })
            else {
                throw ONNXError(
                    file: model.path, node: input.name, reason: "shape \(value.shape) does not fit \(input.dims)")
            }
            values[slots[input.name]!] = value
        }
        let key = model.inputs.flatMap { values[slots[$0.name]!]!.shape }
        let cached = lock.withLock { folded[key] }
        for (slot, value) in cached ?? [] { values[slot] = value }
        var fresh: [(Int, Value)] = []
        for (index, step) in steps.enumerated() {
            defer { for slot in step.releases { values[slot] = nil } }
            if step.skipped || (cached != nil && step.shapeOnly) { continue }
            let node = model.nodes[index]
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let results: [Value]
            if let parts = step.concatenated {
                let (inputs, factors) = try concatenatedParts(of: node, parts, upsampler: step.upsampled, values)
                results = try convolution(node, index: index, inputs, upsampled: factors) {
                    ONNXError(file: model.path, node: node.name, reason: $0)
                }
            } else {
                results = try evaluate(node, index: index, step.inputs.map { $0.flatMap { values[$0] } })
            }
            if let observe { observe(index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            for (sibling, value) in zip(step.siblings, results.dropFirst()) { values[sibling.slot] = value }
            if let fused = step.fused {
                values[fused] = results[0]
                continue
            }
            guard results.count >= step.required else {
                throw ONNXError(file: model.path, node: node.name, reason: "produced \(results.count) outputs")
            }
            for (slot, value) in zip(step.outputs, results) {
                guard let slot else { continue }
                values[slot] = value
                if step.shapeOnly { fresh.append((slot, value)) }
            }
        }
        if cached == nil { lock.withLock { folded[key] = fresh } }
        var out: [String: Value] = [:]
        for output in model.outputs { out[output.name] = values[slots[output.name]!] }
        return out
    }

    /// A fused Concat's inputs for its 1×1 Conv (see `Step.concatenated`); for an upsampled first
    /// part (`Step.upsampled`), the Resize's input and its whole factors when it replicates pixels,
    /// else the Resize's output.
    private func concatenatedParts(of conv: Node, _ parts: [Int], upsampler: Int?, _ values: [Value?])
        throws(ONNXError) -> ([Value], (Int, Int)?)
    {
        var inputs = parts.compactMap { values[$0] }
        var factors: (Int, Int)?
        if let upsampler {
            let node = model.nodes[upsampler]
            func fail(_ reason: String) -> ONNXError { ONNXError(file: model.path, node: node.name, reason: reason) }
            let args = steps[upsampler].inputs.map { $0.flatMap { values[$0] } }
            let (x, shape, rows, columns) = try nearestMaps(node, args, fail: fail)
            let (sy, sx) = (shape[2] / x.shape[2], shape[3] / x.shape[3])
            if sy >= 1, sx >= 1, shape[2] == sy * x.shape[2], shape[3] == sx * x.shape[3],
                (0..<shape[2]).allSatisfy({ rows[$0] == $0 / sy }),
                (0..<shape[3]).allSatisfy({ columns[$0] == $0 / sx })
            {
                (inputs, factors) = ([x] + inputs, (sy, sx))
            } else {
                inputs = [try resize(node, args, fail: fail)] + inputs
            }
        }
        guard inputs.count == parts.count else {
            throw ONNXError(file: model.path, node: conv.name, reason: "a concatenated input is missing")
        }
        return (inputs, factors)
    }

    private func evaluate(_ node: Node, index: Int, _ args: [Value?]) throws(ONNXError) -> [Value] {
        func fail(_ reason: String) -> ONNXError { ONNXError(file: model.path, node: node.name, reason: reason) }
        func arg(_ i: Int) throws(ONNXError) -> Value {
            guard i < args.count, let value = args[i] else { throw fail("input \(i) missing") }
            return value
        }
        func floats(_ v: Value) throws(ONNXError) -> [Float] {
            guard case .float(let f) = v.data else { throw fail("expected a float tensor") }
            return f
        }
        func ints(_ v: Value) throws(ONNXError) -> [Int64] {
            switch v.data {
            case .int(let i): return i
            case .float(let f): return f.map { Int64($0) }
            }
        }
        switch node.opType {
        case "Conv": return try convolution(node, index: index, [try arg(0)], fail: fail)
        case "Sigmoid":
            let x = try arg(0)
            var values = try floats(x)
            values.withUnsafeMutableBufferPointer { v in
                if let start = v.baseAddress { Activation.sigmoid.apply(start, count: v.count, compute: compute) }
            }
            return [Value(shape: x.shape, floats: values)]
        case "Add", "Sub", "Mul", "Div":
            return [try Elementwise.binary(node.opType, try arg(0), try arg(1), fail: fail)]
        case "Identity": return [try arg(0)]
        case "Constant":
            guard case .tensor(let value) = node.attributes["value"] else {
                throw fail("Constant without a tensor value")
            }
            return [value]
        case "Concat":
            return [try Layout.concat(args.compactMap { $0 }, axis: Int(node.int("axis") ?? 0), fail: fail)]
        case "Split":
            let x = try arg(0)
            let axis = try Layout.axis(Int(node.int("axis") ?? 0), rank: x.shape.count, fail: fail)
            var sizes: [Int]
            if args.count > 1, let split = args[1] {
                sizes = try ints(split).map(Int.init)
            } else {
                let parts = node.outputs.count
                guard x.shape[axis] % parts == 0 else { throw fail("cannot split \(x.shape[axis]) into \(parts)") }
                sizes = Array(repeating: x.shape[axis] / parts, count: parts)
            }
            return try Layout.split(x, axis: axis, sizes: sizes, fail: fail)
        case "MaxPool": return [try maxPool(node, try arg(0), fail: fail)]
        case "Resize": return [try resize(node, args, fail: fail)]
        case "Reshape":
            return [
                try Layout.reshape(
                    try arg(0), to: try ints(try arg(1)), allowZero: node.int("allowzero") == 1, fail: fail)
            ]
        case "Transpose":
            let x = try arg(0)
            let perm = node.ints("perm")?.map(Int.init) ?? Array((0..<x.shape.count).reversed())
            return [try Layout.transpose(x, perm: perm, fail: fail)]
        case "Softmax":
            return [
                try Elementwise.softmax(
                    try arg(0), axis: Int(node.int("axis") ?? -1), compute: compute, fail: fail)
            ]
        case "Slice":
            let x = try arg(0)
            let starts = try ints(try arg(1))
            let ends = try ints(try arg(2))
            let axes = args.count > 3 && args[3] != nil ? try ints(args[3]!) : starts.indices.map { Int64($0) }
            let steps = args.count > 4 && args[4] != nil ? try ints(args[4]!) : starts.map { _ in 1 }
            return [try Layout.slice(x, starts: starts, ends: ends, axes: axes, steps: steps, fail: fail)]
        case "Shape":
            let shape = try arg(0).shape.map { Int64($0) }
            let rank = shape.count
            var start = Int(node.int("start") ?? 0)
            var end = Int(node.int("end") ?? Int64(rank))
            if start < 0 { start += rank }
            if end < 0 { end += rank }
            (start, end) = (max(0, min(start, rank)), max(0, min(end, rank)))
            let part = Array(shape[start..<max(start, end)])
            return [Value(shape: [part.count], ints: part)]
        case "Gather":
            return [try Layout.gather(try arg(0), indices: try arg(1), axis: Int(node.int("axis") ?? 0), fail: fail)]
        case "Unsqueeze":
            let x = try arg(0)
            let axes = args.count > 1 && args[1] != nil ? try ints(args[1]!) : (node.ints("axes") ?? [])
            let rank = x.shape.count + axes.count
            var shape = x.shape
            for a in axes.map({ Int($0) < 0 ? Int($0) + rank : Int($0) }).sorted() {
                guard a >= 0, a <= shape.count else { throw fail("Unsqueeze axis \(a)") }
                shape.insert(1, at: a)
            }
            return [Value(shape: shape, data: x.data)]
        case "Range":
            let (start, limit, delta) = (try arg(0), try arg(1), try arg(2))
            if case .int = start.data {
                let (s, l, d) = (try ints(start)[0], try ints(limit)[0], try ints(delta)[0])
                guard d != 0 else { throw fail("Range delta 0") }
                let n = max(0, Int(((Double(l - s)) / Double(d)).rounded(.up)))
                guard n <= ONNXModel.maxElements else { throw fail("Range of \(n) elements") }
                return [Value(shape: [n], ints: (0..<n).map { s + Int64($0) * d })]
            }
            let (s, l, d) = (try floats(start)[0], try floats(limit)[0], try floats(delta)[0])
            guard d != 0, s.isFinite, l.isFinite else { throw fail("Range bounds") }
            let n = max(0, Int(((l - s) / d).rounded(.up)))
            guard n <= ONNXModel.maxElements else { throw fail("Range of \(n) elements") }
            return [Value(shape: [n], floats: (0..<n).map { s + Float($0) * d })]
        case "Expand":
            return [try Elementwise.expand(try arg(0), to: try ints(try arg(1)).map(Int.init), fail: fail)]
        case "ConstantOfShape":
            let shape = try ints(try arg(0)).map(Int.init)
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) <= ONNXModel.maxElements else {
                throw fail("ConstantOfShape \(shape)")
            }
            let count = shape.reduce(1, *)
            if case .tensor(let value) = node.attributes["value"] {
                switch value.data {
                case .float(let f): return [Value(shape: shape, floats: Array(repeating: f.first ?? 0, count: count))]
                case .int(let i): return [Value(shape: shape, ints: Array(repeating: i.first ?? 0, count: count))]
                }
            }
            return [Value(shape: shape, floats: Array(repeating: 0, count: count))]
        case "Cast":
            let x = try arg(0)
            switch node.int("to") {
            case 1, 11:
                return [
                    Value(
                        shape: x.shape,
                        floats: try { () throws(ONNXError) -> [Float] in
                            switch x.data {
                            case .float(let f): return f
                            case .int(let i): return i.map(Float.init)
                            }
                        }())
                ]
            default: return [Value(shape: x.shape, ints: try ints(x))]
            }
        default: throw fail("unsupported operator \(node.opType)")
        }
    }

    /// Conv, NCHW, of the channel concatenation of `parts` (one tensor but for a fused Concat).
    /// A 1×1 Conv is one product of the weight with the input read in place, part by part; a
    /// stride-1 3×3 one runs by Winograd where that needs fewer products; the others by im2col:
    /// row `(c, ky, kx)` of the column matrix holds that tap's input for every output pixel, so
    /// `out[M, pixels] = W · cols` comes out channels first, as ONNX lays it out.
    private func convolution(
        _ node: Node, index: Int, _ parts: [Value], upsampled factors: (Int, Int)? = nil,
        fail: (String) -> ONNXError
    ) throws(ONNXError) -> [Value] {
        // With `factors`, the first part is at 1/factors of the others' size (see `Step.upsampled`).
        guard let x = parts.last, x.shape.count == 4, let conv = convolutions[index] else {
            throw fail("Conv needs a 4-D float input")
        }
        var floats: [[Float]] = []
        for (i, part) in parts.enumerated() {
            let (sy, sx) = i == 0 ? factors ?? (1, 1) : (1, 1)
            guard case .float(let f) = part.data, part.shape.count == 4, part.count > 0, part.shape[0] == x.shape[0],
                part.shape[2] * sy == x.shape[2], part.shape[3] * sx == x.shape[3]
            else { throw fail("Conv needs 4-D float inputs of one batch and size") }
            floats.append(f)
        }
        let (weight, bias, w) = (conv.weight, conv.bias, conv.shape)
        let (strides, dilations, pads) = (conv.strides, conv.dilations, conv.pads)
        let (n, c, h, wd) = (x.shape[0], parts.reduce(0) { $0 + $1.shape[1] }, x.shape[2], x.shape[3])
        guard c == w[1] else { throw fail("input has \(c) channels, the weight \(w[1])") }
        let (kh, kw) = (w[2], w[3])
        let oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1
        let ow = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1
        guard oh > 0, ow > 0 else { throw fail("Conv output would be empty") }
        let m = w[0]
        let k = c * kh * kw
        let pixels = oh * ow
        guard n * m * pixels <= ONNXModel.maxElements, k * pixels <= ONNXModel.maxElements else {
            throw fail("Conv output too large")
        }
        // Every path writes every output and every column (allocating zeros would cost a pass).
        func uninitialized(_ count: Int) -> [Float] { [Float](unsafeUninitializedCapacity: count) { $1 = count } }
        let silu = steps[index].fused != nil
        // This Conv's channels, then its siblings' (see `Step.siblings`), each a Value of its own.
        let siblings = steps[index].siblings.map(\.channels)
        let groups = [m - siblings.reduce(0, +)] + siblings
        func finished(_ out: [Float]) -> [Value] {
            guard groups.count > 1 else { return [Value(shape: [n, m, oh, ow], floats: out)] }
            var first = 0
            return groups.map { channels in
                defer { first += channels }
                var floats: [Float] = []
                for b in 0..<n {
                    let start = (b * m + first) * pixels
                    floats += out[start..<start + channels * pixels]
                }
                return Value(shape: [n, channels, oh, ow], floats: floats)
            }
        }
        if kh == 1 && kw == 1 && strides == [1, 1] && pads == [0, 0, 0, 0] {
            var out = uninitialized(n * m * pixels)
            withBasePointers(floats) { bases in
                weight.withUnsafeBufferPointer { wt in
                    (bias ?? []).withUnsafeBufferPointer { values in
                        out.withUnsafeMutableBufferPointer { dst in
                            for b in 0..<n {
                                var inputs = zip(bases, parts).map { base, part in
                                    (b: base + b * part.count / n, k: part.shape[1])
                                }
                                let result = dst.baseAddress! + b * m * pixels
                                if let (sy, sx) = factors {
                                    // The first part's product at its own size, replicated into
                                    // `out`, which the other parts' products then add to.
                                    let low = parts[0].shape
                                    let lowPixels = low[2] * low[3]
                                    let product = UnsafeMutablePointer<Float>.allocate(capacity: m * lowPixels)
                                    defer { product.deallocate() }
                                    GEMM.multiplyWide(
                                        wt.baseAddress!, lda: k, parts: [inputs[0]], into: product, m: m,
                                        n: lowPixels, compute: compute)
                                    replicate(
                                        product, planes: m, height: low[2], width: low[3],
                                        rows: (0..<oh).map { $0 / sy }, columns: (0..<ow).map { $0 / sx }, into: result)
                                    inputs.removeFirst()
                                }
                                GEMM.multiplyWide(
                                    wt.baseAddress! + (c - inputs.reduce(0) { $0 + $1.k }), lda: k, parts: inputs,
                                    into: result, m: m, n: pixels, rowBias: bias == nil ? nil : values.baseAddress,
                                    silu: silu, accumulate: factors != nil, compute: compute)
                            }
                        }
                    }
                }
            }
            return finished(out)
        }
        guard parts.count == 1 else { throw fail("a concatenation feeds a Conv that is not 1×1") }
        let input = floats[0]
        // Up to 16 channels (a network's first layers) the column matrix costs more than the direct
        // sums; at 32 the direct convolution measured slower (Zen 4).
        if c <= 16, kh == 3, kw == 3, strides == [2, 2], pads == [1, 1, 1, 1], dilations == [1, 1],
            DirectConvolution.isAvailable(compute)
        {
            let out = withPointers(input, weight, bias, writing: [n * m * pixels]) { src, wt, b, outputs in
                for image in 0..<n {
                    DirectConvolution.stride2(
                        src + image * c * h * wd, channels: c, height: h, width: wd, weight: wt, outputs: m, bias: b,
                        silu: silu, into: outputs[0] + image * m * pixels, outputHeight: oh, outputWidth: ow,
                        compute: compute)
                }
            }
            return finished(out[0])
        }
        if conv.winograd, let tile = Winograd.tile(outputHeight: oh, outputWidth: ow) {
            let transformed = lock.withLock {
                if let known = winogradWeights[[index, tile]] { return known }
                let made = Winograd.transform(weight: weight, outputs: m, channels: c, tile: tile)
                winogradWeights[[index, tile]] = made
                return made
            }
            // Each sibling's channels (or the one group's) straight into its own output.
            let outputs = withPointers(input, transformed, bias, writing: groups.map { n * $0 * pixels }) {
                src, u, b, bases in
                for image in 0..<n {
                    Winograd.convolve(
                        src + image * c * h * wd, channels: c, height: h, width: wd, padTop: pads[0],
                        padLeft: pads[1], tile: tile, transformed: u, bias: b, silu: silu,
                        into: zip(bases, groups).map { ($0 + image * $1 * pixels, $1) }, outputHeight: oh,
                        outputWidth: ow, compute: compute)
                }
            }
            return zip(outputs, groups).map { Value(shape: [n, $1, oh, ow], floats: $0) }
        }
        // On the packed kernel (AVX2 or AVX-512) each worker writes the column matrix in its panel
        // layout a cache-sized block at a time; otherwise it is written whole, row-major.
        var (out, cols) = (uninitialized(n * m * pixels), uninitialized(compute.packed ? 0 : k * pixels))
        let (sy, sx, dy, dx, py, px) = (strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1])
        input.withUnsafeBufferPointer { src in
            weight.withUnsafeBufferPointer { wt in
                out.withUnsafeMutableBufferPointer { dst in
                    cols.withUnsafeMutableBufferPointer { col in
                        (bias ?? []).withUnsafeBufferPointer { values in
                            let rowBias = bias == nil ? nil : values.baseAddress
                            for b in 0..<n {
                                let image = src.baseAddress! + b * c * h * wd
                                let result = dst.baseAddress! + b * m * pixels
                                if compute.packed {
                                    GEMM.multiplyProduced(
                                        wt.baseAddress!, into: result, m: m, n: pixels, k: k, rowBias: rowBias,
                                        silu: silu, compute: compute
                                    ) { panels, buffer in
                                        Im2col.fill(
                                            image, channels: c, height: h, width: wd, kernel: (kh, kw),
                                            strides: (sy, sx), dilations: (dy, dx), pads: (py, px), output: (oh, ow),
                                            into: buffer, .panels(panels))
                                    }
                                    continue
                                }
                                // Rows of the column matrix are independent: the workers fill disjoint ones.
                                compute.parallel(k) { rows in
                                    Im2col.fill(
                                        image, channels: c, height: h, width: wd, kernel: (kh, kw), strides: (sy, sx),
                                        dilations: (dy, dx), pads: (py, px), output: (oh, ow), into: col.baseAddress!,
                                        .rows(rows))
                                }
                                GEMM.multiplyWide(
                                    wt.baseAddress!, col.baseAddress!, into: result, m: m, n: pixels, k: k,
                                    rowBias: rowBias, silu: silu, compute: compute)
                            }
                        }
                    }
                }
            }
        }
        return finished(out)
    }

    private func maxPool(_ node: Node, _ x: Value, fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        guard case .float(let input) = x.data, x.shape.count == 4,
            let kernel = node.ints("kernel_shape")?.map(Int.init),
            kernel.count == 2
        else { throw fail("MaxPool needs a 4-D float input and a 2-D kernel") }
        let strides = node.ints("strides")?.map(Int.init) ?? [1, 1]
        let pads = node.ints("pads")?.map(Int.init) ?? [0, 0, 0, 0]
        let dilations = node.ints("dilations")?.map(Int.init) ?? [1, 1]
        guard strides.count == 2, pads.count == 4, dilations == [1, 1], strides.allSatisfy({ $0 > 0 }) else {
            throw fail("MaxPool strides, pads or dilations unsupported")
        }
        let ceil = node.int("ceil_mode") == 1
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func size(_ length: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = length + p0 + p1 - k
            return (ceil ? (span + s - 1) / s : span / s) + 1
        }
        let oh = size(h, kernel[0], strides[0], pads[0], pads[2])
        let ow = size(w, kernel[1], strides[1], pads[1], pads[3])
        guard oh > 0, ow > 0 else { throw fail("MaxPool output would be empty") }
        // The kernel writes every output, so no zero pass first.
        var out = [Float](unsafeUninitializedCapacity: n * c * oh * ow) { $1 = n * c * oh * ow }
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                MaxPool.apply(
                    src.baseAddress!, planes: n * c, height: h, width: w, kernel: (kernel[0], kernel[1]),
                    strides: (strides[0], strides[1]), pads: (pads[0], pads[1]), into: dst.baseAddress!,
                    outputHeight: oh, outputWidth: ow, compute: compute)
            }
        }
        return Value(shape: [n, c, oh, ow], floats: out)
    }

    /// Resize, nearest neighbour (YOLO's upsampling): from `scales` or `sizes`, with the node's
    /// coordinate transformation and rounding.
    private func resize(_ node: Node, _ args: [Value?], fail: (String) -> ONNXError) throws(ONNXError) -> Value {
        let (x, outShape, rows, columns) = try nearestMaps(node, args, fail: fail)
        guard case .float(let input) = x.data else { throw fail("Resize needs a 4-D float input") }
        let count = outShape.reduce(1, *)
        let out = [Float](unsafeUninitializedCapacity: count) { dst, initialized in
            input.withUnsafeBufferPointer { src in
                replicate(
                    src.baseAddress!, planes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3],
                    rows: rows, columns: columns, into: dst.baseAddress!)
            }
            initialized = count
        }
        return Value(shape: outShape, floats: out)
    }

    /// A nearest Resize's input and output shape, and the input row and column each output row
    /// and column takes.
    private func nearestMaps(_ node: Node, _ args: [Value?], fail: (String) -> ONNXError) throws(ONNXError) -> (
        x: Value, shape: [Int], rows: [Int], columns: [Int]
    ) {
        guard let x = args.first ?? nil, case .float = x.data, x.shape.count == 4 else {
            throw fail("Resize needs a 4-D float input")
        }
        var outShape: [Int]
        if args.count > 3, let sizes = args[3], sizes.count == 4 {
            guard case .int(let s) = sizes.data else { throw fail("Resize sizes must be int64") }
            outShape = s.map(Int.init)
        } else if args.count > 2, let scales = args[2], scales.count == 4, case .float(let s) = scales.data {
            outShape = zip(x.shape, s).map { Int((Float($0) * $1).rounded(.down)) }
        } else {
            throw fail("Resize needs scales or sizes for 4 dimensions")
        }
        guard outShape[0] == x.shape[0], outShape[1] == x.shape[1], outShape.allSatisfy({ $0 > 0 }),
            outShape.reduce(1, *) <= ONNXModel.maxElements
        else { throw fail("Resize to \(outShape) is not a spatial resize") }
        var transform = "half_pixel"
        if case .string(let t) = node.attributes["coordinate_transformation_mode"] { transform = t }
        var rounding = "round_prefer_floor"
        if case .string(let r) = node.attributes["nearest_mode"] { rounding = r }
        func source(_ o: Int, _ inLength: Int, _ outLength: Int) throws(ONNXError) -> Int {
            let scale = Double(outLength) / Double(inLength)
            let position: Double
            switch transform {
            case "asymmetric": position = Double(o) / scale
            case "half_pixel": position = (Double(o) + 0.5) / scale - 0.5
            case "align_corners":
                position = outLength == 1 ? 0 : Double(o) * Double(inLength - 1) / Double(outLength - 1)
            default: throw fail("coordinate_transformation_mode \(transform)")
            }
            let index: Int
            switch rounding {
            case "floor": index = Int(position.rounded(.down))
            case "ceil": index = Int(position.rounded(.up))
            case "round_prefer_ceil": index = Int((position + 0.5).rounded(.down))
            default: index = Int((position - 0.5).rounded(.up))
            }
            return min(max(index, 0), inLength - 1)
        }
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], outShape[2], outShape[3])
        let rows = try (0..<oh).map { (o) throws(ONNXError) in try source(o, h, oh) }
        let columns = try (0..<ow).map { (o) throws(ONNXError) in try source(o, w, ow) }
        return (x, outShape, rows, columns)
    }

    /// `planes` planes of `height × width` resampled by `rows` and `columns` (the input row and
    /// column of each output row and column) into `dst`; the workers take disjoint planes.
    private func replicate(
        _ src: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, rows: [Int], columns: [Int],
        into dst: UnsafeMutablePointer<Float>
    ) {
        let (oh, ow) = (rows.count, columns.count)
        compute.parallel(planes) { planes in
            for plane in planes {
                for (oy, iy) in rows.enumerated() {
                    let outputRow = dst + (plane * oh + oy) * ow
                    // An input row upsampled again (every other one at 2×) is the last one copied.
                    if oy > 0, rows[oy - 1] == iy {
                        outputRow.update(from: outputRow - ow, count: ow)
                        continue
                    }
                    let inputRow = src + (plane * h + iy) * w
                    for (ox, ix) in columns.enumerated() { outputRow[ox] = inputRow[ix] }
                }
            }
        }
    }
}

extension Node {
    func int(_ name: String) -> Int64? {
        if case .int(let v) = attributes[name] { return v }
        return nil
    }

    func ints(_ name: String) -> [Int64]? {
        if case .ints(let v) = attributes[name] { return v }
        return nil
    }

    /// Strides and dilations absent or 1 (a Conv that may run by Winograd, or as a plain product
    /// when 1×1).
    var unitSteps: Bool { [ints("strides"), ints("dilations")].allSatisfy { $0 == nil || $0 == [1, 1] } }
}

/// Runs `body` with the base addresses of `arrays` (none empty), valid for its duration.
private func withBasePointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    func step(_ i: Int, _ bases: [UnsafePointer<Float>]) -> R {
        guard i < arrays.count else { return body(bases) }
        return arrays[i].withUnsafeBufferPointer { step(i + 1, bases + [$0.baseAddress!]) }
    }
    return step(0, [])
}

/// A convolution's outputs of `counts` floats, which `body` writes in full given the base
/// addresses of the input, the weight (or its transform), the bias (nil without one) and the
/// outputs.
private func withPointers(
    _ input: [Float], _ weight: [Float], _ bias: [Float]?, writing counts: [Int],
    _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?, [UnsafeMutablePointer<Float>]) -> Void
) -> [[Float]] {
    writtenArrays(counts) { outputs in
        input.withUnsafeBufferPointer { src in
            weight.withUnsafeBufferPointer { wt in
                (bias ?? []).withUnsafeBufferPointer { b in
                    body(src.baseAddress!, wt.baseAddress!, bias == nil ? nil : b.baseAddress, outputs)
                }
            }
        }
    }
}

/// Arrays of `counts` floats that `body` writes in full through their base addresses.
private func writtenArrays(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
    var arrays: [[Float]] = []
    func step(_ i: Int, _ bases: [UnsafeMutablePointer<Float>]) {
        guard i < counts.count else { return body(bases) }
        let array = [Float](unsafeUninitializedCapacity: counts[i]) { buffer, initialized in
            step(i + 1, bases + [buffer.baseAddress!])
            initialized = counts[i]
        }
        arrays.insert(array, at: 0)
    }
    step(0, [])
    return arrays
}
