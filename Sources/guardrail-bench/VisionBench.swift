import ArgumentParser
import Compute
import Foundation
import RepositoryFiles
import Vision

struct VisionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract:
            "ViT-B/32 CLIP (random weights): images/s at batch 1 and 8, prompts/s at batch 16, at 1 and 2 threads.",
        discussion: """
            Also runs scripts/bench_clip_reference.py (PyTorch transformers, and onnxruntime on an ONNX export) \
            on the same checkpoint when python3 has torch and transformers, and prints ratios. Measures \
            cblas_sgemm (OpenBLAS on the same threads) and the engine's linear kernel on the model's GEMM \
            shapes, and gives the image time as a multiple of each GEMM-bound time.
            """
    )

    @Option(
        help:
            "Timed repetitions per measurement; the best is reported, here and for the references (other tenants of a shared machine slow single runs)."
    )
    var repeats = 5

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Image batch sizes to measure.")
    var batches: [Int] = [1, 8]

    @Flag(help: "Skip the text tower.")
    var noText = false

    @Flag(help: "Skip the Python references.")
    var noReference = false

    @Option(help: "Keep the random checkpoint in this folder (reused when it exists) instead of a temporary one.")
    var checkpoint: String?

    func run() throws {
        let folder = checkpoint ?? NSTemporaryDirectory() + "guardrail-vitb32-\(getpid())"
        defer { if checkpoint == nil { try? FileManager.default.removeItem(atPath: folder) } }
        if !FileManager.default.fileExists(atPath: folder + "/model.safetensors") {
            print("writing a random ViT-B/32 CLIP to \(folder) …")
            try RandomCLIP.write(config: RandomCLIP.vitB32, to: folder)
        }
        let imageFLOPs = Self.visionFLOPs()
        var results: [String: Double] = [:]
        var lastModel: CLIPModel?
        for threads in threads {
            // One model per thread count (the setting is fixed at load); the previous one is gone first.
            lastModel = nil
            let compute = ComputeConfiguration(threads: threads)
            let model = try CLIPModel(folder: folder, compute: compute)
            lastModel = model
            let rates = GEMMBench.rates(compute)
            print(
                String(
                    format: "threads %d  linear-layer GEMM: cblas_sgemm %.0f GFLOPS, engine kernel %.0f GFLOPS",
                    threads,
                    rates.blas / 1e9, rates.engine / 1e9))
            for batch in batches {
                let pixels = Tensor(
                    shape: [batch, 3, 224, 224],
                    scalars: (0..<(batch * 3 * 224 * 224)).map { Float($0 % 255) / 255 - 0.5 })
                _ = try model.encodeImages(pixels, hiddenStates: false)
                let seconds = try best { _ = try model.encodeImages(pixels, hiddenStates: false) } / Double(batch)
                results["image_b\(batch)_t\(threads)"] = seconds
                print(
                    String(
                        format:
                            "threads %d  images batch %2d  %7.1f ms/image  %6.1f images/s  GEMM-bound %5.1f ms (cblas) → %.2fx, %5.1f ms (engine kernel) → %.2fx",
                        threads, batch, seconds * 1000, 1 / seconds, imageFLOPs / rates.blas * 1000,
                        seconds / (imageFLOPs / rates.blas), imageFLOPs / rates.engine * 1000,
                        seconds / (imageFLOPs / rates.engine)))
                // The same work as the references: the last layer for every token, not the class token only.
                let equal = try best { _ = try model.encodeImages(pixels, hiddenStates: true) } / Double(batch)
                results["image_b\(batch)_t\(threads)_equal"] = equal
                print(
                    String(
                        format: "threads %d  images batch %2d  %7.1f ms/image  (equal work: last layer for all tokens)",
                        threads, batch, equal * 1000))
            }
            let ids = (0..<16).map(Self.prompt)
            for hidden in noText ? [] : [true, false] {
                _ = try model.encodeTexts(ids, hiddenStates: hidden)
                let seconds = try best { _ = try model.encodeTexts(ids, hiddenStates: hidden) } / 16
                results[hidden ? "text_b16_t\(threads)" : "text_embeds_b16_t\(threads)"] = seconds
                print(
                    String(
                        format: "threads %d  texts  batch 16  %7.2f ms/prompt  %6.1f prompts/s  (%@)", threads,
                        seconds * 1000, 1 / seconds, hidden ? "all 77 hidden states" : "embeddings only"))
            }
        }
        print(
            String(
                format: "peak memory %.0f MB (weights %.0f MB as f32; one model per thread count measured)",
                peakMemoryMB(), Double(151_277_313 * 4) / 1e6))
        if !noReference, let lastModel { try compareWithReference(folder: folder, model: lastModel, results: results) }
    }

    /// The engine's embeddings of the reference's check inputs against PyTorch's, at full size.
    private func checkAgreement(model: CLIPModel, reference: [String: Any]) throws {
        guard let images = reference["check_image_embeds"] as? [Double],
            let texts = reference["check_text_embeds"] as? [Double]
        else { return print("the reference gave no check embeddings") }
        let pixels = Tensor(
            shape: [2, 3, 224, 224], scalars: (0..<(2 * 3 * 224 * 224)).map { Float($0 % 255) / 255 - 0.5 })
        let engineImages = try model.encodeImages(pixels, hiddenStates: false).imageEmbeds
        let engineTexts = try model.encodeTexts([Self.prompt(0), Self.prompt(1)], hiddenStates: false).textEmbeds
        for (label, engine, torch) in [("image_embeds", engineImages, images), ("text_embeds", engineTexts, texts)] {
            guard let engine, engine.count == torch.count else { continue }
            let comparison = TensorComparison(engine, Tensor(shape: engine.shape, scalars: torch.map { Float($0) }))
            print("agreement with PyTorch at full size, \(label): \(comparison)")
        }
    }

    /// A 20-token prompt padded to 77, different for each `i`.
    static func prompt(_ i: Int) -> [Int] {
        let words: [Int] = (0..<20).map { ($0 * 37 + i * 101) % 49000 + 300 }
        return [49406] + words + [Int](repeating: 49407, count: 56)
    }

    private func best(_ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<repeats { times.append(try time(body)) }
        return times.min()!
    }

    /// Multiply-add = 2 FLOPs: patch embedding, 12 layers of QKV/out, attention, MLP, projection.
    static func visionFLOPs() -> Double {
        let (t, d, i) = (50.0, 768.0, 3072.0)
        let perLayer = 2 * t * d * d * 4 + 2 * t * t * d * 2 + 2 * t * d * i * 2
        return 2 * 49 * 3072 * 768 + 12 * perLayer + 2 * 768 * 512
    }

    private func compareWithReference(folder: String, model: CLIPModel, results: [String: Double]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../scripts/bench_clip_reference.py"
        ).standardizedFileURL.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, folder, String(repeats)]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        do { try process.run() } catch {
            print("python3 not available: no reference run")
            return
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            print("reference run unavailable (needs torch and transformers in python3)")
            return
        }
        let reference = json.compactMapValues { $0 as? Double }
        try checkAgreement(model: model, reference: json)
        print("\nper item, engine vs reference (ratio > 1: engine faster)")
        print("(_equal: the engine doing the references' work; image rows without it run the last layer for")
        print(" the class token only, text_embeds stops at the last end-of-text token: fast paths, exact)")
        for key in results.keys.sorted() {
            var line = String(format: "%-20@ engine %7.2f ms", key as NSString, results[key]! * 1000)
            // The references compute every position: their image and 77-position text timings.
            let referenceKey = key.replacingOccurrences(of: "_equal", with: "")
                .replacingOccurrences(of: "text_embeds_", with: "text_")
            for backend in ["torch", "onnxruntime"] {
                if let r = reference["\(backend)_\(referenceKey)"] {
                    line += String(format: "   %@ %7.2f ms (%.2fx)", backend as NSString, r * 1000, r / results[key]!)
                }
            }
            print(line)
        }
    }
}
