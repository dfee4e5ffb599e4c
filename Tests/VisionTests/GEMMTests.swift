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

    @Test func threadCountIsASetting() {
        let before = GEMM.threads
        GEMM.threads = 1
        #expect(GEMM.threads == 1)
        GEMM.threads = before
    }
}
