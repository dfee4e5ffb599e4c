import CKernels

/// The column matrix of a convolution, for its product with the weight `[m, c·kH·kW]`: row
/// `(c, ky, kx)` holds that tap's input for every output pixel.
public enum Im2col {
    /// Which part of the matrix a call writes, and how.
    public enum Part: Sendable {
        /// These rows, row-major `[rows, oh·ow]` at their places: distinct row ranges write
        /// distinct floats, so workers may split them.
        case rows(Range<Int>)
        /// These panels of ``GEMM/panelWidth`` pixels in the wide layout that
        /// ``GEMM/multiplyProduced(_:into:m:n:k:rowBias:silu:compute:produce:)`` takes (lanes past
        /// the pixels zero), the first panel at the start of the buffer. Needs
        /// ``ComputeConfiguration/packed``.
        case panels(Range<Int>)
    }

    /// Fills `part` of the column matrix of `image [channels, height, width]` (zeros `pads` above
    /// and left of it, and past it) into `columns`.
    public static func fill(
        _ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: (Int, Int), strides: (Int, Int),
        dilations: (Int, Int), pads: (Int, Int), output: (Int, Int), into columns: UnsafeMutablePointer<Float>,
        _ part: Part
    ) {
        switch part {
        case .rows(let rows):
            gr_im2col(
                image, channels, height, width, kernel.0, kernel.1, strides.0, strides.1, dilations.0, dilations.1,
                pads.0, pads.1, output.0, output.1, columns, rows.lowerBound, rows.upperBound)
        case .panels(let panels):
            gr_im2col_panels(
                image, channels, height, width, kernel.0, kernel.1, strides.0, strides.1, dilations.0, dilations.1,
                pads.0, pads.1, output.0, output.1, columns, panels.lowerBound, panels.upperBound)
        }
    }
}
