import Compute
import Detector
import Foundation
import GuardrailCore
import TestSupport
import Testing
import Vision

/// The ONNX runtime against onnxruntime on a tiny YOLOv8-shaped export with the real detector's
/// operators (`scripts/gen_detector_fixtures.py`), and on malformed files.
@Suite struct ONNXTests {
    static let model = Fixtures.path("detector/tiny-yolo.onnx")

    static func floats(_ relative: String) throws -> [Float] {
        let bytes = try Fixtures.bytes(relative)
        return stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(
                bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
                    | UInt32(bytes[i + 3]) << 24)
        }
    }

    /// Boxes (pixels) and class probabilities within 1e-4 of onnxruntime's, at two input sizes,
    /// twice each (the second run uses the shape arithmetic folded by the first), on every kernel
    /// path this CPU has, on 1 and 2 workers.
    @Test(arguments: ComputeConfiguration.availableKernels, [1, 2])
    func matchesONNXRuntime(kernel: ComputeConfiguration.Kernel, threads: Int) throws {
        let compute = ComputeConfiguration(threads: threads, kernel: kernel)
        let graph = try ONNXGraph(try ONNXModel(contentsOf: Self.model), compute: compute)
        for (h, w, anchors) in [(128, 128, 336), (96, 160, 315)] {
            let input = try Self.floats("goldens/detector/input-\(h)x\(w).bin")
            let expected = try Self.floats("goldens/detector/output-\(h)x\(w).bin")
            for _ in 0..<2 {
                let output = try #require(
                    try graph.run(["images": Value(shape: [1, 3, h, w], floats: input)])["output0"])
                #expect(output.shape == [1, 22, anchors])
                guard case .float(let values) = output.data else { return #expect(Bool(false)) }
                let worst = zip(values, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 1
                #expect(worst < 1e-4, "\(h)x\(w): relative difference \(worst)")
            }
        }
    }

    /// The fusions change no bit: the neck's upsampling taken at the low resolution inside the 1×1
    /// convolution (and, for a Resize that does not replicate pixels, resized first) against the
    /// same graph with the Resize outputs declared as graph outputs, which keeps them unfused.
    @Test(arguments: ComputeConfiguration.availableKernels)
    func upsamplingFusionKeepsTheBits(kernel: ComputeConfiguration.Kernel) throws {
        let input = try Self.floats("goldens/detector/input-128x128.bin")
        let compute = ComputeConfiguration(threads: 2, kernel: kernel)
        for mode in ["asymmetric", "align_corners"] {
            var fused = try ONNXModel(contentsOf: Self.model)
            let resizes = fused.nodes.indices.filter { fused.nodes[$0].opType == "Resize" }
            #expect(!resizes.isEmpty)
            for r in resizes { fused.nodes[r].attributes["coordinate_transformation_mode"] = .string(mode) }
            var unfused = fused
            for r in resizes {
                var declared = fused.outputs[0]
                declared.name = fused.nodes[r].outputs[0]
                unfused.outputs.append(declared)
            }
            var outputs: [[Float]] = []
            for (model, separate) in [(fused, false), (unfused, true)] {
                var ran = Set<Int>()
                let result = try ONNXGraph(model, compute: compute).run(
                    ["images": Value(shape: [1, 3, 128, 128], floats: input)]
                ) { node, _ in ran.insert(node) }
                // Fused, the Resize never runs as a node of its own (on the packed kernels: on
                // OpenBLAS the upsampling is not fused, its sums' order depending on the width).
                #expect(resizes.allSatisfy { ran.contains($0) == (separate || !compute.packed) }, "\(kernel) \(mode)")
                guard case .float(let values)? = result["output0"]?.data else { return #expect(Bool(false)) }
                outputs.append(values)
            }
            let differing = zip(outputs[0], outputs[1]).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(outputs[0].count == 22 * 336 && differing == 0, "\(kernel) \(mode): \(differing) differ")
        }
    }

    /// Each fusion pass on its own, against the graph planned without it, on every kernel path and
    /// on 1 and 2 workers: the upsampled concatenation and the Winograd siblings keep every bit; the
    /// SiLU (one polynomial for x·σ(x)) and the in-place concatenation (each part's sums added in
    /// turn) agree within 2e-6 of the outputs' scale, inside the 1e-4 the detector keeps to
    /// onnxruntime. Without a pass more nodes run, so each applies to this model where its kernel
    /// path allows (the last two need the packed kernels).
    @Test(arguments: ComputeConfiguration.availableKernels, [1, 2])
    func eachFusionAgainstTheUnfusedGraph(kernel: ComputeConfiguration.Kernel, threads: Int) throws {
        let input = try Self.floats("goldens/detector/input-128x128.bin")
        let compute = ComputeConfiguration(threads: threads, kernel: kernel)
        let model = try ONNXModel(contentsOf: Self.model)
        func run(_ fusions: Set<GraphFusion>) throws -> (output: [Float], nodes: Int) {
            var ran = 0
            let result = try ONNXGraph(model, compute: compute, fusions: fusions).run(
                ["images": Value(shape: [1, 3, 128, 128], floats: input)]
            ) { _, _ in ran += 1 }
            let output = try #require(result["output0"])
            guard case .float(let values) = output.data else { throw ONNXError(file: "", reason: "int output") }
            return (values, ran)
        }
        let all = try run(Set(GraphFusion.allCases))
        let scale = all.output.map(abs).max() ?? 1
        for fusion in GraphFusion.allCases {
            let without = try run(Set(GraphFusion.allCases).subtracting([fusion]))
            try #require(without.output.count == all.output.count)
            let worst = zip(all.output, without.output).map { abs($0 - $1) }.max() ?? 0
            if [.upsampledConcat, .winogradSiblings].contains(fusion) {
                let differing = zip(all.output, without.output).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(fusion) \(kernel): \(differing) differ")
            } else {
                #expect(worst <= 2e-6 * max(1, scale), "\(fusion) \(kernel): \(worst)")
            }
            let applies = [.silu, .concatConvolution].contains(fusion) || compute.packed
            #expect((without.nodes > all.nodes) == applies, "\(fusion) \(kernel): \(without.nodes) vs \(all.nodes)")
        }
    }

    /// Damaged files are errors naming what is wrong, never crashes: every truncation of the model
    /// and single-byte changes in its header fail cleanly or load.
    @Test func malformedModelsFailCleanly() throws {
        let bytes = try Fixtures.bytes("detector/tiny-yolo.onnx")
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            _ = try? ONNXModel(bytes: Array(bytes.prefix(cut)), path: "cut")
        }
        var random = SplitMix64(seed: 5)
        for _ in 0..<300 {
            var damaged = bytes
            let position = Int(random.next() % UInt64(min(bytes.count, 4096)))
            damaged[position] = UInt8(truncatingIfNeeded: random.next())
            if let model = try? ONNXModel(bytes: damaged, path: "damaged"), let graph = try? ONNXGraph(model) {
                _ = try? graph.run(["images": Value(shape: [1, 3, 32, 32], floats: Array(repeating: 0.5, count: 3072))])
            }
        }
        #expect(throws: ONNXError.self) { try ONNXModel(bytes: [0x0A, 0xFF, 0xFF, 0xFF, 0x0F], path: "huge") }
        #expect(throws: ONNXError.self) { try ONNXModel(bytes: Array(bytes.prefix(bytes.count / 2)), path: "half") }
    }

    /// An unknown operator or an input no node produces is a load error naming the node.
    @Test func unsupportedGraphsAreRefusedAtLoad() throws {
        var model = try ONNXModel(contentsOf: Self.model)
        let name = model.nodes[3].name
        model.nodes[3].opType = "LSTM"
        #expect {
            try ONNXGraph(model)
        } throws: { error in
            "\(error)".contains("node \(name): unsupported operator LSTM")
        }
        var reordered = try ONNXModel(contentsOf: Self.model)
        reordered.nodes.swapAt(0, reordered.nodes.count - 1)
        #expect(throws: ONNXError.self) { try ONNXGraph(reordered) }
        var attribute = try ONNXModel(contentsOf: Self.model)
        let conv = try #require(attribute.nodes.firstIndex { $0.opType == "Conv" })
        attribute.nodes[conv].attributes["group"] = .int(2)
        #expect(throws: ONNXError.self) { try ONNXGraph(attribute) }
    }

    /// Node outputs are checked at load: for every node of the model, no outputs, a nameless
    /// output, an extra output or one that names an existing value is an error naming the node,
    /// never a trap when the planner or the run loop reads it.
    @Test func malformedNodeOutputsAreRefusedAtLoad() throws {
        let model = try ONNXModel(contentsOf: Self.model)
        for index in model.nodes.indices {
            let node = model.nodes[index]
            var damaged = [model, model, model, model]
            damaged[0].nodes[index].outputs = []
            damaged[1].nodes[index].outputs = [""]
            damaged[2].nodes[index].outputs = node.outputs + [node.outputs[0] + ".extra"]
            damaged[3].nodes[index].outputs = [model.inputs[0].name]
            for (variant, broken) in damaged.enumerated() where !(variant == 2 && node.opType == "Split") {
                #expect(throws: ONNXError.self, "node \(node.name) variant \(variant)") { try ONNXGraph(broken) }
            }
        }
    }
}

