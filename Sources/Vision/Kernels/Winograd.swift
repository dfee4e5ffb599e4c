import CKernels

/// Stride-1, undilated 3×3 convolutions by Winograd F(4×4, 3×3) on the packed kernel: each 4×4
/// output tile is 36 products of transformed weights and transformed 6×6 input patches, 2.25
/// multiplications per output and tap instead of 9, for the cost of the two transforms. Needs
/// ``ComputeConfiguration/packed``.
public enum Winograd {
    /// The transform of a `[m, c, 3, 3]` weight that ``convolve(_:channels:height:width:padTop:padLeft:transformed:outputs:bias:silu:into:outputHeight:outputWidth:compute:)`` takes
    /// (`36·m·c` floats; made once per weight).
    public static func transform(weight: [Float], outputs m: Int, channels c: Int) -> [Float] {
        precondition(weight.count == m * c * 9, "a 3×3 weight [m, c, 3, 3]")
        return [Float](unsafeUninitializedCapacity: 36 * m * c) { buffer, count in
            gr_winograd_weights(weight, m, c, buffer.baseAddress!)
            count = 36 * m * c
        }
    }

    /// `y[m, oh, ow]` = the 3×3 convolution of `x[c, h, w]` (zeros `padTop` rows above and
    /// `padLeft` columns left of it, and past its end), `+ bias[i]` on channel `i`, then SiLU when
    /// `silu`; `u` from ``transform(weight:outputs:channels:)``. Workers take whole panels of 32
    /// tiles, or, with fewer panels than workers, split each phase (input transform, the 36
    /// products, output transform).
    public static func convolve(
        _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, padTop: Int, padLeft: Int,
        transformed u: UnsafePointer<Float>, outputs m: Int, bias: UnsafePointer<Float>?, silu: Bool,
        into y: UnsafeMutablePointer<Float>, outputHeight oh: Int, outputWidth ow: Int, compute: ComputeConfiguration
    ) {
        precondition(compute.packed, "Winograd convolutions need the packed kernel (AVX2 or AVX-512)")
        let (tilesY, tilesX) = ((oh + 3) / 4, (ow + 3) / 4)
        let tiles = tilesY * tilesX
        // The 36 points' blocks are a cache line more than their size apart: at a multiple of 4 KB
        // the transforms' 36 streams would share L1 sets.
        let pointFloats = gr_packed_size(tiles, c) + 16
        let productFloats = m * tiles + 16
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * pointFloats)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: 36 * productFloats)
        // The output transform's vector loads may run into the slack after a product; it is zero
        // (those lanes are never stored), so nothing uninitialised is read.
        for point in 0..<36 { (products + point * productFloats + m * tiles).initialize(repeating: 0, count: 16) }
        defer {
            v.deallocate()
            products.deallocate()
        }
        let panels = (tiles + GEMM.panelWidth - 1) / GEMM.panelWidth
        func input(channels: Range<Int>, panels: Range<Int>) {
            gr_winograd_input(
                x, c, h, w, padTop, padLeft, tilesY, tilesX, v, pointFloats, channels.lowerBound, channels.upperBound,
                panels.lowerBound, panels.upperBound)
        }
        func product(points: Range<Int>, panels: Range<Int>) {
            for point in points {
                gr_packed_product(
                    m, tiles, c, u + point * m * c, v + point * pointFloats, nil, 0, products + point * productFloats,
                    panels.lowerBound, panels.upperBound, compute.isa)
            }
        }
        func output(channels: Range<Int>, panels: Range<Int>) {
            gr_winograd_output(
                products, productFloats, m, tilesY, tilesX, bias, silu ? 1 : 0, y, oh, ow, channels.lowerBound,
                channels.upperBound, panels.lowerBound, panels.upperBound)
        }
        if panels >= compute.threads {
            // Each worker takes whole panels of tiles through all three phases: one hand-off per convolution.
            compute.parallel(panels) { range in
                input(channels: 0..<c, panels: range)
                product(points: 0..<36, panels: range)
                output(channels: 0..<m, panels: range)
            }
        } else {
            compute.parallel(c) { input(channels: $0, panels: 0..<panels) }
            compute.parallel(36) { product(points: $0, panels: 0..<panels) }
            compute.parallel(m) { output(channels: $0, panels: 0..<panels) }
        }
    }
}
