import Compute

/// One Conv evaluation's sizes, checked: `n` images of `c` channels of `h × w` in, `m` channels of
/// `oh × ow` out, `k = c·kH·kW` sums per output.
private struct ConvolutionShape {
    let n: Int, c: Int, h: Int, w: Int
    let kh: Int, kw: Int
    let m: Int, oh: Int, ow: Int
    var k: Int { c * kh * kw }
    var pixels: Int { oh * ow }
    /// This Conv's channels, then its stacked siblings' (see `Step.siblings`), each a Value of its own.
    let groups: [Int]
    /// SiLU applied to the output (a fused Conv → Sigmoid → Mul).
    let silu: Bool

    /// The output as one Value per channel group.
    func values(_ out: [Float]) -> [Value] {
        guard groups.count > 1 else { return [Value(shape: [n, m, oh, ow], floats: out)] }
        var first = 0
        return groups.map { channels in
            defer { first += channels }
            var floats: [Float] = []
            for b in 0..<n {
                let start = (b * m + first) * pixels
                floats += out[start..<start + channels * pixels]
            }
            return Value(shape: [n, channels, oh, ow], floats: floats)
        }
    }
}

extension ONNXGraph {
    /// Conv, NCHW, of the channel concatenation of `parts` (one tensor but for a fused Concat; with
    /// `factors`, the first part is at 1/factors of the others' size, see `Step.upsampled`). Picks
    /// one algorithm: a 1×1 unpadded Conv is one product of the weight with the input read in
    /// place; a 3×3 stride-2 one on up to 16 channels sums directly; a stride-1 3×3 one runs by
    /// Winograd where that needs fewer products; the rest by im2col.
    func convolution(_ call: OperatorCall, _ parts: [Value], upsampled factors: (Int, Int)? = nil)
        throws(ONNXError) -> [Value]
    {
        guard let x = parts.last, x.shape.count == 4, let conv = plan.convolutions[call.index] else {
            throw call.fail("Conv needs a 4-D float input")
        }
        var floats: [[Float]] = []
        for (i, part) in parts.enumerated() {
            let (sy, sx) = i == 0 ? factors ?? (1, 1) : (1, 1)
            guard case .float(let f) = part.data, part.shape.count == 4, part.count > 0, part.shape[0] == x.shape[0],
                part.shape[2] * sy == x.shape[2], part.shape[3] * sx == x.shape[3]
            else { throw call.fail("Conv needs 4-D float inputs of one batch and size") }
            floats.append(f)
        }
        let shape = try Self.shape(of: conv, input: x, channels: parts.reduce(0) { $0 + $1.shape[1] }, call: call)
        let (strides, dilations, pads) = (conv.strides, conv.dilations, conv.pads)
        if shape.kh == 1 && shape.kw == 1 && strides == [1, 1] && pads == [0, 0, 0, 0] {
            return shape.values(pointwise(conv, floats, parts, factors: factors, shape))
        }
        guard parts.count == 1 else { throw call.fail("a concatenation feeds a Conv that is not 1×1") }
        // Up to 16 channels (a network's first layers) the column matrix costs more than the direct
        // sums; at 32 the direct convolution measured slower (Zen 4).
        if shape.c <= 16, shape.kh == 3, shape.kw == 3, strides == [2, 2], pads == [1, 1, 1, 1], dilations == [1, 1],
            DirectConvolution.isAvailable(compute)
        {
            return shape.values(directStride2(conv, floats[0], shape))
        }
        if conv.winograd, let tile = Winograd.tile(outputHeight: shape.oh, outputWidth: shape.ow) {
            return winograd(conv, floats[0], shape, tile: tile, index: call.index)
        }
        return shape.values(im2col(conv, floats[0], shape))
    }

    private static func shape(of conv: Convolution, input x: Value, channels c: Int, call: OperatorCall)
        throws(ONNXError) -> ConvolutionShape
    {
        let w = conv.shape
        let (strides, dilations, pads) = (conv.strides, conv.dilations, conv.pads)
        let (n, h, wd) = (x.shape[0], x.shape[2], x.shape[3])
        guard c == w[1] else { throw call.fail("input has \(c) channels, the weight \(w[1])") }
        let (kh, kw) = (w[2], w[3])
        let oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1
        let ow = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1
        guard oh > 0, ow > 0 else { throw call.fail("Conv output would be empty") }
        let m = w[0]
        guard n * m * oh * ow <= ONNXModel.maxElements, c * kh * kw * oh * ow <= ONNXModel.maxElements else {
            throw call.fail("Conv output too large")
        }
        let step = call.graph.plan.steps[call.index]
        let siblings = step.siblings.map(\.channels)
        return ConvolutionShape(
            n: n, c: c, h: h, w: wd, kh: kh, kw: kw, m: m, oh: oh, ow: ow,
            groups: [m - siblings.reduce(0, +)] + siblings, silu: step.fused != nil)
    }

