import Foundation
import TestSupport
import Testing
import Vision

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
        }
    }

    /// Each activation against its formula in Double over a wide range: within 1e-6 of
    /// max(1, |value|) (the float formulas lose relative precision in the far negative tail, as
    /// PyTorch's do).
    @Test(arguments: [Activation.quickGELU, .gelu, .geluTanh, .silu], kernels)
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
