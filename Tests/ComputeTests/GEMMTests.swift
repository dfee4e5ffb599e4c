import Compute
import Foundation
import TestSupport
import Testing

@Suite struct GEMMTests {
    /// Against a naive triple loop in Float64, both weight layouts, odd sizes.
    @Test(arguments: [(1, 1, 1), (7, 5, 3), (50, 96, 33), (64, 17, 128)])
    func matchesNaiveProduct(m: Int, n: Int, k: Int) {
        var rng = SeededGenerator(seed: UInt64(m * 10_000 + n * 100 + k))
        let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &rng) }
        for transposeB in [false, true] {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        GEMM.multiply(a, b, into: c, m: m, n: n, k: k, transposeB: transposeB)
                    }
                }
            }
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k {
                        sum += Double(a[i * k + p]) * Double(transposeB ? b[j * k + p] : b[p * n + j])
                    }
                    worst = max(worst, abs(sum - Double(c[i * n + j])))
                }
            }
            #expect(worst <= 1e-5 * Double(k), "m=\(m) n=\(n) k=\(k) transposeB=\(transposeB): worst \(worst)")
        }
    }

    /// The wide products a convolution makes, against a Float64 triple loop with the row bias and
    /// SiLU: `b` read in place as several parts (a fused Concat; a part past the 768-row k block),
    /// and `b` written panel block by panel block (an im2col), on every kernel, 1 and 2 workers
    /// (the same bits: 70 rows of 100 columns are shared out by rows); `n` leaves a partial panel.
    @Test(arguments: [(5, 33, [7]), (13, 100, [16, 5, 40]), (24, 70, [800, 30]), (70, 100, [16, 50])], kernels)
    func wideProductsMatchTheNaiveProduct(shape: (Int, Int, [Int]), kernel: ComputeConfiguration.Kernel) {
        let (m, n, parts) = shape
        let k = parts.reduce(0, +)
        var rng = SeededGenerator(seed: UInt64(m * 1000 + n + k))
        let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &rng) }
        let rowBias = (0..<m).map { _ in Float.random(in: -1...1, using: &rng) }
        var expected = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = Double(rowBias[i])
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[p * n + j]) }
                expected[i * n + j] = sum / (1 + exp(-sum))
            }
        }
        func check(_ out: [Float], _ what: String) {
            let worst = zip(out, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= 1e-5 * Double(k), "\(what) \(kernel) \(m)x\(n)x\(parts): worst \(worst)")
        }
        var (oneWorker, oneWorkerProduced): ([Float], [Float]) = ([], [])
        for threads in [1, 2] {
            let compute = ComputeConfiguration(threads: threads, kernel: kernel)
            var out = [Float](repeating: .nan, count: m * n)
            b.withUnsafeBufferPointer { b in
                let starts = parts.indices.map { parts[..<$0].reduce(0, +) }
                let inputs = zip(starts, parts).map { (b: b.baseAddress! + $0 * n, k: $1) }
                GEMM.multiplyWide(
                    a, parts: inputs, into: &out, m: m, n: n, rowBias: rowBias, silu: true, compute: compute)
            }
            check(out, "parts, \(threads) workers:")
            if threads == 1 { oneWorker = out }
            if compute.packed {
                let differing = zip(out, oneWorker).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(kernel) \(m)x\(n)x\(parts): \(differing) differ on \(threads) workers")
            }
            // The first part's product on its own (the rows of `a` a whole weight apart), then the
            // others added to it: the same bits as the single call (the detector's neck takes
            // its upsampled part's share so, at the low resolution).
            var split = [Float](repeating: .nan, count: m * n)
            b.withUnsafeBufferPointer { b in
                let starts = parts.indices.map { parts[..<$0].reduce(0, +) }
                let inputs = zip(starts, parts).map { (b: b.baseAddress! + $0 * n, k: $1) }
                GEMM.multiplyWide(a, lda: k, parts: [inputs[0]], into: &split, m: m, n: n, compute: compute)
                guard inputs.count > 1 else { return }
                a.withUnsafeBufferPointer { a in
                    GEMM.multiplyWide(
                        a.baseAddress! + parts[0], lda: k, parts: Array(inputs.dropFirst()), into: &split, m: m,
                        n: n, rowBias: rowBias, silu: true, accumulate: true, compute: compute)
                }
            }
            if parts.count > 1 {
                let differing = zip(split, out).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(kernel) \(m)x\(n)x\(parts), \(threads) workers: \(differing) differ")
            }
            guard compute.packed else { continue }
            var produced = [Float](repeating: .nan, count: m * n)
            let lanes = GEMM.panelWidth
            GEMM.multiplyProduced(a, into: &produced, m: m, n: n, k: k, rowBias: rowBias, silu: true, compute: compute)
            { panels, buffer in
                for p in panels {
                    for kk in 0..<k {
                        for lane in 0..<lanes {
                            let column = p * lanes + lane
                            buffer[((p - panels.lowerBound) * k + kk) * lanes + lane] =
                                column < n ? b[kk * n + column] : 0
                        }
                    }
                }
            }
            check(produced, "produced, \(threads) workers:")
            if threads == 1 { oneWorkerProduced = produced }
            let differing = zip(produced, oneWorkerProduced).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(kernel) \(m)x\(n)x\(parts): \(differing) produced differ on \(threads) workers")
        }
    }

    @Test func computeConfigurationIsAValue() {
        let one = ComputeConfiguration(threads: 1, kernel: .openblas)
        #expect(one.threads == 1 && one.kernel == .openblas)
        #expect(ComputeConfiguration(threads: 3).threads == 3)
        #expect(one.description == "openblas × 1 thread")
    }
}