    /// A 1×1 Conv: `out = W · x` per image, each part of a fused Concat multiplied in place by its
    /// columns of `W`; an upsampled first part's product is taken at its own size and replicated
    /// into `out`, which the other parts' products then add to.
    private func pointwise(
        _ conv: Convolution, _ floats: [[Float]], _ parts: [Value], factors: (Int, Int)?, _ shape: ConvolutionShape
    ) -> [Float] {
        let (m, c, pixels) = (shape.m, shape.c, shape.pixels)
        return writtenArrays([shape.n * m * pixels]) { outputs in
            withBasePointers(floats) { bases in
                withWeights(conv.weight, conv.bias) { weight, bias in
                    for b in 0..<shape.n {
                        var inputs = zip(bases, parts).map { base, part in
                            (b: base + b * part.count / shape.n, k: part.shape[1])
                        }
                        let result = outputs[0] + b * m * pixels
                        if let (sy, sx) = factors {
                            let low = parts[0].shape
                            let lowPixels = low[2] * low[3]
                            let product = UnsafeMutablePointer<Float>.allocate(capacity: m * lowPixels)
                            defer { product.deallocate() }
                            GEMM.multiplyWide(
                                weight, lda: shape.k, parts: [inputs[0]], into: product, m: m, n: lowPixels,
                                compute: compute)
                            replicate(
                                product, planes: m, height: low[2], width: low[3],
                                rows: (0..<shape.oh).map { $0 / sy }, columns: (0..<shape.ow).map { $0 / sx },
                                into: result)
                            inputs.removeFirst()
                        }
                        GEMM.multiplyWide(
                            weight + (c - inputs.reduce(0) { $0 + $1.k }), lda: shape.k, parts: inputs, into: result,
                            m: m, n: pixels, rowBias: bias, silu: shape.silu, accumulate: factors != nil,
                            compute: compute)
                    }
                }
            }
        }[0]
    }

    /// A 3×3 stride-2 Conv on few channels, summed directly (AVX-512).
    private func directStride2(_ conv: Convolution, _ input: [Float], _ shape: ConvolutionShape) -> [Float] {
        let (c, h, w, m) = (shape.c, shape.h, shape.w, shape.m)
        return withPointers(input, conv.weight, conv.bias, writing: [shape.n * m * shape.pixels]) {
            src, wt, b, outputs in
            for image in 0..<shape.n {
                DirectConvolution.stride2(
                    src + image * c * h * w, channels: c, height: h, width: w, weight: wt, outputs: m, bias: b,
                    silu: shape.silu, into: outputs[0] + image * m * shape.pixels, outputHeight: shape.oh,
                    outputWidth: shape.ow, compute: compute)
            }
        }[0]
    }

    /// A stride-1 3×3 Conv by Winograd F(tile × tile, 3 × 3), the weight's transform made on first
    /// use for each tile; each sibling's channels (or the one group's) straight into its own output.
    private func winograd(_ conv: Convolution, _ input: [Float], _ shape: ConvolutionShape, tile: Int, index: Int)
        -> [Value]
    {
        let (c, h, w, m, pixels) = (shape.c, shape.h, shape.w, shape.m, shape.pixels)
        let transformed = winogradWeights(index: index, tile: tile) {
            Winograd.transform(weight: conv.weight, outputs: m, channels: c, tile: tile)
        }
        let outputs = withPointers(input, transformed, conv.bias, writing: shape.groups.map { shape.n * $0 * pixels }) {
            src, u, b, bases in
            for image in 0..<shape.n {
                Winograd.convolve(
                    src + image * c * h * w, channels: c, height: h, width: w, padTop: conv.pads[0],
                    padLeft: conv.pads[1], tile: tile, transformed: u, bias: b, silu: shape.silu,
                    into: zip(bases, shape.groups).map { ($0 + image * $1 * pixels, $1) }, outputHeight: shape.oh,
                    outputWidth: shape.ow, compute: compute)
            }
        }
        return zip(outputs, shape.groups).map { Value(shape: [shape.n, $1, shape.oh, shape.ow], floats: $0) }
    }

