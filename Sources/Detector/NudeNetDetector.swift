import Compute
import Foundation
import GuardrailCore

/// NudeNet's detector run as the `nudenet` package runs it (its input, its graph on the engine's
/// ONNX runtime, its decoding and suppression), from its `320n.onnx` or another export of it.
public final class NudeNetDetector: Sendable {
    public let graph: ONNXGraph
    public let path: String
    /// The square input side the model takes (320 for `320n.onnx`).
    public let inputSize: Int
    private let inputName: String
    private let outputName: String

    /// Where `scripts/setup.sh` puts the model of the `nudenet` 3.4.2 wheel:
    /// `$GUARDRAIL_MODELS/nudenet-3.4.2/320n.onnx`, by default under `~/.cache/guardrail/models`.
    public static func defaultModelPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let models =
            environment["GUARDRAIL_MODELS"] ?? ArtifactCache.defaultFolder(environment: environment) + "/models"
        return models + "/nudenet-3.4.2/320n.onnx"
    }

    /// The SHA-256 of the model file (of the bytes that were loaded).
    public var sha256: String { graph.model.sha256 }

    public init(model path: String, inputSize: Int = 320, compute: ComputeConfiguration = .default) throws(ONNXError) {
        let model = try ONNXModel(contentsOf: path)
        guard model.inputs.count == 1, model.outputs.count == 1 else {
            throw ONNXError(file: path, reason: "a detector has one input and one output")
        }
        graph = try ONNXGraph(model, compute: compute)
        self.path = path
        self.inputSize = inputSize
        inputName = model.inputs[0].name
        outputName = model.outputs[0].name
    }

    /// The detections in one picture, and how many candidates there were before suppression. A
    /// picture that was scaled from the frame a viewer sees (a large video frame scaled while
    /// decoding) gives that frame's size as `displayed`, and the boxes are in its pixels.
    public func detect(_ image: RGBImage, displayed: (width: Int, height: Int)? = nil) throws(ONNXError) -> (
        candidates: Int, detections: [Detection]
    ) {
        let input = NudeNetInput(image, size: inputSize, compute: graph.compute)
        guard let output = try graph.run([inputName: input.tensor])[outputName] else {
            throw ONNXError(file: path, reason: "the graph gave no output")
        }
        var (candidates, detections) = try NudeNet.decode(
            output, width: input.width, height: input.height, xPad: input.xPad, yPad: input.yPad, modelSize: inputSize)
        if let displayed, displayed.width != image.width || displayed.height != image.height {
            let sx = Double(displayed.width) / Double(image.width)
            let sy = Double(displayed.height) / Double(image.height)
            for i in detections.indices {
                let b = detections[i].box
                detections[i].box = [
                    Int(Double(b[0]) * sx), Int(Double(b[1]) * sy), Int(Double(b[2]) * sx), Int(Double(b[3]) * sy),
                ]
            }
        }
        return (candidates, detections)
    }
}
