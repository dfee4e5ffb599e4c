import GuardrailCore

/// Pillow's `Image.resize` for 8-bit RGB, reproduced to the bit: separable convolution with
/// support widened when downscaling (antialiasing), coefficients normalised in double and
/// converted to 22-bit fixed point, the horizontal pass first, each pass rounded and clipped to 8 bits.
public enum PillowResample: Int, Sendable, Codable {
    /// `Image.BILINEAR` (triangle filter, support 1).
    case bilinear = 2
    /// `Image.BICUBIC` (a = −0.5, support 2), CLIP's.
    case bicubic = 3

    private static let precisionBits = 32 - 8 - 2

    private var support: Double { self == .bicubic ? 2 : 1 }

    private func filter(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }

    /// For each output position in `range` (of `outSize`), the first input index, the count, and
    /// fixed-point weights; each position's values depend on that position alone.
    private func coefficients(inSize: Int, outSize: Int, range: Range<Int>) -> (
        bounds: [(Int, Int)], weights: [Int32], kernelSize: Int
    ) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = self.support * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int32](repeating: 0, count: range.count * kernelSize)
        var k = [Double](repeating: 0, count: kernelSize)
        for (index, xx) in range.enumerated() {
            let center = (Double(xx) + 0.5) * scale
            let inverse = 1 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<kernelSize { k[x] = 0 }
            for x in 0..<max(xmax, 0) {
                let w = filter((Double(x + xmin) - center + 0.5) * inverse)
                k[x] = w
                total += w
            }
            for x in 0..<kernelSize {
                if total != 0 && x < xmax { k[x] /= total }
                let scaled = k[x] * Double(1 << Self.precisionBits)
                weights[index * kernelSize + x] = Int32(scaled < 0 ? -0.5 + scaled : 0.5 + scaled)
            }
            bounds.append((xmin, max(xmax, 0)))
        }
        return (bounds, weights, kernelSize)
    }

    @inline(__always)
    private static func clip8(_ value: Int32) -> UInt8 {
        if value <= 0 { return 0 }
        let shifted = value >> Int32(precisionBits)
        return shifted >= 255 ? 255 : UInt8(shifted)
    }

    /// One output pixel of a pass: `count` RGB pixels `step` bytes apart from `from`, weighted by
    /// `weights[start…]` in fixed point, rounded (Pillow adds half before shifting) and clipped.
    @inline(__always)
    private static func convolve(
        _ src: UnsafeBufferPointer<UInt8>, from: Int, step: Int, weights: UnsafeBufferPointer<Int32>, start: Int,
        count: Int, into dst: UnsafeMutableBufferPointer<UInt8>, at d: Int
    ) {
        let half = Int32(1 << (precisionBits - 1))
        var s0 = half
        var s1 = half
        var s2 = half
        for i in 0..<count {
            let w = weights[start + i]
            let p = from + i * step
            s0 &+= Int32(src[p]) &* w
            s1 &+= Int32(src[p + 1]) &* w
            s2 &+= Int32(src[p + 2]) &* w
        }
        dst[d] = clip8(s0)
        dst[d + 1] = clip8(s1)
        dst[d + 2] = clip8(s2)
    }

    /// `image` resized to `width × height`, as `PIL.Image.resize((width, height), resample)`, or
    /// only the `columns` × `rows` window of that result (the same pixels, computed alone): a centre
    /// crop of an extreme aspect ratio needs a few hundred columns of a resize that may be millions
    /// wide, and neither the coefficients nor the intermediate rows grow past the window.
    public func resize(_ image: RGBImage, width: Int, height: Int, columns: Range<Int>? = nil, rows: Range<Int>? = nil)
        -> RGBImage
    {
        precondition(width > 0 && height > 0, "resize to a positive size")
        let columns = columns ?? 0..<width
        let rows = rows ?? 0..<height
        precondition(
            !columns.isEmpty && !rows.isEmpty && columns.upperBound <= width && rows.upperBound <= height,
            "window outside the resized image")
        let horizontal = width != image.width ? coefficients(inSize: image.width, outSize: width, range: columns) : nil
        let vertical = height != image.height ? coefficients(inSize: image.height, outSize: height, range: rows) : nil
        // The source rows the vertical pass reads (the window's own rows when there is none).
        let first = vertical?.bounds.first.map { $0.0 } ?? rows.lowerBound
        let last = vertical?.bounds.last.map { $0.0 + $0.1 } ?? rows.upperBound
        let needed = last - first
        let outWidth = columns.count
        // Horizontal pass over the needed rows (a column copy where the width does not change).
        var middle = [UInt8](repeating: 0, count: outWidth * needed * 3)
        image.pixels.withUnsafeBufferPointer { src in
            middle.withUnsafeMutableBufferPointer { dst in
                for y in 0..<needed {
                    let row = (y + first) * image.width * 3
                    guard let horizontal else {
                        for x in 0..<outWidth * 3 { dst[y * outWidth * 3 + x] = src[row + columns.lowerBound * 3 + x] }
                        continue
                    }
                    horizontal.weights.withUnsafeBufferPointer { kk in
                        for xx in 0..<outWidth {
                            let (xmin, count) = horizontal.bounds[xx]
                            Self.convolve(
                                src, from: row + xmin * 3, step: 3, weights: kk, start: xx * horizontal.kernelSize,
                                count: count, into: dst, at: (y * outWidth + xx) * 3)
                        }
                    }
                }
            }
        }
        guard let vertical else { return RGBImage(width: outWidth, height: rows.count, pixels: middle) }
        var out = [UInt8](repeating: 0, count: outWidth * rows.count * 3)
        middle.withUnsafeBufferPointer { src in
            vertical.weights.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { dst in
                    for yy in 0..<rows.count {
                        let (ymin, count) = vertical.bounds[yy]
                        for xx in 0..<outWidth {
                            Self.convolve(
                                src, from: ((ymin - first) * outWidth + xx) * 3, step: outWidth * 3, weights: kk,
                                start: yy * vertical.kernelSize, count: count, into: dst, at: (yy * outWidth + xx) * 3)
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }
}
