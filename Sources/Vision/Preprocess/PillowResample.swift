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

    /// For each output position, the first input index, the count, and fixed-point weights.
    private func coefficients(inSize: Int, outSize: Int) -> (bounds: [(Int, Int)], weights: [Int32], kernelSize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = self.support * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int32](repeating: 0, count: outSize * kernelSize)
        var k = [Double](repeating: 0, count: kernelSize)
        for xx in 0..<outSize {
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
                weights[xx * kernelSize + x] = Int32(scaled < 0 ? -0.5 + scaled : 0.5 + scaled)
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

    /// `image` resized to `width × height`, as `PIL.Image.resize((width, height), resample)`.
    public func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0, "resize to a positive size")
        if width == image.width && height == image.height { return image }
        let horizontal = coefficients(inSize: image.width, outSize: width)
        let vertical = coefficients(inSize: image.height, outSize: height)
        var source = image.pixels
        var sourceWidth = image.width
        var verticalBounds = vertical.bounds
        var rowsAvailable = image.height
        if width != image.width {
            // Only the rows the vertical pass reads are resampled horizontally.
            let first = vertical.bounds[0].0
            let last = vertical.bounds[height - 1].0 + vertical.bounds[height - 1].1
            let rows = height != image.height ? last - first : image.height
            let offset = height != image.height ? first : 0
            if height != image.height { verticalBounds = vertical.bounds.map { ($0.0 - first, $0.1) } }
            var out = [UInt8](repeating: 0, count: width * rows * 3)
            let ks = horizontal.kernelSize
            source.withUnsafeBufferPointer { src in
                horizontal.weights.withUnsafeBufferPointer { kk in
                    out.withUnsafeMutableBufferPointer { dst in
                        for y in 0..<rows {
                            let row = (y + offset) * sourceWidth * 3
                            for xx in 0..<width {
                                let (xmin, count) = horizontal.bounds[xx]
                                Self.convolve(
                                    src, from: row + xmin * 3, step: 3, weights: kk, start: xx * ks, count: count,
                                    into: dst, at: (y * width + xx) * 3)
                            }
                        }
                    }
                }
            }
            source = out
            sourceWidth = width
            rowsAvailable = rows
        }
        guard height != image.height else { return RGBImage(width: width, height: height, pixels: source) }
        precondition(verticalBounds.allSatisfy { $0.0 + $0.1 <= rowsAvailable })
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let ks = vertical.kernelSize
        source.withUnsafeBufferPointer { src in
            vertical.weights.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { dst in
                    for yy in 0..<height {
                        let (ymin, count) = verticalBounds[yy]
                        for xx in 0..<width {
                            Self.convolve(
                                src, from: (ymin * sourceWidth + xx) * 3, step: sourceWidth * 3, weights: kk,
                                start: yy * ks, count: count, into: dst, at: (yy * width + xx) * 3)
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
