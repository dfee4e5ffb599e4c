import CKernels
import Compute
import GuardrailCore

/// OpenCV's `resize(…, INTER_LINEAR)` of 3-channel 8-bit pixels, as its vectorised x86 path
/// computes it: per output column the source column and two weights `cvRound(w · 2048)` (from
/// float positions `(d + 0.5) · scale − 0.5`, clamped at the edges), horizontal sums in int32, and
/// the vertical step `((b0 · (S0 >> 4)) >> 16) + ((b1 · (S1 >> 4)) >> 16) + 2) >> 2`, saturated.
public enum OpenCVResize {
    /// Resizes `image` padded with black at the right and bottom to `side × side` (the padding is
    /// never built: its pixels add zero to every sum) to `outWidth × outHeight`, and writes output
    /// rows `rows` as floats, each byte times `scale`, channel `c` of the picture (R, G, B) to
    /// `planes[c] + y · outWidth`. At the same size the weights are 2048 and 0, which give the
    /// pixels back unchanged, so no separate copy path is needed.
    public static func linear(
        _ image: RGBImage, side: Int, to outWidth: Int, _ outHeight: Int, rows wanted: Range<Int>, scale: Float,
        planes: [UnsafeMutablePointer<Float>], compute: ComputeConfiguration
    ) {
        precondition(planes.count == 3, "one plane per channel")
        func taps(_ outLength: Int, _ inLength: Int, clampWeights: Bool) -> [(Int, Int, Int32, Int32)] {
            let scale = 1.0 / (Double(outLength) / Double(inLength))
            return (0..<outLength).map { d in
                var f = Float((Double(d) + 0.5) * scale - 0.5)
                var s = Int(f.rounded(.down))
                f -= Float(s)
                if clampWeights {
                    if s < 0 { (s, f) = (0, 0) }
                    if s >= inLength - 1 { (s, f) = (inLength - 1, 0) }
                }
                let w0 = Int32(((1 - f) * 2048).rounded(.toNearestOrEven))
                let w1 = Int32((f * 2048).rounded(.toNearestOrEven))
                return (min(max(s, 0), inLength - 1), min(max(s + 1, 0), inLength - 1), w0, w1)
            }
        }
        let (width, height) = (image.width, image.height)
        // A tap on the padding weighs nothing (its pixel is 0): weight 0 on column 0 in its place.
        // The kernel takes four arrays: byte offsets and weights of each column's two taps.
        var columns = [Int32](repeating: 0, count: 4 * outWidth)
        for (d, (s0, s1, w0, w1)) in taps(outWidth, side, clampWeights: true).enumerated() {
            let second = s0 == s1 || s1 >= width ? (0, Int32(0)) : (s1, w1)
            columns[d] = Int32(s0 < width ? s0 * 3 : 0)
            columns[outWidth + d] = s0 < width ? w0 : 0
            columns[2 * outWidth + d] = Int32(second.0 * 3)
            columns[3 * outWidth + d] = second.1
        }
        let rows = taps(outHeight, side, clampWeights: false)
        // The horizontal sums (three planes) of the two picture rows an output row blends, in two
        // slots that keep the rows the next output row may blend again (when enlarging).
        let stride = outWidth * 3
        let slots = UnsafeMutablePointer<Int32>.allocate(capacity: 3 * stride)
        defer { slots.deallocate() }
        let zeros = slots + 2 * stride
        zeros.initialize(repeating: 0, count: stride)
        var held = [-1, -1]
        image.pixels.withUnsafeBufferPointer { src in
            columns.withUnsafeBufferPointer { taps in
                func horizontal(_ y: Int, keeping other: Int) -> UnsafePointer<Int32> {
                    guard y < height else { return UnsafePointer(zeros) }
                    if let slot = held.firstIndex(of: y) { return UnsafePointer(slots + slot * stride) }
                    let slot = held[0] == other ? 1 : 0
                    held[slot] = y
                    let source = src.baseAddress! + y * width * 3
                    gr_linear_horizontal_c3(
                        source, (height - y) * width * 3, taps.baseAddress!, outWidth, slots + slot * stride,
                        compute.isa)
                    return UnsafePointer(slots + slot * stride)
                }
                for d in wanted {
                    let (r0, r1, b0, b1) = rows[d]
                    let first = horizontal(r0, keeping: r1)
                    let second = horizontal(r1, keeping: r0)
                    let lines: [UnsafeMutablePointer<Float>?] = planes.map { $0 + d * outWidth }
                    gr_linear_vertical_c3(first, second, b0, b1, outWidth, scale, lines, compute.isa)
                }
            }
        }
    }
}