    /// Any other Conv by im2col: row `(c, ky, kx)` of the column matrix holds that tap's input for
    /// every output pixel, so `out[M, pixels] = W · cols` comes out channels first, as ONNX lays it
    /// out. On the packed kernel each worker writes the column matrix in its panel layout a
    /// cache-sized block at a time; otherwise it is written whole, row-major.
    private func im2col(_ conv: Convolution, _ input: [Float], _ shape: ConvolutionShape) -> [Float] {
        let (c, h, w, m, k, pixels) = (shape.c, shape.h, shape.w, shape.m, shape.k, shape.pixels)
        let kernel = (shape.kh, shape.kw)
        let strides = (conv.strides[0], conv.strides[1])
        let dilations = (conv.dilations[0], conv.dilations[1])
        let pads = (conv.pads[0], conv.pads[1])
        let output = (shape.oh, shape.ow)
        // Unpacked, the whole column matrix of one image, reused for the next.
        var cols = compute.packed ? [] : [Float](unsafeUninitializedCapacity: k * pixels) { $1 = k * pixels }
        return writtenArrays([shape.n * m * pixels]) { outputs in
            input.withUnsafeBufferPointer { src in
                withWeights(conv.weight, conv.bias) { weight, bias in
                    for b in 0..<shape.n {
                        let image = src.baseAddress! + b * c * h * w
                        let result = outputs[0] + b * m * pixels
                        if compute.packed {
                            GEMM.multiplyProduced(
                                weight, into: result, m: m, n: pixels, k: k, rowBias: bias, silu: shape.silu,
                                compute: compute
                            ) { panels, buffer in
                                Im2col.fill(
                                    image, channels: c, height: h, width: w, kernel: kernel, strides: strides,
                                    dilations: dilations, pads: pads, output: output, into: buffer, .panels(panels))
                            }
                            continue
                        }
                        cols.withUnsafeMutableBufferPointer { cols in
                            // Rows of the column matrix are independent: the workers fill disjoint ones.
                            compute.parallel(k) { rows in
                                Im2col.fill(
                                    image, channels: c, height: h, width: w, kernel: kernel, strides: strides,
                                    dilations: dilations, pads: pads, output: output, into: cols.baseAddress!,
                                    .rows(rows))
                            }
                            GEMM.multiplyWide(
                                weight, cols.baseAddress!, into: result, m: m, n: pixels, k: k, rowBias: bias,
                                silu: shape.silu, compute: compute)
                        }
                    }
                }
            }
        }[0]
    }
}

/// Runs `body` with the base addresses of `arrays` (none empty), valid for its duration.
private func withBasePointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    func step(_ i: Int, _ bases: [UnsafePointer<Float>]) -> R {
        guard i < arrays.count else { return body(bases) }
        return arrays[i].withUnsafeBufferPointer { step(i + 1, bases + [$0.baseAddress!]) }
    }
    return step(0, [])
}

/// Runs `body` with the weight's base address and the bias's (nil without one).
private func withWeights<R>(
    _ weight: [Float], _ bias: [Float]?, _ body: (UnsafePointer<Float>, UnsafePointer<Float>?) -> R
)
    -> R
{
    weight.withUnsafeBufferPointer { wt in
        (bias ?? []).withUnsafeBufferPointer { b in body(wt.baseAddress!, bias == nil ? nil : b.baseAddress) }
    }
}

/// A convolution's outputs of `counts` floats, which `body` writes in full given the base
/// addresses of the input, the weight (or its transform), the bias (nil without one) and the
/// outputs.
private func withPointers(
    _ input: [Float], _ weight: [Float], _ bias: [Float]?, writing counts: [Int],
    _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?, [UnsafeMutablePointer<Float>]) -> Void
) -> [[Float]] {
    writtenArrays(counts) { outputs in
        input.withUnsafeBufferPointer { src in
            withWeights(weight, bias) { wt, b in body(src.baseAddress!, wt, b, outputs) }
        }
    }
}

/// Arrays of `counts` floats that `body` writes in full through their base addresses (every path
/// writes every output and every column: allocating zeros would cost a pass).
private func writtenArrays(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
    var arrays: [[Float]] = []
    func step(_ i: Int, _ bases: [UnsafeMutablePointer<Float>]) {
        guard i < counts.count else { return body(bases) }
        let array = [Float](unsafeUninitializedCapacity: counts[i]) { buffer, initialized in
            step(i + 1, bases + [buffer.baseAddress!])
            initialized = counts[i]
        }
        arrays.insert(array, at: 0)
    }
    step(0, [])
    return arrays
}
