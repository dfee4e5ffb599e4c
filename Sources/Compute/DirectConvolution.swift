import CKernels

/// 3×3, stride-2 convolutions with one zero of padding on every side computed directly, without a
/// column matrix: for the first layer of a YOLO network, on the picture's 3 channels, where the
/// column matrix costs more than its product. The bits are those of ``Im2col`` and the packed
/// product. Needs the AVX-512 kernel (``isAvailable(_:)``).
public enum DirectConvolution {
    /// Whether `compute` can run it.
    public static func isAvailable(_ compute: ComputeConfiguration) -> Bool { compute.kernel == .avx512Packed }

    /// `y[m, oh, ow]` = the convolution of `x[c, h, w]` with `weight [m, c, 3, 3]`, `+ bias[i]` on
    /// channel `i`, then SiLU when `silu`; output rows shared out among `compute`'s workers.
    public static func stride2(
        _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, weight: UnsafePointer<Float>,
        outputs m: Int, bias: UnsafePointer<Float>?, silu: Bool, into y: UnsafeMutablePointer<Float>,
        outputHeight oh: Int, outputWidth ow: Int, compute: ComputeConfiguration
    ) {
        precondition(isAvailable(compute), "the direct convolution needs the AVX-512 kernel")
        precondition(oh == (h - 1) / 2 + 1 && ow == (w - 1) / 2 + 1, "a 3×3 stride-2 output of a padded input")
        compute.parallel(oh) { rows in
            gr_conv3x3s2(x, c, h, w, weight, m, bias, silu ? 1 : 0, y, oh, ow, rows.lowerBound, rows.upperBound)
        }
    }
}
