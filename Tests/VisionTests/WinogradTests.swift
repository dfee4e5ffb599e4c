import Foundation
import TestSupport
import Testing
import Vision

/// Winograd F(4×4, 3×3) and F(2×2, 3×3) against a direct 3×3 convolution in Float64. In float
/// F(4) loses a few bits against a direct sum (the transforms' coefficients reach 8 and 1/24;
/// worst here about 4e-5 of max(1, |y|)), well inside the detector's 1e-4 agreement with onnxruntime; a wrong
/// tap, tile or lane is off by the size of the values.
@Suite(.enabled(if: ComputeConfiguration().packed, "needs AVX2 or AVX-512"))
struct WinogradTests {
    /// Odd sizes (partial tiles, a partial panel, a single pixel), every padding from 0 to 2 on
    /// each side, with and without bias and SiLU, on 1, 2 and 5 workers (whole panels each, and
    /// split phases when there are fewer panels than workers).
    @Test(arguments: [
        (1, 1, 1, 1, 1, 1, 1), (5, 7, 1, 1, 1, 1, 2), (9, 13, 0, 0, 0, 0, 5), (33, 35, 1, 1, 2, 0, 2),
        (20, 6, 2, 0, 1, 2, 1), (42, 41, 1, 1, 1, 1, 5),
    ])
    func matchesDirectConvolution(h: Int, w: Int, top: Int, left: Int, bottom: Int, right: Int, threads: Int) {
        let (c, m) = (6, 5)
        var rng = SeededGenerator(seed: UInt64(h * 1000 + w * 10 + threads))
        let x = (0..<c * h * w).map { _ in Float.random(in: -2...2, using: &rng) }
        let weight = (0..<m * c * 9).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<m).map { _ in Float.random(in: -1...1, using: &rng) }
        let (oh, ow) = (h + top + bottom - 2, w + left + right - 2)
        guard oh > 0, ow > 0 else { return }
        var expected = [Double](repeating: 0, count: m * oh * ow)
        for o in 0..<m {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum = Double(bias[o])
                    for ch in 0..<c {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let (iy, ix) = (oy + ky - top, ox + kx - left)
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                sum +=
                                    Double(x[(ch * h + iy) * w + ix]) * Double(weight[((o * c + ch) * 3 + ky) * 3 + kx])
                            }
                        }
                    }
                    expected[(o * oh + oy) * ow + ox] = sum
                }
            }
        }
        let compute = ComputeConfiguration(threads: threads)
        for tile in [4, 2] {
            let u = Winograd.transform(weight: weight, outputs: m, channels: c, tile: tile)
            for silu in [false, true] {
                var y = [Float](repeating: .nan, count: m * oh * ow)
                bias.withUnsafeBufferPointer { b in
                    Winograd.convolve(
                        x, channels: c, height: h, width: w, padTop: top, padLeft: left, tile: tile, transformed: u,
                        outputs: m,
                        bias: b.baseAddress, silu: silu, into: &y, outputHeight: oh, outputWidth: ow, compute: compute)
                }
                var worst = 0.0
                for (got, sum) in zip(y, expected) {
                    let want = silu ? sum / (1 + exp(-sum)) : sum
                    worst = max(worst, abs(Double(got) - want) / max(1, abs(want)))
                }
                #expect(
                    worst < 1e-4,
                    "F(\(tile)) \(h)x\(w) pads \(top) \(left) \(bottom) \(right) silu \(silu): error \(worst)")
            }
        }
    }
}
