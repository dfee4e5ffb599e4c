import ArgumentParser
import Compute
import Detector
import Foundation
import GuardrailCore
import Media
import RepositoryFiles
import Vision

struct DetectorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detector",
        abstract: "The ONNX runtime on a YOLOv8 detector (NudeNet's 320n.onnx with --model), against onnxruntime.",
        discussion: """
            Runs the graph on a 320x320 input (best of --repeats) on 1 and 2 threads, and onnxruntime on the \
            same model and input when python3 has it, with the largest difference between the outputs. With \
            the nudenet package installed too, also times a 1024x768 JPEG end to end (decode, input, graph, \
            decoding and suppression) against the package's NudeDetector, and the engine's stages on their \
            own. --profile adds the graph's time per operator and its slowest nodes.
            """
    )

    @Option(help: "The ONNX model (default: the tiny test export).")
    var model: String?

    @Option(help: "Input side in pixels.")
    var size = 320

    @Option(help: "Repetitions; the best is reported.")
    var repeats = 10

    @Flag(help: "Also print the graph's time per operator (each node's best over --repeats).")
    var profile = false

    @Option(help: "Threads for --profile.")
    var profileThreads = 1

    func run() throws {
        let path = model ?? Fixtures.path("detector/tiny-yolo.onnx")
        let onnx = try ONNXModel(contentsOf: path)
        var random = SplitMix64(seed: 3)
        let count = 3 * size * size
        let input = (0..<count).map { _ in Float(random.nextUniform()) }
        let folder = NSTemporaryDirectory() + "guardrail-detector-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try input.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/input.bin")) }
        var outputs: [Float] = []
        var engine: [Int: Double] = [:]
        for threads in [1, 2] {
            let graph = try ONNXGraph(onnx, compute: ComputeConfiguration(threads: threads))
            var best = Double.infinity
            for _ in 0...repeats {
                var result: [String: Value] = [:]
                let seconds = try time {
                    result = try graph.run(["images": Value(shape: [1, 3, size, size], floats: input)])
                }
                best = min(best, seconds)
                if case .float(let v)? = result.values.first?.data { outputs = v }
            }
            engine[threads] = best
        }
        if profile { try printProfile(onnx, Value(shape: [1, 3, size, size], floats: input)) }
        let repository = URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let jpeg = folder + "/photo-1024x768.jpg"
        process.arguments = [
            "python3", repository + "/scripts/bench_detector_reference.py", path, folder + "/input.bin", String(size),
            String(repeats), folder + "/output.bin", Fixtures.path("images/preprocess-landscape.jpg"), jpeg,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        var reference: [String: Any] = [:]
        if (try? process.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            reference = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        }
        for threads in [1, 2] {
            let ours = engine[threads]! * 1000
            if let theirs = (reference["t\(threads)"] as? Double).map({ $0 * 1000 }) {
                print(
                    String(
                        format: "threads %d  engine %7.2f ms   onnxruntime %7.2f ms   %.2fx", threads, ours, theirs,
                        theirs / ours))
            } else {
                print(String(format: "threads %d  engine %7.2f ms   (no onnxruntime reference)", threads, ours))
            }
        }
        if FileManager.default.fileExists(atPath: jpeg) {
            // End to end as a user calls it: the file decoded, the input made, the graph, the decoding.
            for threads in [1, 2] {
                let detector = try NudeNetDetector(model: path, compute: ComputeConfiguration(threads: threads))
                var best = Double.infinity
                var found: [Detection] = []
                for _ in 0...repeats {
                    best = min(
                        best, try time { found = try detector.detect(try ImageDecoder().decode(path: jpeg)).detections }
                    )
                }
                // The stages on their own, to show where the end-to-end time goes.
                var stages = [Double](repeating: .infinity, count: 3)
                for _ in 0...repeats {
                    var image: RGBImage?
                    var input: NudeNetInput?
                    let graph = detector.graph
                    let times = [
                        try time { image = try ImageDecoder().decode(path: jpeg) },
                        time { input = NudeNetInput(image!, size: detector.inputSize, compute: graph.compute) },
                        try time { _ = try graph.run([graph.model.inputs[0].name: input!.tensor]) },
                    ]
                    stages = zip(stages, times).map { min($0, $1) }
                }
                let theirs = (reference["e\(threads)"] as? Double ?? .nan) * 1000
                print(
                    String(
                        format:
                            "threads %d  1024x768 JPEG end to end: engine %7.2f ms   nudenet package %7.2f ms   %.2fx (target 1.5x)",
                        threads, best * 1000, theirs, theirs / (best * 1000)))
                print(
                    String(
                        format: "           stages: decode %.2f ms, input %.2f ms, graph %.2f ms", stages[0] * 1000,
                        stages[1] * 1000, stages[2] * 1000))
                if threads == 2 {
                    print(
                        "  engine:  "
                            + found.map { "\($0.label) \(String(format: "%.4f", $0.score)) \($0.box)" }.joined(
                                separator: "; "))
                    let package = (reference["detections"] as? [[String: Any]] ?? []).map {
                        "\($0["class"] ?? "") \(String(format: "%.4f", $0["score"] as? Double ?? 0)) \($0["box"] ?? "")"
                    }
                    print("  package: " + package.joined(separator: "; "))
                }
            }
        }
        if let data = FileManager.default.contents(atPath: folder + "/output.bin") {
            let expected = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let worst = zip(outputs, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .nan
            print(String(format: "largest difference from onnxruntime: %.2e (relative, of values above 1)", worst))
        }
    }

    /// Each operator's share of a pass on --profile-threads, from every node's best time over the
    /// repeats, and the slowest nodes with their weights' shapes.
    private func printProfile(_ onnx: ONNXModel, _ input: Value) throws {
        let graph = try ONNXGraph(onnx, compute: ComputeConfiguration(threads: profileThreads))
        var best: [Int: Double] = [:]
        for _ in 0...repeats {
            _ = try graph.run(["images": input]) { node, seconds in best[node] = min(best[node] ?? .infinity, seconds) }
        }
        func ms(_ seconds: Double) -> String { String(format: "%7.3f ms", seconds * 1000) }
        var byOperator: [String: Double] = [:]
        for (node, seconds) in best { byOperator[onnx.nodes[node].opType, default: 0] += seconds }
        let total = best.values.reduce(0, +)
        print("profile, \(graph.compute): \(ms(total)) over \(best.count) nodes")
        let width = byOperator.keys.map(\.count).max() ?? 0
        for (op, seconds) in byOperator.sorted(by: { $0.value > $1.value }) {
            let name = op.padding(toLength: width, withPad: " ", startingAt: 0)
            print("  \(name) \(ms(seconds))  \(String(format: "%4.1f%%", 100 * seconds / total))")
        }
        for (node, seconds) in best.sorted(by: { $0.value > $1.value }).prefix(12) {
            let n = onnx.nodes[node]
            let weight = n.opType == "Conv" ? onnx.initializers[n.inputs[1]]?.shape.description ?? "" : ""
            print("  \(ms(seconds))  \(n.opType) \(n.name) \(weight)")
        }
    }
}
