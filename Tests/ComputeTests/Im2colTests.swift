import Compute
import Foundation
import TestSupport
import Testing

/// The column matrix against its definition, in both layouts.
@Suite struct Im2colTests {
    /// Odd kernels, strides, dilations and pads (a tap entirely in the padding included), rows
    /// split into two calls (row-major) and panels into two blocks (packed); every float of both
    /// layouts, zero lanes past the pixels included. The wide pictures have rows of more than 8
    /// output pixels at strides 1 and 2 (the packed fill's plain loads), some groups of 8 straddling
    /// a row end or reaching past the picture's edge (its gathers).
    @Test(arguments: [
        ((3, 3), (1, 1), (1, 1), (1, 1), 11), ((3, 2), (2, 1), (1, 2), (1, 2), 11),
        ((1, 5), (3, 2), (2, 1), (0, 4), 11), ((2, 2), (1, 3), (3, 3), (2, 0), 11),
        ((3, 3), (2, 2), (1, 1), (1, 1), 37),
        ((3, 3), (1, 1), (1, 2), (1, 2), 37), ((3, 3), (1, 2), (2, 1), (1, 1), 70),
    ])
    func matchesTheDefinition(
        kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int), pads: (Int, Int), width w: Int
    ) {
        let (c, h) = (3, 9)
        var rng = SeededGenerator(
            seed: UInt64(w * 10_000 + kernel.0 * 1000 + strides.0 * 100 + dilations.1 * 10 + pads.1))
        let image = (0..<c * h * w).map { _ in Float.random(in: 1...2, using: &rng) }
        let oh = (h + 2 * pads.0 - dilations.0 * (kernel.0 - 1) - 1) / strides.0 + 1
        let ow = (w + 2 * pads.1 - dilations.1 * (kernel.1 - 1) - 1) / strides.1 + 1
        let (k, pixels, lanes) = (c * kernel.0 * kernel.1, oh * ow, GEMM.panelWidth)
        func expected(_ row: Int, _ pixel: Int) -> Float {
            let (ch, tap) = row.quotientAndRemainder(dividingBy: kernel.0 * kernel.1)
            let (ky, kx) = tap.quotientAndRemainder(dividingBy: kernel.1)
            let (oy, ox) = pixel.quotientAndRemainder(dividingBy: ow)
            let iy = oy * strides.0 - pads.0 + ky * dilations.0
            let ix = ox * strides.1 - pads.1 + kx * dilations.1
            return iy >= 0 && iy < h && ix >= 0 && ix < w ? image[(ch * h + iy) * w + ix] : 0
        }
        var rowMajor = [Float](repeating: .nan, count: k * pixels)
        rowMajor.withUnsafeMutableBufferPointer { out in
            for rows in [0..<k / 2, k / 2..<k] {
                Im2col.fill(
                    image, channels: c, height: h, width: w, kernel: kernel, strides: strides, dilations: dilations,
                    pads: pads, output: (oh, ow), into: out.baseAddress!, .rows(rows))
            }
        }
        var wrong = 0
        for row in 0..<k {
            for pixel in 0..<pixels where rowMajor[row * pixels + pixel] != expected(row, pixel) { wrong += 1 }
        }
        #expect(wrong == 0, "row-major: \(wrong) wrong of \(k * pixels)")
        guard ComputeConfiguration().packed else { return }
        // Packed, in two blocks of panels, each written from the start of its own buffer.
        let panels = (pixels + lanes - 1) / lanes
        for block in [0..<panels / 2, panels / 2..<panels] where !block.isEmpty {
            var columns = [Float](repeating: .nan, count: block.count * k * lanes)
            columns.withUnsafeMutableBufferPointer { out in
                Im2col.fill(
                    image, channels: c, height: h, width: w, kernel: kernel, strides: strides, dilations: dilations,
                    pads: pads, output: (oh, ow), into: out.baseAddress!, .panels(block))
            }
            var wrong = 0
            for row in 0..<k {
                for pixel in block.lowerBound * lanes..<block.upperBound * lanes {
                    let index = ((pixel / lanes - block.lowerBound) * k + row) * lanes + pixel % lanes
                    if columns[index] != (pixel < pixels ? expected(row, pixel) : 0) { wrong += 1 }
                }
            }
            #expect(wrong == 0, "panels \(block): \(wrong) wrong of \(columns.count)")
        }
    }
}

