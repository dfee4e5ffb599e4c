import Compute

/// The rewrites the planner may apply to a graph, each a pass of its own that can be left out
/// alone (the tests compare each against the graph without it). The last two keep every bit; the
/// first two change the last bits only (within 2e-6 of the outputs' scale on the test model).
public enum GraphFusion: String, CaseIterable, Sendable {
    /// Conv → Sigmoid → Mul (SiLU) as one convolution that applies SiLU to its output (one
    /// polynomial for x·σ(x) instead of σ, then a product).
    case silu
    /// A channel Concat read only by a 1×1 Conv: the Conv reads the Concat's inputs in place (each
    /// part's sums added in turn, instead of one sum over the copy).
    case concatConvolution
    /// A nearest upsampling as the first part of such a Concat: multiplied at the low resolution and
    /// the product replicated (a 1×1 Conv commutes with replication). Packed kernels only: their
    /// sums run in an order the engine fixes, while OpenBLAS's depend on the product's width.
    case upsampledConcat
    /// Stride-1 3×3 Convs of one input with the same padding and activation, run as one Winograd
    /// convolution (one input transform instead of one each).
    case winogradSiblings
}

/// What the run loop does with one node, every value named by its slot in the run's array of
/// values (resolved at load, so a run hashes no names).
struct Step {
    /// The node's operator, looked up once at load.
    var operation: Operator
    /// The node's inputs' slots (nil for an omitted optional input), and its outputs'.
    var inputs: [Int?]
    var outputs: [Int]
    /// Its output depends only on constants and input shapes (folded once per input size).
    var shapeOnly = false
    /// Fused into a neighbour (a Sigmoid and Mul of a SiLU, a Concat read in place by a Conv).
    var skipped = false
    /// For a Conv → Sigmoid → Mul chain (SiLU) computed in the convolution's output: the Mul's
    /// output slot, where the Conv's result goes.
    var fused: Int?
    /// For a 1×1 Conv of a channel Concat used by nothing else: the Concat's input slots, which it
    /// reads in place (the Concat is skipped, its copy never made).
    var concatenated: [Int]?
    /// For such a Conv whose first part is a nearest upsampling used by nothing else: the Resize's
    /// node index. The Resize is skipped; when it replicates pixels by whole factors the Conv
    /// multiplies that part at the low resolution and upsamples the product, else it resizes first.
    var upsampled: Int?
    /// For the first of several sibling Convs (``GraphFusion/winogradSiblings``): the others'
    /// output slots and channel counts. It runs them all as one, their weights stacked after its
    /// own, and they are skipped.
    var siblings: [(slot: Int, channels: Int)] = []
    /// The values this node reads last, dropped after it runs so that their memory is reused (and
    /// still in cache) for the next ones instead of all staying alive until the end.
    var releases: [Int] = []

    /// Where the node's first result goes: the fused Mul's output for a SiLU chain.
    var destination: Int { fused ?? outputs[0] }
}

/// A Conv as read and checked at load.
struct Convolution {
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

/// A graph checked and planned at load: every node's operator, attributes, inputs and outputs
/// checked (an ``ONNXError`` naming the node otherwise), the fusions applied as separate passes,
/// each value given a slot and a last reader, and each Conv's geometry read.
struct ONNXPlan {
    var steps: [Step]
    /// The slot of every value name (initializers, graph inputs, node outputs).
    let slots: [String: Int]
    /// The initializers in their slots: where every run's values start.
    let initialValues: [Value?]
    /// Each Conv node's ``Convolution`` by node index (nil for other nodes and stacked siblings).
    var convolutions: [Convolution?]

    /// Who reads what, and who writes it, for the passes.
    private struct Uses {
        var readers: [String: [Int]] = [:]
        var producer: [String: Int] = [:]
        let graphOutputs: Set<String>
        let shapeOnly: Set<Int>

        init(_ model: ONNXModel, shapeOnly: Set<Int>) {
            graphOutputs = Set(model.outputs.map(\.name))
            self.shapeOnly = shapeOnly
            for (index, node) in model.nodes.enumerated() {
                for input in node.inputs where !input.isEmpty { readers[input, default: []].append(index) }
                for output in node.outputs { producer[output] = index }
            }
        }

        /// `name` is read by `node` alone and is not a graph output (so a fusion may consume it).
        func onlyRead(_ name: String, by node: Int) -> Bool {
            readers[name] == [node] && !graphOutputs.contains(name)
        }
    }

