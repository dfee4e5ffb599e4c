import CKernels
import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

@testable import Compute

/// The kernel paths this CPU runs: all three where it has AVX-512F.
let kernels = ComputeConfiguration.availableKernels

/// Both linear kernels against a Float64 triple loop: every edge of the packed kernel's register
/// tile (rows around multiples of 12, columns around multiples of 32, depths around its 256 block),
/// strided operands, bias, residual accumulation, the fused activation and both thread counts; the
/// BLAS path split into row blocks the same way.
@Suite struct LinearKernelTests {
    static let shapes = [
        (1, 1, 1), (2, 16, 7), (11, 31, 255), (12, 32, 256), (13, 33, 257), (50, 77, 64), (145, 96, 600),
        (301, 40, 33),
    ]

    @Test(arguments: kernels, shapes)
    func matchesNaiveProduct(kernel: ComputeConfiguration.Kernel, shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var rng = SeededGenerator(seed: UInt64(m * 1_000_000 + n * 1000 + k))
        let (lda, ldc) = (k + 3, n + 5)
        let x = (0..<m * lda).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<n * k).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let start = (0..<m * ldc).map { _ in Float.random(in: -1...1, using: &rng) }
        for threads in [1, 2] {
            let weight = LinearWeight(
                Tensor(shape: [n, k], scalars: w), compute: ComputeConfiguration(threads: threads, kernel: kernel))
            for (useBias, accumulate, activation) in [
                (false, false, nil), (true, false, nil), (true, true, nil), (true, false, Activation.quickGELU),
            ] as [(Bool, Bool, Activation?)] {
                var out = start
                x.withUnsafeBufferPointer { x in
                    bias.withUnsafeBufferPointer { bias in
                        out.withUnsafeMutableBufferPointer { out in
                            weight.apply(
                                x.baseAddress!, lda: lda, rows: m, bias: useBias ? bias.baseAddress! : nil,
                                into: out.baseAddress!, ldc: ldc, accumulate: accumulate, activation: activation)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else {
                            // Columns past n belong to someone else: untouched.
                            #expect(out[i * ldc + j] == start[i * ldc + j])
                            continue
                        }
                        var sum = useBias ? Double(bias[j]) : 0
                        for p in 0..<k { sum += Double(x[i * lda + p]) * Double(w[j * k + p]) }
                        if accumulate { sum += Double(start[i * ldc + j]) }
                        if activation != nil { sum = ActivationTests.reference(.quickGELU, sum) }
                        worst = max(worst, abs(sum - Double(out[i * ldc + j])))
                    }
                }
                #expect(
                    worst <= 1e-5 * Double(k + 1),
                    "\(kernel) \(m)x\(n)x\(k) threads \(threads) bias \(useBias) accumulate \(accumulate) \(String(describing: activation)): worst \(worst)"
                )
            }
        }
    }
}

/// The AVX2 and AVX-512 forms of the register tile sum every output in the same order (from zero
/// over k, then the earlier k blocks, then the bias), so a packed product has the same bits on
/// either: bias, residual accumulation and every tile edge of the shapes above.
@Suite(.enabled(if: kernels.contains(.avx512Packed), "needs AVX-512F"))
struct TileAgreementTests {
    @Test(arguments: LinearKernelTests.shapes)
    func bothTilesGiveTheSameBits(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var rng = SeededGenerator(seed: UInt64(m * 7919 + n * 31 + k))
        let x = (0..<m * k).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<n * k).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let start = (0..<m * n).map { _ in Float.random(in: -1...1, using: &rng) }
        let results = [ComputeConfiguration.Kernel.avx512Packed, .avx2Packed].map { kernel in
            let weight = LinearWeight(
                Tensor(shape: [n, k], scalars: w), compute: ComputeConfiguration(threads: 2, kernel: kernel))
            var out = start
            x.withUnsafeBufferPointer { x in
                bias.withUnsafeBufferPointer { bias in
                    out.withUnsafeMutableBufferPointer { out in
                        weight.apply(
                            x.baseAddress!, lda: k, rows: m, bias: bias.baseAddress!, into: out.baseAddress!, ldc: n,
                            accumulate: true)
                    }
                }
            }
            return out.map(\.bitPattern)
        }
        #expect(results[0] == results[1], "\(m)x\(n)x\(k)")
    }
}

