import CKernels

/// Max pooling of NCHW planes (YOLO's SPPF), separable and vectorised on AVX-512.
public enum MaxPool {
    /// `y[planes, oh, ow]` = the maxima of `x[planes, h, w]` over `kernel` windows `strides` apart,
    /// `pads` (top, left) of padding that never wins; the planes shared out among `compute`'s workers.
    public static func apply(
        _ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, kernel: (Int, Int), strides: (Int, Int),
        pads: (Int, Int), into y: UnsafeMutablePointer<Float>, outputHeight oh: Int, outputWidth ow: Int,
        compute: ComputeConfiguration
    ) {
        compute.parallel(planes) { range in
            gr_max_pool(
                x + range.lowerBound * h * w, range.count, h, w, kernel.0, kernel.1, strides.0, strides.1, pads.0,
                pads.1, oh, ow, y + range.lowerBound * oh * ow, compute.isa)
        }
    }
}