/// Decoding and suppression against the `nudenet` package's own `_postprocess` on synthetic outputs
/// (`scripts/gen_nudenet_postprocess_goldens.py`): the same candidates, and the same detections
/// (labels, float32 scores, boxes) in the same order.
@Suite struct NudeNetDecodingTests {
    struct Case: Decodable {
        struct Found: Decodable {
            var `class`: String
            var score: Double
            var box: [Int]
        }
        var width: Int
        var height: Int
        var xPad: Int
        var yPad: Int
        var candidates: Int
        var detections: [Found]

        enum CodingKeys: String, CodingKey {
            case width, height, candidates, detections
            case xPad = "x_pad"
            case yPad = "y_pad"
        }
    }

    @Test func matchesThePackage() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/detector/postprocess.json")))
        let cases = try JSONDecoder().decode([String: Case].self, from: data)
        #expect(cases.count == 5)
        for (key, golden) in cases {
            let values = try ONNXTests.floats("goldens/detector/postprocess-\(key).bin")
            let output = Value(shape: [1, 22, values.count / 22], floats: values)
            let (candidates, detections) = try NudeNet.decode(
                output, width: golden.width, height: golden.height, xPad: golden.xPad, yPad: golden.yPad,
                modelSize: 320)
            #expect(candidates == golden.candidates, "case \(key)")
            #expect(detections.map(\.label) == golden.detections.map(\.class), "case \(key)")
            #expect(detections.map { Double($0.score) } == golden.detections.map(\.score), "case \(key)")
            #expect(detections.map(\.box) == golden.detections.map(\.box), "case \(key)")
        }
    }

    /// OpenCV's rules: scores strictly above the threshold, equal scores in input order, a box
    /// kept when its overlap is at most the threshold.
    @Test func suppressionRules() {
        let same = (x: Float(0), y: Float(0), width: Float(10), height: Float(10))
        #expect(
            NonMaximumSuppression.indices(
                boxes: [same, same, (20, 20, 5, 5)], scores: [0.5, 0.5, 0.25], scoreThreshold: 0.25, nmsThreshold: 0.45)
                == [0])
        // Overlap 1/3 of float boxes (OpenCV's Rect2d, not whole-pixel Rect) keeps both.
        #expect(
            NonMaximumSuppression.indices(
                boxes: [(0, 0, 1.5, 1.5), (0.75, 0, 1.5, 1.5)], scores: [0.9, 0.8], scoreThreshold: 0.25,
                nmsThreshold: 0.45) == [0, 1])
        #expect(
            NonMaximumSuppression.indices(
                boxes: [(0, 0, 10, 10), (1, 0, 10, 10)], scores: [0.3, 0.9], scoreThreshold: 0.25, nmsThreshold: 0.45)
                == [1])
        // Boxes clipped to zero width at the picture's edge suppress each other (OpenCV's Jaccard
        // distance of two empty boxes is 0), though they do not intersect.
        #expect(
            NonMaximumSuppression.indices(
                boxes: [(480, 200, 0, 170), (480, 195, 0, 160)], scores: [0.9, 0.6], scoreThreshold: 0.25,
                nmsThreshold: 0.45) == [0])
    }
}

