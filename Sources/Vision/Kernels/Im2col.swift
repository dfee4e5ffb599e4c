import CKernels

/// The column matrix of a convolution, for its product with the weight `[m, c·kH·kW]`: row
/// `(c, ky, kx)` holds that tap's input for every output pixel.
public enum Im2col {
    /// Fills `rows` of the column matrix of `image [channels, height, width]` (zeros `pads` above
    /// and left of it, and past it) into `columns`: in ``GEMM/panelWidth`` panels as
    /// ``GEMM/multiplyPacked(_:_:into:m:n:k:rowBias:silu:compute:)`` takes them when `packed`
    /// (lanes past the pixels zero), else row-major `[rows, oh·ow]`. Distinct row ranges write
    /// distinct floats, so workers may split them.
    public static func fill(
        _ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: (Int, Int), strides: (Int, Int),
        dilations: (Int, Int), pads: (Int, Int), output: (Int, Int), packed: Bool,
        into columns: UnsafeMutablePointer<Float>, rows: Range<Int>
    ) {
        gr_im2col(
            image, channels, height, width, kernel.0, kernel.1, strides.0, strides.1, dilations.0, dilations.1, pads.0,
            pads.1, output.0, output.1, packed ? 1 : 0, columns, rows.lowerBound, rows.upperBound)
    }
}
