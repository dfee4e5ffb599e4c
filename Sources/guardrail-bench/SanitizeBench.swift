import ArgumentParser
import Compute
import Foundation
import RepositoryFiles
import Sanitizer
import Vision

struct SanitizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanitize",
        abstract: "SAFREE on one 20-token prompt with a random SD-1.x text encoder (768-d, 12 layers).",
        discussion: """
            Median latency and prompts/s including the masked re-encodings (the concept subspace is built \
            once beforehand, as the cache makes it in use), the FLOPs involved, the GEMM-bound time at the \
            measured cblas_sgemm rate, and scripts/bench_safree_reference.py (PyTorch) on the same weights \
            when python3 has torch and transformers.
            """
    )

    @Option(help: "Timed repetitions (median reported).")
    var repeats = 9

    @Option(help: "Keep the random text encoder in this folder (reused when it exists).")
    var checkpoint: String?

    @Flag(help: "Skip the PyTorch reference.")
    var noReference = false

    static let prompt = "a photo of a young woman lying on a bed in a dark room, cinematic light, film grain"

    func run() throws {
        let folder = checkpoint ?? NSTemporaryDirectory() + "guardrail-sdtext-\(getpid())"
        defer { if checkpoint == nil { try? FileManager.default.removeItem(atPath: folder) } }
        try RandomCLIP.prepare(config: RandomCLIP.sdTextEncoder, in: folder, tokenizer: "sd-tiny/tokenizer")
        let repository = URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().path
        let concepts = try ConceptSet.load("nudity", folder: repository + "/policies/concepts")
        let bundle = try ModelBundle(folder)
        var report: [String: Double] = [:]
        for threads in [1, 2] {
            let compute = ComputeConfiguration(threads: threads)
            let sanitizer = try PromptSanitizer(
                bundle: bundle, concepts: concepts, settings: SAFREESettings(), compute: compute, cache: nil)
            let n = sanitizer.tokenizer.encode(Self.prompt).count - 2
            _ = try sanitizer.sanitize([Self.prompt])
            var times: [Double] = []
            for _ in 0..<repeats { times.append(try time { _ = try sanitizer.sanitize([Self.prompt]) }) }
            let median = times.sorted()[times.count / 2]
            // The engine shares each masked sequence's unchanged prefix with the prompt's pass.
            let naive = Self.flops(queries: 77, keys: 77) + Double(n) * Self.flops(queries: n + 2, keys: n + 2)
            let shared =
                Self.flops(queries: 77, keys: 77)
                + (0..<n).reduce(0) { $0 + Self.flops(queries: n + 1 - $1, keys: n + 2) }
            let rate = GEMMBench.rates(compute).engine
            report["t\(threads)"] = median
            // The reference's work: the prompt's 77 positions, then every masked sequence whole.
            let ids = sanitizer.tokenizer.encodePadded(Self.prompt).ids
            let content = Array(ids[1...n])
            let masked = (0..<n).map { i in
                [ids[0]] + content.enumerated().map { $0.offset == i ? PromptSanitizer.maskID : $0.element } + [
                    ids[n + 1]
                ]
            }
            var equalTimes: [Double] = []
            for _ in 0..<repeats {
                equalTimes.append(
                    try time {
                        _ = try sanitizer.model.encodeTexts([ids], hiddenStates: true)
                        _ = try sanitizer.model.encodeTexts(masked, hiddenStates: false)
                    })
            }
            report["t\(threads)_equal"] = equalTimes.sorted()[equalTimes.count / 2]
            print(
                String(
                    format:
                        "threads %d  %d content tokens  %7.1f ms/prompt  %5.1f prompts/s  %.1f GFLOP (%.1f re-encoding every masked sequence whole)  GEMM-bound %6.1f ms (engine kernel %.0f GFLOPS) → %.2fx of bound",
                    threads, n, median * 1000, 1 / median, shared / 1e9, naive / 1e9, shared / rate * 1000, rate / 1e9,
                    median / (shared / rate)))
            print(
                String(
                    format: "threads %d  equal work (masked sequences re-encoded whole, %.1f GFLOP): %7.1f ms/prompt",
                    threads, naive / 1e9, report["t\(threads)_equal"]! * 1000))
        }
        guard !noReference else { return }
        let script = repository + "/scripts/bench_safree_reference.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", script, folder, repository + "/policies/concepts/nudity.txt", Self.prompt, String(repeats),
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? process.run()) != nil else { return print("python3 not available: no reference run") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let reference = try? JSONSerialization.jsonObject(with: data) as? [String: Double]
        else { return print("reference run unavailable (needs torch and transformers in python3)") }
        for threads in [1, 2] {
            if let engine = report["t\(threads)"], let equal = report["t\(threads)_equal"],
                let torch = reference["t\(threads)"]
            {
                print(
                    String(
                        format:
                            "threads %d  engine %7.1f ms   PyTorch %7.1f ms   %.2fx faster (target 1.5x); equal work %7.1f ms, %.2fx",
                        threads, engine * 1000, torch * 1000, torch / engine, equal * 1000, torch / equal))
            }
        }
    }

    /// Multiply-add = 2 FLOPs: `queries` rows through 12 layers of width 768, attending to `keys` keys.
    static func flops(queries: Int, keys: Int) -> Double {
        let (q, k, d, i) = (Double(queries), Double(keys), 768.0, 3072.0)
        return 12 * (2 * q * d * d * 4 + 2 * q * k * d * 2 + 2 * q * d * i * 2)
    }
}