    init(_ model: ONNXModel, compute: ComputeConfiguration, fusions: Set<GraphFusion>) throws(ONNXError) {
        let (operators, shapeOnly) = try Self.check(model)
        let uses = Uses(model, shapeOnly: shapeOnly)
        var slots: [String: Int] = [:]
        for name in model.initializers.keys.sorted() + model.inputs.map(\.name) + model.nodes.flatMap(\.outputs)
        where slots[name] == nil {
            slots[name] = slots.count
        }
        var initialValues = [Value?](repeating: nil, count: slots.count)
        for (name, value) in model.initializers { if let slot = slots[name] { initialValues[slot] = value } }
        // Every name has a slot (inputs are known names, checked above).
        steps = model.nodes.enumerated().map { index, node in
            Step(
                operation: operators[index], inputs: node.inputs.map { $0.isEmpty ? nil : slots[$0] },
                outputs: node.outputs.compactMap { slots[$0] },
                shapeOnly: uses.shapeOnly.contains(index))
        }
        self.slots = slots
        self.initialValues = initialValues
        convolutions = try Self.readConvolutions(model, compute: compute)
        if fusions.contains(.silu) { fuseSiLU(model, uses) }
        if fusions.contains(.concatConvolution) {
            fuseConcatConvolutions(model, uses, upsampling: fusions.contains(.upsampledConcat) && compute.packed)
        }
        if fusions.contains(.winogradSiblings) { stackWinogradSiblings(model) }
        scheduleReleases(model, uses)
    }