@Suite struct ActivationTests {
    static func reference(_ activation: Activation, _ x: Double) -> Double {
        switch activation {
        case .quickGELU: return x / (1 + exp(-1.702 * x))
        case .gelu: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        case .geluTanh: return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case .silu: return x / (1 + exp(-x))
        case .sigmoid: return 1 / (1 + exp(-x))
        }
    }

    /// Each activation against its formula in Double over a wide range: within 1e-6 of
    /// max(1, |value|) (the float formulas lose relative precision in the far negative tail, as
    /// PyTorch's do).
    @Test(arguments: [Activation.quickGELU, .gelu, .geluTanh, .silu, .sigmoid], kernels)
    func matchesTheFormula(activation: Activation, kernel: ComputeConfiguration.Kernel) {
        let count = 20_001
        var values = (0..<count).map { Float($0 - 10_000) / 500 }
        let expected = values.map { Self.reference(activation, Double($0)) }
        values.withUnsafeMutableBufferPointer {
            activation.apply($0.baseAddress!, count: count, compute: ComputeConfiguration(kernel: kernel))
        }
        var worst = 0.0
        for i in 0..<count {
            worst = max(worst, abs(Double(values[i]) - expected[i]) / max(abs(expected[i]), 1))
        }
        #expect(worst < 1e-6, "\(activation) \(kernel): worst error \(worst)")
    }
}

/// `exponentiate` against `exp` in Double from the far negative tail to near float's largest:
/// within 1e-6 relative (a result below float's normal range flushes to 0 on AVX2).
@Test(arguments: kernels)
func exponentiateMatchesExp(kernel: ComputeConfiguration.Kernel) {
    let count = 20_001
    var values = (0..<count).map { Float($0 - 12_000) / 140 }
    let expected = values.map { exp(Double($0)) }
    values.withUnsafeMutableBufferPointer {
        exponentiate($0.baseAddress!, count: count, compute: ComputeConfiguration(kernel: kernel))
    }
    var worst = 0.0
    for i in 0..<count where expected[i] > 1e-37 {
        worst = max(worst, abs(Double(values[i]) - expected[i]) / expected[i])
    }
    #expect(worst < 1e-6, "\(kernel): worst relative error \(worst)")
}
