import Compute
import Foundation
import GuardrailCore
import Synchronization

/// An ONNX graph ready to run: checked and planned at load (``ONNXPlan``: an unknown operator, an
/// unsupported attribute, a missing input or output or a cycle is an ``ONNXError`` naming the
/// node), its convolutions on the engine's kernels (`ONNXConvolution.swift`), its other operators
/// from a table (``ONNXOperators``). Each value is dropped after its last reader, and the shape
/// arithmetic (`Shape` and what depends only on shapes and constants) is evaluated once per input
/// size and reused.
public final class ONNXGraph: Sendable {
    public let model: ONNXModel
    public let compute: ComputeConfiguration
    /// Operators the runtime implements (YOLOv8's export, opset 11–17).
    public static var supportedOperators: Set<String> { Set(ONNXOperators.table.keys) }

    let plan: ONNXPlan
    /// Winograd weight transforms by Conv index and tile side, made on first use (the tile
    /// depends on the map size).
    private let winogradWeights = Mutex<[[Int]: [Float]]>([:])
    /// The shape arithmetic's values (slot and value) by input shapes.
    private let folded = Mutex<[[Int]: [(Int, Value)]]>([:])

    /// Plans `model` with `fusions` (all by default; leaving one out changes no output bit, only
    /// the time).
    public init(
        _ model: ONNXModel, compute: ComputeConfiguration = .default,
        fusions: Set<GraphFusion> = Set(GraphFusion.allCases)
    ) throws(ONNXError) {
        self.model = model
        self.compute = compute
        plan = try ONNXPlan(model, compute: compute, fusions: fusions)
    }

    /// Runs the graph on `inputs` (by name) and returns the declared outputs; `observe`, when
    /// given, learns how long each node evaluated (its index in ``ONNXModel/nodes``, seconds).
    /// Skipped nodes (fused into a neighbour, or shape arithmetic already folded) are not reported.
    public func run(_ inputs: [String: Value], observe: ((_ node: Int, _ seconds: Double) -> Void)? = nil)
        throws(ONNXError) -> [String: Value]
    {
        var values = plan.initialValues
        var key: [Int] = []
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
            values[plan.slots[input.name, default: 0]] = value
            key += value.shape
        }
        let cached = folded.withLock { $0[key] }
        for (slot, value) in cached ?? [] { values[slot] = value }
        var fresh: [(Int, Value)] = []
        for (index, step) in plan.steps.enumerated() {
            defer { for slot in step.releases { values[slot] = nil } }
            if step.skipped || (cached != nil && step.shapeOnly) { continue }
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let results = try evaluate(index, step, values)
            if let observe { observe(index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            guard results.count == step.outputs.count + step.siblings.count else {
                throw ONNXError(
                    file: model.path, node: model.nodes[index].name, reason: "produced \(results.count) outputs")
            }
            for (sibling, value) in zip(step.siblings, results.dropFirst()) { values[sibling.slot] = value }
            if let fused = step.fused {
                values[fused] = results[0]
                continue
            }
            for (slot, value) in zip(step.outputs, results) {
                values[slot] = value
                if step.shapeOnly { fresh.append((slot, value)) }
            }
        }
        if cached == nil { folded.withLock { $0[key] = fresh } }
        var out: [String: Value] = [:]
        for output in model.outputs { out[output.name] = plan.slots[output.name].flatMap { values[$0] } }
        return out
    }

    /// One node's results: a Conv that reads a fused Concat gets the Concat's parts, every other
    /// node its inputs, through the operator table.
    private func evaluate(_ index: Int, _ step: Step, _ values: [Value?]) throws(ONNXError) -> [Value] {
        let node = model.nodes[index]
        let call = OperatorCall(
            node: node, index: index, args: step.inputs.map { $0.flatMap { values[$0] } }, graph: self)
        if let parts = step.concatenated {
            let (inputs, factors) = try concatenatedParts(of: node, parts, upsampler: step.upsampled, values)
            return try convolution(call, inputs, upsampled: factors)
        }
        return try step.operation.evaluate(call)
    }

    /// The Winograd transform of Conv `index`'s weight for `tile`, made by `make` the first time.
    func winogradWeights(index: Int, tile: Int, make: () -> [Float]) -> [Float] {
        winogradWeights.withLock { weights in
            if let known = weights[[index, tile]] { return known }
            let made = make()
            weights[[index, tile]] = made
            return made
        }
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
            let args = plan.steps[upsampler].inputs.map { $0.flatMap { values[$0] } }
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
