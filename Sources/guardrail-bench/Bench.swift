import ArgumentParser
import Compute
import Foundation
import Media
import RepositoryFiles
import Vision

/// Makes the process-wide compute settings, then runs the command line.
@main
enum Main {
    static func main() async {
        ComputeProcess.start()
        await Bench.main()
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardrail-bench",
        abstract: "Benchmarks, each printed next to a reference measured in the same run (ratios, not absolute times).",
        subcommands: [
            MediaBench.self, GEMMBench.self, VisionBench.self, ScanBench.self, SanitizeBench.self, EvalBench.self,
            DetectorBench.self, ServeBench.self, QueueBench.self,
        ]
    )
}

/// Wall time of `body` in seconds.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Runs a command, discarding its output; throws when it fails.
func runCommand(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ValidationError("\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
}

/// A 1080p30 H.264 clip (x264 veryfast, GOP 60, B-frames) from FFmpeg's test source.
func generateClip(_ path: String, seconds: Int, height: Int = 1080) throws {
    print("generating \(seconds) s \(height)p30 H.264 clip, GOP 60 …")
    try runCommand([
        "ffmpeg", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(height * 16 / 9)x\(height):rate=30", "-t",
        String(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", path,
    ])
}

/// The CLIP model a benchmark runs: `given`, else a full-size ViT-B/32 with random weights in
/// `checkpoint` (written there once, then reused) or, without one, in `folder`.
func benchmarkModel(_ given: String? = nil, checkpoint: String?, folder: String) throws -> String {
    if let given { return given }
    let model = checkpoint ?? folder + "/model"
    try RandomCLIP.prepare(config: RandomCLIP.vitB32, in: model, tokenizer: "clip-b32-tiny")
    return model
}

/// Starts the release `guardrail` beside this binary with `arguments` (a `serve` or `worker` on
/// `--port 0`) and returns it with the port its "listening on" line names.
func launchGuardrail(_ arguments: [String]) throws -> (Process, Int) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("guardrail")
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    var banner = ""
    while !banner.contains("\n") {
        let chunk = out.fileHandleForReading.availableData
        guard !chunk.isEmpty else { throw ValidationError("guardrail \(arguments[0]) exited before listening") }
        banner += String(decoding: chunk, as: UTF8.self)
    }
    guard let port = banner.split(separator: "\n").first?.split(separator: ":").last.flatMap({ Int($0) }) else {
        process.terminate()
        throw ValidationError("cannot read the port from: \(banner)")
    }
    return (process, port)
}

/// Peak resident memory of this process, in MB.
func peakMemoryMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

struct MediaBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Sample 1 frame/s at 224x224 from a generated 1080p30 H.264 clip (GOP 60), against the ffmpeg CLI.",
        discussion: "Needs the ffmpeg command (apt-get install ffmpeg) to generate the clip and to time the reference."
    )

    @Option(help: "Clip length in seconds.")
    var seconds = 60

    @Option(help: "Repetitions; the median is reported.")
    var repeats = 3

    @Option(help: "Use this clip instead of generating one.")
    var clip: String?

    func run() throws {
        let folder = NSTemporaryDirectory() + "guardrail-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = clip ?? folder + "/clip.mp4"
        if clip == nil { try generateClip(path, seconds: seconds) }
        let size = FrameSize(width: 224, height: 224)
        func median(_ body: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<repeats { times.append(try time(body)) }
            return times.sorted()[times.count / 2]
        }
        let reference = try median {
            try runCommand(["ffmpeg", "-i", path, "-vf", "fps=1,scale=224:224", "-f", "rawvideo", "-y", "/dev/null"])
        }
        var frames = 0
        let every = try median {
            frames = try VideoSampler(
                path: path, options: SamplingOptions(strategy: .every(seconds: 1), maxFrames: nil, outputSize: size)
            ).collect().count
        }
        var keyframeCount = 0
        let keyframes = try median {
            keyframeCount = try VideoSampler(
                path: path, options: SamplingOptions(strategy: .keyframes, maxFrames: nil, outputSize: size)
            ).collect().count
        }
        var all = 0
        let everyFrame = try time {
            let sampler = try VideoSampler(
                path: path, options: SamplingOptions(strategy: .every(seconds: 0.001), maxFrames: nil, outputSize: size)
            )
            while try sampler.next() != nil { all += 1 }
        }
        print("clip: \(path)")
        print(String(format: "ffmpeg -vf fps=1,scale=224:224      %7.3f s   (reference)", reference))
        print(
            String(
                format: "engine every 1s  (%4d frames)      %7.3f s   %5.2fx faster than ffmpeg (target 1.5x)",
                frames, every, reference / every))
        print(String(format: "engine every frame (%4d frames)    %7.3f s", all, everyFrame))
        print(
            String(
                format: "engine keyframes (%4d frames)      %7.3f s   %5.2fx faster than every frame (target 10x)",
                keyframeCount, keyframes, everyFrame / keyframes))
        print(String(format: "peak memory (engine process)        %7.1f MB  (target < 200 MB)", peakMemoryMB()))
    }
}

struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract:
            "GFLOPS of cblas_sgemm and of the engine's linear kernel over ViT-B/32's linear shapes at batch 8, per thread count."
    )

    func run() {
        for threads in [1, 2] {
            let compute = ComputeConfiguration(threads: threads)
            let rates = Self.rates(compute)
            print(
                String(
                    format: "%d thread(s): cblas_sgemm %6.1f GFLOPS   engine kernel%@ %6.1f GFLOPS (%.2fx)", threads,
                    rates.blas / 1e9, " (\(compute.kernel.rawValue))" as NSString, rates.engine / 1e9,
                    rates.engine / rates.blas))
        }
    }

    /// GFLOPS over the linear-layer shapes of one batch-8 vision forward pass: `cblas_sgemm` with
    /// OpenBLAS on `compute`'s thread count, and the engine's linear kernel on `compute`; each the
    /// best of three trials.
    static func rates(_ compute: ComputeConfiguration) -> (blas: Double, engine: Double) {
        let threads = compute.threads
        let shapes = [(400, 768, 768), (400, 3072, 768), (400, 768, 3072)]
        let reps = 10
        var flops = 0.0
        var blasSeconds = 0.0
        var engineSeconds = 0.0
        for (m, n, k) in shapes {
            let a = [Float](repeating: 0.5, count: m * k)
            let b = [Float](repeating: 0.25, count: n * k)
            var c = [Float](repeating: 0, count: m * n)
            let weight = LinearWeight(Tensor(shape: [n, k], scalars: b), compute: compute)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        // The best of three trials: a rate the machine can reach, not one a busy
                        // neighbour happened to leave.
                        blasSeconds += (0..<3).map { _ in
                            GEMM.withBLASThreads(threads) {
                                time {
                                    for _ in 0..<reps {
                                        GEMM.multiply(a, b, into: c, m: m, n: n, k: k, transposeB: true)
                                    }
                                }
                            }
                        }.min()!
                        engineSeconds +=
                            (0..<3).map { _ in time { for _ in 0..<reps { weight.multiply(a, rows: m, into: c) } } }
                            .min()!
                    }
                }
            }
            flops += 2 * Double(m * n * k * reps)
        }
        return (flops / blasSeconds, flops / engineSeconds)
    }

}
