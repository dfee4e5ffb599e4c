import Compute
import Foundation
import TestSupport
import Testing

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

/// Convolutions of one input by several weights run as one (the weights stacked, the channels
/// into one destination each) give each convolution's bits, F(4) and F(2), with bias and SiLU,
/// on 1 and 3 workers (whole panels, and split phases).
@Test(.enabled(if: ComputeConfiguration().packed, "needs AVX2 or AVX-512"), arguments: [1, 3])
func stackedWinogradConvolutionsKeepTheirBits(threads: Int) {
    let (c, h, w, counts) = (5, 13, 11, [3, 6, 2])
    var rng = SeededGenerator(seed: UInt64(threads))
    let x = (0..<c * h * w).map { _ in Float.random(in: -2...2, using: &rng) }
    let weights = counts.map { m in (0..<m * c * 9).map { _ in Float.random(in: -1...1, using: &rng) } }
    let biases = counts.map { m in (0..<m).map { _ in Float.random(in: -1...1, using: &rng) } }
    let compute = ComputeConfiguration(threads: threads)
    for tile in [4, 2] {
        let alone = zip(weights, biases).map { weight, bias in
            var y = [Float](repeating: .nan, count: weight.count / (c * 9) * h * w)
            Winograd.convolve(
                x, channels: c, height: h, width: w, padTop: 1, padLeft: 1, tile: tile,
                transformed: Winograd.transform(weight: weight, outputs: bias.count, channels: c, tile: tile),
                outputs: bias.count, bias: bias, silu: true, into: &y, outputHeight: h, outputWidth: w,
                compute: compute)
            return y
        }
        let u = Winograd.transform(
            weight: weights.flatMap { $0 }, outputs: counts.reduce(0, +), channels: c, tile: tile)
        var (y0, y1, y2) = ([Float](repeating: .nan, count: 3 * h * w), [Float](), [Float]())
        (y1, y2) = ([Float](repeating: .nan, count: 6 * h * w), [Float](repeating: .nan, count: 2 * h * w))
        y0.withUnsafeMutableBufferPointer { p0 in
            y1.withUnsafeMutableBufferPointer { p1 in
                y2.withUnsafeMutableBufferPointer { p2 in
                    Winograd.convolve(
                        x, channels: c, height: h, width: w, padTop: 1, padLeft: 1, tile: tile, transformed: u,
                        bias: biases.flatMap { $0 }, silu: true,
                        into: [(p0.baseAddress!, 3), (p1.baseAddress!, 6), (p2.baseAddress!, 2)], outputHeight: h,
                        outputWidth: w, compute: compute)
                }
            }
        }
        let together = [y0, y1, y2]
        for (one, stacked) in zip(alone, together) {
            let differing = zip(one, stacked).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "F(\(tile)), \(threads) workers: \(differing) of \(one.count) differ")
        }
    }
}