/// The detector's input against the `nudenet` package's (`cv2.dnn.blobFromImage` after padding),
/// bit for bit: pictures smaller and larger than 320, portrait and landscape, and already square,
/// on every kernel path (the vector passes gather pixels where they can and fall back to single
/// columns at a row's last bytes; the portable ones never gather), on 1 and 3 workers.
@Suite struct NudeNetInputTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            var sha256: String
            var samples: [Double]
        }
        var cases: [String: Case]
    }

    /// The pixels the golden script's formula gives.
    static func picture(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    pixels[(y * width + x) * 3 + c] = UInt8((x * 7 + y * 13 + c * 29 + (x * y) % 17) % 256)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test(arguments: ComputeConfiguration.availableKernels, [1, 3])
    func matchesBlobFromImage(kernel: ComputeConfiguration.Kernel, threads: Int) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/detector/input.json")))
        let golden = try JSONDecoder().decode(Golden.self, from: data)
        #expect(golden.cases.count == 7)
        for (key, expected) in golden.cases {
            let size = key.split(separator: "x").map { Int($0)! }
            let input = NudeNetInput(
                Self.picture(width: size[0], height: size[1]),
                compute: ComputeConfiguration(threads: threads, kernel: kernel))
            guard case .float(let values) = input.tensor.data else { return #expect(Bool(false)) }
            #expect([0, 1000, 150_000, 307_199].map { Double(values[$0]) } == expected.samples, "\(key)")
            let bytes = values.withUnsafeBytes { Array($0) }
            #expect(ContentHash.hex(bytes) == expected.sha256, "\(key)")
            #expect(input.xPad == max(size[0], size[1]) - size[0] && input.yPad == max(size[0], size[1]) - size[1])
        }
    }
}
