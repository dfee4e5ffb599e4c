import CKernels

/// Stride-1, undilated 3×3 convolutions by Winograd F(t×t, 3×3) on the packed kernel, t = 4 or 2:
/// each t×t output tile is (t+2)² products of transformed weights and transformed input patches,
/// 9/t² multiplications per output and tap instead of 9, for the cost of the two transforms.
/// Needs ``ComputeConfiguration/packed``.
public enum Winograd {
    /// The output tile side (4 or 2) that needs the fewest panel lanes for an `oh × ow` output, or
    /// nil when the direct product (9 taps over the pixels) needs no more: a map's tiles fill
    /// panels of ``GEMM/panelWidth`` lanes, so on small maps F(2) beats F(4), and on the smallest
    /// neither pays.
    public static func tile(outputHeight oh: Int, outputWidth ow: Int) -> Int? {
        let lanes = GEMM.panelWidth
        func filled(_ count: Int) -> Int { (count + lanes - 1) / lanes * lanes }
        func cost(_ t: Int) -> Int { (t + 2) * (t + 2) * filled((oh + t - 1) / t * ((ow + t - 1) / t)) }
        let best = cost(4) <= cost(2) ? 4 : 2
        return cost(best) < 9 * filled(oh * ow) ? best : nil
    }

    /// The transform of a `[m, c, 3, 3]` weight for output tiles of side `tile` that
    /// ``convolve(_:channels:height:width:padTop:padLeft:tile:transformed:outputs:bias:silu:into:outputHeight:outputWidth:compute:)``
    /// takes (`(tile+2)²·m·c` floats; made once per weight and tile).
    public static func transform(weight: [Float], outputs m: Int, channels c: Int, tile: Int) -> [Float] {
        precondition(weight.count == m * c * 9, "a 3×3 weight [m, c, 3, 3]")
        precondition(tile == 4 || tile == 2, "Winograd tiles are 4×4 or 2×2")
        let count = (tile + 2) * (tile + 2) * m * c
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            gr_winograd_weights(weight, m, c, Int32(tile), buffer.baseAddress!)
            initialized = count
        }
    }

    /// `y[m, oh, ow]` = the 3×3 convolution of `x[c, h, w]` (zeros `padTop` rows above and
    /// `padLeft` columns left of it, and past its end), `+ bias[i]` on channel `i`, then SiLU when
    /// `silu`; `u` from ``transform(weight:outputs:channels:tile:)`` with the same `tile`. Workers
    /// take whole panels of 32 tiles, or, with panels too few to share evenly
    /// (``GEMM/fewPanels(_:compute:)``), split each phase (input transform, the products, output
    /// transform).
    public static func convolve(
        _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, padTop: Int, padLeft: Int, tile: Int,
        transformed u: UnsafePointer<Float>, outputs m: Int, bias: UnsafePointer<Float>?, silu: Bool,
        into y: UnsafeMutablePointer<Float>, outputHeight oh: Int, outputWidth ow: Int, compute: ComputeConfiguration
    ) {
        convolve(
            x, channels: c, height: h, width: w, padTop: padTop, padLeft: padLeft, tile: tile, transformed: u,
            bias: bias, silu: silu, into: [(y, m)], outputHeight: oh, outputWidth: ow, compute: compute)
    }

    /// ``convolve(_:channels:height:width:padTop:padLeft:tile:transformed:outputs:bias:silu:into:outputHeight:outputWidth:compute:)``
    /// with the output channels in several destinations, each `[channels, oh, ow]`, in order (the
    /// convolutions of one input by several weights, made one by stacking the weights: one input
    /// transform for all of them, the same bits as each on its own).
    public static func convolve(
        _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, padTop: Int, padLeft: Int, tile: Int,
        transformed u: UnsafePointer<Float>, bias: UnsafePointer<Float>?, silu: Bool,
        into outputs: [(y: UnsafeMutablePointer<Float>, channels: Int)], outputHeight oh: Int, outputWidth ow: Int,
        compute: ComputeConfiguration
    ) {
        let m = outputs.reduce(0) { $0 + $1.channels }
        precondition(compute.packed, "Winograd convolutions need the packed kernel (AVX2 or AVX-512)")
        precondition(tile == 4 || tile == 2, "Winograd tiles are 4×4 or 2×2")
        let (tilesY, tilesX) = ((oh + tile - 1) / tile, (ow + tile - 1) / tile)
        let tiles = tilesY * tilesX
        let points = (tile + 2) * (tile + 2)
        // The points' blocks are a cache line more than their size apart: at a multiple of 4 KB
        // the transforms' streams would share L1 sets.
        let pointFloats = gr_packed_size(tiles, c) + 16
        let productFloats = m * tiles + 16
        let v = UnsafeMutablePointer<Float>.allocate(capacity: points * pointFloats)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: points * productFloats)
        // The output transform's vector loads may run into the slack after a product; it is zero
        // (those lanes are never stored), so nothing uninitialised is read.
        for point in 0..<points { (products + point * productFloats + m * tiles).initialize(repeating: 0, count: 16) }
        defer {
            v.deallocate()
            products.deallocate()
        }
        let panels = (tiles + GEMM.panelWidth - 1) / GEMM.panelWidth
        func input(channels: Range<Int>, panels: Range<Int>) {
            gr_winograd_input(
                x, c, h, w, padTop, padLeft, Int32(tile), tilesY, tilesX, v, pointFloats, channels.lowerBound,
                channels.upperBound, panels.lowerBound, panels.upperBound)
        }
        func product(points: Range<Int>, panels: Range<Int>) {
            for point in points {
                gr_packed_product(
                    m, tiles, c, u + point * m * c, v + point * pointFloats, nil, 0, products + point * productFloats,
                    tiles, panels.lowerBound, panels.upperBound, compute.isa)
            }
        }
        // Each destination's channels, from its first: the products and bias from there on.
        var first = 0
        let destinations = outputs.map { destination in
            defer { first += destination.channels }
            return (y: destination.y, channels: first..<first + destination.channels)
        }
        func output(channels: Range<Int>, panels: Range<Int>) {
            for (y, owned) in destinations {
                let part = channels.clamped(to: owned)
                guard !part.isEmpty else { continue }
                gr_winograd_output(
                    products + owned.lowerBound * tiles, productFloats, owned.count, Int32(tile), tilesY, tilesX,
                    bias.map { $0 + owned.lowerBound }, silu ? 1 : 0, y, oh, ow, part.lowerBound - owned.lowerBound,
                    part.upperBound - owned.lowerBound, panels.lowerBound, panels.upperBound)
            }
        }
        // (A 40×40 map's 100 tiles make panels of 32, 32, 32 and 4: 64 against 36 on two workers.)
        if !GEMM.fewPanels(panels, compute: compute) {
            // Each worker takes whole panels of tiles through all three phases: one hand-off per convolution.
            compute.parallel(panels) { range in
                input(channels: 0..<c, panels: range)
                product(points: 0..<points, panels: range)
                output(channels: 0..<m, panels: range)
            }
        } else {
            compute.parallel(c) { input(channels: $0, panels: 0..<panels) }
            compute.parallel(points) { product(points: $0, panels: 0..<panels) }
            compute.parallel(m) { output(channels: $0, panels: 0..<panels) }
        }
    }
}