/// The engine's thread pool: every index exactly once, for any split, also when called from
/// inside a parallel part (which runs inline).
@Suite struct ParallelTests {
    @Test(arguments: [1, 2, 3, 5])
    func coversEveryIndexOnce(threads: Int) {
        let compute = ComputeConfiguration(threads: threads)
        for count in [1, 2, 7, 100] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count * count)
            hits.initialize(repeating: 0, count: count * count)
            defer { hits.deallocate() }
            compute.parallel(count) { outer in
                for i in outer {
                    compute.parallel(count) { inner in
                        for j in inner { hits[i * count + j] += 1 }
                    }
                }
            }
            #expect((0..<count * count).allSatisfy { hits[$0] == 1 }, "count \(count), threads \(threads)")
        }
    }

    /// Concurrent callers each get the threads they ask for: four two-part calls at once, every
    /// part waiting until all eight have started. A caller narrowed to its own thread would run its
    /// second part only after its first returned, so the parts would never all meet (the wait then
    /// gives up after 20 s and the test fails).
    @Test func concurrentCallersEachGetTheirThreads() {
        let callers = 4
        let compute = ComputeConfiguration(threads: 2)
        let shared = Meeting()
        let narrowedBefore = gr_parallel_narrowed()
        let done = DispatchGroup()
        for _ in 0..<callers {
            done.enter()
            Thread {
                compute.parallel(2) { _ in
                    shared.started.add(1, ordering: .sequentiallyConsistent)
                    let deadline = Date().addingTimeInterval(20)
                    while shared.started.load(ordering: .sequentiallyConsistent) < 2 * callers {
                        if Date() > deadline {
                            shared.gaveUp.store(true, ordering: .sequentiallyConsistent)
                            return
                        }
                        sched_yield()
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        let gaveUp = shared.gaveUp.load(ordering: .sequentiallyConsistent)
        #expect(!gaveUp)
        #expect(gr_parallel_narrowed() == narrowedBefore)
    }

    private final class Meeting: Sendable {
        let started = Atomic<Int>(0)
        let gaveUp = Atomic<Bool>(false)
    }
}

/// The pool after `fork`: a child starts with none of the parent's threads, and its first parallel
/// call must start its own instead of waiting for threads that do not exist there. The child runs
/// only C calls (no Swift runtime work, which other test threads may hold locks of) and reports
/// through its exit status; the parent kills it if it has not finished after 10 s.
@Suite struct ForkTests {
    @Test func poolWorksInAForkedChild() {
        let parts = 4
        let marks = UnsafeMutablePointer<Int32>.allocate(capacity: parts)
        defer { marks.deallocate() }
        let mark: @convention(c) (UnsafeMutableRawPointer?, Int) -> Void = { context, part in
            context!.assumingMemoryBound(to: Int32.self)[part] += 1
        }
        // The parent's pool threads are running when it forks.
        marks.initialize(repeating: 0, count: parts)
        gr_parallel(parts, mark, marks)
        #expect((0..<parts).allSatisfy { marks[$0] == 1 })
        marks.initialize(repeating: 0, count: parts)
        let child = fork()
        if child == 0 {
            gr_parallel(parts, mark, marks)
            gr_parallel(parts, mark, marks)
            var ok: Int32 = 0
            for part in 0..<parts where marks[part] != 2 { ok = 1 }
            _exit(ok)
        }
        #expect(child > 0)
        var status: Int32 = 0
        var waited = 0
        while waitpid(child, &status, WNOHANG) == 0 {
            if waited == 1000 {
                kill(child, SIGKILL)
                waitpid(child, &status, 0)
                Issue.record("the forked child hung in gr_parallel")
                break
            }
            usleep(10_000)
            waited += 1
        }
        // Exited normally (no signal) with status 0.
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "child status \(status)")
        // The parent's pool still works.
        gr_parallel(parts, mark, marks)
        #expect((0..<parts).allSatisfy { marks[$0] == 1 })
    }
}

/// Softmax and LayerNorm against Float64 formulas, on each kernel path.
@Suite struct RowKernelTests {
    @Test(
        arguments: kernels,
        [
            (3, 1, false, 0, 1), (5, 77, false, 0, 0.125), (77, 77, true, 0, 1), (4, 21, true, 17, 0.5),
            (2, 300, false, 0, 1),
        ] as [(Int, Int, Bool, Int, Float)])
    func softmax(kernel: ComputeConfiguration.Kernel, shape: (Int, Int, Bool, Int, Float)) {
        let (rows, width, causal, offset, scale) = shape
        var rng = SeededGenerator(seed: UInt64(rows * 1000 + width))
        var x = (0..<rows * width).map { _ in Float.random(in: -30...30, using: &rng) }
        let input = x
        x.withUnsafeMutableBufferPointer {
            softmaxRows(
                $0.baseAddress!, rows: rows, width: width, scale: scale, causal: causal, offset: offset,
                isa: ComputeConfiguration(kernel: kernel).isa)
        }
        var worst = 0.0
        for r in 0..<rows {
            let visible = causal ? min(offset + r + 1, width) : width
            let row = input[(r * width)..<(r * width + visible)].map { Double($0) * Double(scale) }
            let top = row.max()!
            let total = row.reduce(0) { $0 + exp($1 - top) }
            for i in 0..<width {
                let expected = i < visible ? exp(row[i] - top) / total : 0
                worst = max(worst, abs(expected - Double(x[r * width + i])))
            }
        }
        #expect(worst < 1e-6, "\(kernel): worst \(worst)")
    }

    @Test(arguments: kernels, [1, 15, 32, 768, 1000])
    func layerNorm(kernel: ComputeConfiguration.Kernel, width: Int) {
        var rng = SeededGenerator(seed: UInt64(width))
        let rows = 5
        let x = (0..<rows * width).map { _ in Float.random(in: -4...6, using: &rng) }
        let weight = (0..<width).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        let bias = (0..<width).map { _ in Float.random(in: -1...1, using: &rng) }
        var out = [Float](repeating: 0, count: rows * width)
        x.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer {
                        Compute.layerNorm(
                            x.baseAddress!, rows: rows, width: width, weight: w.baseAddress!, bias: b.baseAddress!,
                            eps: 1e-5, out: $0.baseAddress!, compute: ComputeConfiguration(threads: 2, kernel: kernel))
                    }
                }
            }
        }
        var worst = 0.0
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            for i in 0..<width {
                let expected = (row[i] - mean) / (variance + 1e-5).squareRoot() * Double(weight[i]) + Double(bias[i])
                worst = max(worst, abs(expected - Double(out[r * width + i])))
            }
        }
        #expect(worst < 1e-5, "\(kernel): worst \(worst)")
    }
}

/// `.ci/run` runs the model tests a second time with `GUARDRAIL_KERNELS=portable` (the default
/// path of CPUs without AVX-512); there the variable must choose the default kernel.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["GUARDRAIL_KERNELS"] == "portable"))
struct PortableKernelTests {
    @Test func environmentChoosesTheDefaultKernel() {
        #expect(ComputeConfiguration.preferredKernel == .openblas)
        #expect(ComputeConfiguration.default.kernel == .openblas)
    }
}

/// The OpenBLAS the engine is written against (Debian 12's 0.3.21): an upgrade shows up here as a
/// visible test change, as the media libraries' do in `VersionTests`.
@Suite struct BLASVersionTests {
    @Test func openBLASIs0_3_21() {
        #expect(ComputeProcess.blasConfiguration.hasPrefix("OpenBLAS 0.3.21"), "\(ComputeProcess.blasConfiguration)")
    }
}
