import Foundation
import TestSupport
import Testing
import Vision

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