/// The direct stride-2 convolution against im2col and the packed product, which it must equal to
/// the bit (the same sums in the same order), and against the convolution in Float64: 1, 3 and 16
/// channels, output channels that fill a group of 16 or leave part of one, maps narrower than a
/// vector, odd and even sizes (a last column whose right tap is the padding), with and without
/// bias and SiLU, on 1 and 3 workers.
@Suite(.enabled(if: DirectConvolution.isAvailable(ComputeConfiguration()), "needs AVX-512"))
struct DirectConvolutionTests {
    @Test(arguments: [
        (1, 5, 1, 1, 1), (3, 16, 9, 37, 1), (3, 16, 10, 40, 3), (16, 20, 7, 18, 3), (3, 33, 13, 70, 1),
    ])
    func matchesIm2colToTheBit(channels c: Int, outputs m: Int, height h: Int, width w: Int, threads: Int) {
        var rng = SeededGenerator(seed: UInt64(c * 1000 + m * 100 + w))
        let x = (0..<c * h * w).map { _ in Float.random(in: -2...2, using: &rng) }
        let weight = (0..<m * c * 9).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<m).map { _ in Float.random(in: -1...1, using: &rng) }
        let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1)
        let compute = ComputeConfiguration(threads: threads)
        for (withBias, silu) in [(false, false), (true, true), (true, false)] {
            var direct = [Float](repeating: .nan, count: m * oh * ow)
            var packed = [Float](repeating: .nan, count: m * oh * ow)
            bias.withUnsafeBufferPointer { b in
                let rowBias = withBias ? b.baseAddress : nil
                DirectConvolution.stride2(
                    x, channels: c, height: h, width: w, weight: weight, outputs: m, bias: rowBias, silu: silu,
                    into: &direct, outputHeight: oh, outputWidth: ow, compute: compute)
                GEMM.multiplyProduced(
                    weight, into: &packed, m: m, n: oh * ow, k: c * 9, rowBias: rowBias, silu: silu, compute: compute
                ) { panels, buffer in
                    Im2col.fill(
                        x, channels: c, height: h, width: w, kernel: (3, 3), strides: (2, 2), dilations: (1, 1),
                        pads: (1, 1), output: (oh, ow), into: buffer, .panels(panels))
                }
            }
            let differing = zip(direct, packed).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(c)→\(m) \(h)x\(w) bias \(withBias) silu \(silu): \(differing) differ")
            var worst = 0.0
            for o in 0..<m {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = withBias ? Double(bias[o]) : 0
                        for ch in 0..<c {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let (iy, ix) = (2 * oy - 1 + ky, 2 * ox - 1 + kx)
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    sum +=
                                        Double(x[(ch * h + iy) * w + ix])
                                        * Double(weight[(o * c + ch) * 9 + ky * 3 + kx])
                                }
                            }
                        }
                        let want = silu ? sum / (1 + exp(-sum)) : sum
                        worst = max(worst, abs(Double(direct[(o * oh + oy) * ow + ox]) - want) / max(1, abs(want)))
                    }
                }
            }
            #expect(worst < 1e-5, "\(c)→\(m) \(h)x\(w) bias \(withBias) silu \(silu): error \(worst)")
        }
    }
}

/// Max pooling against its definition (the maximum over each window's taps inside the picture,
/// -inf where none is) on every kernel path: SPPF's 5×5 stride-1 windows on maps narrower and
/// wider than a vector, strides 2 and 3, uneven kernels, windows wholly in the padding.
@Test(arguments: kernels)
func maxPoolMatchesTheDefinition(kernel: ComputeConfiguration.Kernel) {
    let cases: [(h: Int, w: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int), oh: Int, ow: Int)] = [
        (10, 10, (5, 5), (1, 1), (2, 2), 10, 10), (7, 37, (5, 5), (1, 1), (2, 2), 7, 37),
        (9, 20, (3, 2), (2, 3), (1, 1), 5, 7), (4, 5, (2, 3), (1, 1), (3, 4), 9, 11),
    ]
    let compute = ComputeConfiguration(threads: 2, kernel: kernel)
    for (h, w, k, s, p, oh, ow) in cases {
        let planes = 3
        var rng = SeededGenerator(seed: UInt64(h * 100 + w))
        let x = (0..<planes * h * w).map { _ in Float.random(in: -5...5, using: &rng) }
        var y = [Float](repeating: .nan, count: planes * oh * ow)
        MaxPool.apply(
            x, planes: planes, height: h, width: w, kernel: k, strides: s, pads: p, into: &y, outputHeight: oh,
            outputWidth: ow, compute: compute)
        var wrong = 0
        for plane in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity
                    for iy in oy * s.0 - p.0..<oy * s.0 - p.0 + k.0 where iy >= 0 && iy < h {
                        for ix in ox * s.1 - p.1..<ox * s.1 - p.1 + k.1 where ix >= 0 && ix < w {
                            best = max(best, x[(plane * h + iy) * w + ix])
                        }
                    }
                    if y[(plane * oh + oy) * ow + ox] != best { wrong += 1 }
                }
            }
        }
        #expect(wrong == 0, "\(kernel) \(h)x\(w) kernel \(k) strides \(s) pads \(p): \(wrong) wrong")
    }
}