    /// Checks every node and returns each node's operator and the nodes whose outputs depend only
    /// on constants and input shapes. A valid model's nodes are in topological order, so an input
    /// not seen yet is a cycle or a missing value.
    private static func check(_ model: ONNXModel) throws(ONNXError) -> (operators: [Operator], shapeOnly: Set<Int>) {
        var operators: [Operator] = []
        var known = Set(model.initializers.keys).union(model.inputs.map(\.name))
        var constant = Set(model.initializers.keys)
        var shapeOnly = Set<Int>()
        for (index, node) in model.nodes.enumerated() {
            func fail(_ reason: String) -> ONNXError { ONNXError(file: model.path, node: node.name, reason: reason) }
            guard node.domain.isEmpty || node.domain == "ai.onnx" else { throw fail("operator domain \(node.domain)") }
            guard let operation = ONNXOperators.table[node.opType] else {
                throw fail("unsupported operator \(node.opType)")
            }
            for input in node.inputs where !input.isEmpty && !known.contains(input) {
                throw fail("input \(input) is neither an initializer, a graph input nor an earlier node's output")
            }
            try operation.checkAttributes(node, fail)
            operators.append(operation)
            try checkOutputs(node, known: known, fail: fail)
            if node.opType == "Shape" || node.opType == "Constant"
                || node.inputs.allSatisfy({ $0.isEmpty || constant.contains($0) })
            {
                shapeOnly.insert(index)
                constant.formUnion(node.outputs)
            }
            known.formUnion(node.outputs)
        }
        for output in model.outputs where !known.contains(output.name) {
            throw ONNXError(file: model.path, node: output.name, reason: "no node produces the graph output")
        }
        return (operators, shapeOnly)
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

    /// Each Conv's weight, bias and geometry, checked: a 4-D float weight initializer, an `[M]`
    /// bias, no groups, two strides and dilations above 0, four pads not below 0.
    private static func readConvolutions(_ model: ONNXModel, compute: ComputeConfiguration) throws(ONNXError)
        -> [Convolution?]
    {
        var convolutions = [Convolution?](repeating: nil, count: model.nodes.count)
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" {
            func fail(_ reason: String) -> ONNXError { ONNXError(file: model.path, node: node.name, reason: reason) }
            guard node.inputs.count >= 2, let w = model.initializers[node.inputs[1]], w.shape.count == 4,
                case .float(let weights) = w.data
            else { throw fail("Conv needs a 4-D float weight initializer") }
            var bias: [Float]?
            if node.inputs.count > 2, !node.inputs[2].isEmpty {
                guard let b = model.initializers[node.inputs[2]], b.shape == [w.shape[0]],
                    case .float(let values) = b.data
                else { throw fail("Conv bias must be a float initializer [M]") }
                bias = values
            }
            let group = Int(node.int("group") ?? 1)
            guard group == 1 else { throw fail("grouped convolution (group \(group))") }
            let strides = node.ints("strides")?.map(Int.init) ?? [1, 1]
            let dilations = node.ints("dilations")?.map(Int.init) ?? [1, 1]
            let pads = node.ints("pads")?.map(Int.init) ?? [0, 0, 0, 0]
            guard strides.count == 2, dilations.count == 2, pads.count == 4, strides.allSatisfy({ $0 > 0 }),
                dilations.allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 })
            else { throw fail("Conv strides, dilations or pads malformed") }
            convolutions[index] = Convolution(
                weight: weights, shape: w.shape, bias: bias, strides: strides, dilations: dilations, pads: pads,
                winograd: compute.packed && node.unitSteps && w.shape[2] == 3 && w.shape[3] == 3)
        }
        return convolutions
    }

    /// ``GraphFusion/silu``: `y = Conv(x), s = Sigmoid(y), z = Mul(y, s)`, with y and s read nowhere
    /// else, becomes one Conv writing z.
    private mutating func fuseSiLU(_ model: ONNXModel, _ uses: Uses) {
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" {
            let y = node.outputs[0]
            guard !uses.graphOutputs.contains(y), let readers = uses.readers[y], readers.count == 2,
                let sigmoid = readers.first(where: { model.nodes[$0].opType == "Sigmoid" }),
                let mul = readers.first(where: { model.nodes[$0].opType == "Mul" }),
                case let s = model.nodes[sigmoid].outputs[0], uses.onlyRead(s, by: mul),
                Set(model.nodes[mul].inputs) == [y, s]
            else { continue }
            steps[index].fused = steps[mul].outputs[0]
            steps[sigmoid].skipped = true
            steps[mul].skipped = true
        }
    }

    /// ``GraphFusion/concatConvolution`` (and, with `upsampling`, ``GraphFusion/upsampledConcat``):
    /// a 1×1 unpadded Conv of a channel Concat read by nothing else reads the Concat's inputs.
    private mutating func fuseConcatConvolutions(_ model: ONNXModel, _ uses: Uses, upsampling: Bool) {
        for (index, node) in model.nodes.enumerated() where node.opType == "Conv" {
            guard let conv = convolutions[index], conv.shape[2] == 1, conv.shape[3] == 1, node.unitSteps,
                conv.pads.allSatisfy({ $0 == 0 }), let x = node.inputs.first, uses.onlyRead(x, by: index),
                let concat = uses.producer[x], model.nodes[concat].opType == "Concat",
                model.nodes[concat].int("axis") == 1, !uses.shapeOnly.contains(concat),
                !model.nodes[concat].inputs.contains(""), let parts = model.nodes[concat].inputs.first
            else { continue }
            steps[index].concatenated = steps[concat].inputs.compactMap { $0 }
            steps[concat].skipped = true
            guard upsampling, let resize = uses.producer[parts], model.nodes[resize].opType == "Resize",
                uses.onlyRead(parts, by: concat), !uses.shapeOnly.contains(resize)
            else { continue }
            steps[index].upsampled = resize
            steps[resize].skipped = true
        }
    }

    /// ``GraphFusion/winogradSiblings``: the first Conv of each group takes the others' weights
    /// after its own and writes their outputs too.
    private mutating func stackWinogradSiblings(_ model: ONNXModel) {
        var groups: [String: [Int]] = [:]
        for (index, conv) in convolutions.enumerated() {
            guard let conv, conv.winograd, steps[index].concatenated == nil, !steps[index].skipped,
                let x = model.nodes[index].inputs.first
            else { continue }
            groups["\(x) \(conv.pads) \(steps[index].fused != nil) \(conv.bias != nil)", default: []].append(index)
        }
        for members in groups.values where members.count > 1 {
            let stacked = members.compactMap { convolutions[$0] }
            guard var first = stacked.first else { continue }
            first.weight = stacked.flatMap(\.weight)
            first.shape[0] = stacked.reduce(0) { $0 + $1.shape[0] }
            first.bias = first.bias == nil ? nil : stacked.flatMap { $0.bias ?? [] }
            convolutions[members[0]] = first
            steps[members[0]].siblings = zip(members, stacked).dropFirst().map { (steps[$0].destination, $1.shape[0]) }
            for other in members.dropFirst() {
                steps[other].skipped = true
                convolutions[other] = nil
            }
        }
    }

    /// Each value's last reader drops it (graph outputs and initializers stay); a fused node reads
    /// what the nodes it stands for read.
    private mutating func scheduleReleases(_ model: ONNXModel, _ uses: Uses) {
        var lastReader: [Int: Int] = [:]
        for (index, step) in steps.enumerated() {
            let deferred = step.upsampled.map { steps[$0].inputs.compactMap { $0 } } ?? []
            for slot in (step.concatenated ?? []) + deferred + (step.skipped ? [] : step.inputs.compactMap { $0 }) {
                lastReader[slot] = index
            }
        }
        let kept = Set((model.outputs.map(\.name) + model.initializers.keys).compactMap { slots[$0] })
        for (slot, index) in lastReader where !kept.contains(slot) { steps[index].releases.append(slot) }
    }
}
