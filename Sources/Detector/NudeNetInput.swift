import Foundation
import GuardrailCore
import Vision

/// The detector's input as the `nudenet` package makes it from a picture: padded with black at
/// the right and bottom to a square, resized to `size × size` by `cv2.dnn.blobFromImage` (OpenCV's
/// 8-bit bilinear resize, reproduced to the bit), scaled by 1/255 in float32, NCHW, channels in
/// B, G, R order: the package's `cvtColor(…, COLOR_RGBA2BGR)` swaps OpenCV's BGR to RGB and
/// `swapRB` swaps it back, so the model sees BGR.
public struct NudeNetInput: Sendable {
    public var tensor: Value
    /// The picture's size and the padding added to make it square (what decoding scales by).
    public var width: Int
    public var height: Int
    public var xPad: Int
    public var yPad: Int

    /// The input of `image`, its output rows shared out among `compute`'s workers.
    public init(_ image: RGBImage, size: Int = 320, compute: ComputeConfiguration = .default) {
        let side = max(image.width, image.height)
        (width, height) = (image.width, image.height)
        (xPad, yPad) = (side - image.width, side - image.height)
        let plane = size * size
        let scale = Float(1.0 / 255.0)
        // Channel c of the tensor is the picture's channel 2 − c (B, G, R).
        let values = [Float](unsafeUninitializedCapacity: 3 * plane) { tensor, initialized in
            compute.parallel(size) { rows in
                OpenCVResize.linear(image, side: side, to: size, size, rows: rows) { y, row in
                    for c in 0..<3 {
                        let line = tensor.baseAddress! + c * plane + y * size
                        for x in 0..<size { line[x] = Float(row[x * 3 + 2 - c]) * scale }
                    }
                }
            }
            initialized = 3 * plane
        }
        tensor = Value(shape: [1, 3, size, size], floats: values)
    }
}

/// OpenCV's `resize(…, INTER_LINEAR)` of 3-channel 8-bit pixels, as its vectorised x86 path
/// computes it: per output column the source column and two weights `cvRound(w · 2048)` (from
/// float positions `(d + 0.5) · scale − 0.5`, clamped at the edges), horizontal sums in int32, and
/// the vertical step `((b0 · (S0 >> 4)) >> 16) + ((b1 · (S1 >> 4)) >> 16) + 2) >> 2`, saturated.
enum OpenCVResize {
    /// Resizes `image` padded with black at the right and bottom to `side × side` (the padding is
    /// never built: its pixels add zero to every sum) and hands each output row of `rows`,
    /// `outWidth × 3` bytes, to `row` in order. At the same size the weights are 2048 and 0, which
    /// give the pixels back unchanged, so no separate copy path is needed.
    static func linear(
        _ image: RGBImage, side: Int, to outWidth: Int, _ outHeight: Int, rows wanted: Range<Int>,
        row: (_ y: Int, _ pixels: UnsafePointer<UInt8>) -> Void
    ) {
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
        let columns = taps(outWidth, side, clampWeights: true).map { s0, s1, w0, w1 in
            let second = s0 == s1 || s1 >= width ? (0, Int32(0)) : (s1, w1)
            return (s0 < width ? s0 : 0, s0 < width ? w0 : 0, second.0, second.1)
        }
        let rows = taps(outHeight, side, clampWeights: false)
        // The horizontal sums of the two picture rows an output row blends, in two slots that keep
        // the rows the next output row may blend again (when enlarging).
        let stride = outWidth * 3
        let slots = UnsafeMutablePointer<Int32>.allocate(capacity: 3 * stride)
        defer { slots.deallocate() }
        let zeros = slots + 2 * stride
        zeros.initialize(repeating: 0, count: stride)
        var held = [-1, -1]
        let line = UnsafeMutablePointer<UInt8>.allocate(capacity: stride)
        defer { line.deallocate() }
        image.pixels.withUnsafeBufferPointer { src in
            func horizontal(_ y: Int, keeping other: Int) -> UnsafePointer<Int32> {
                guard y < height else { return UnsafePointer(zeros) }
                if let slot = held.firstIndex(of: y) { return UnsafePointer(slots + slot * stride) }
                let slot = held[0] == other ? 1 : 0
                held[slot] = y
                let (source, target) = (src.baseAddress! + y * width * 3, slots + slot * stride)
                for (d, (s0, w0, s1, w1)) in columns.enumerated() {
                    for c in 0..<3 {
                        target[d * 3 + c] = Int32(source[s0 * 3 + c]) &* w0 &+ Int32(source[s1 * 3 + c]) &* w1
                    }
                }
                return UnsafePointer(target)
            }
            for d in wanted {
                let (r0, r1, b0, b1) = rows[d]
                let first = horizontal(r0, keeping: r1)
                let second = horizontal(r1, keeping: r0)
                // Wrapping arithmetic (the sums fit in 32 bits) so the loop vectorises.
                for i in 0..<stride {
                    let v = ((b0 &* (first[i] &>> 4)) &>> 16) &+ ((b1 &* (second[i] &>> 4)) &>> 16) &+ 2
                    line[i] = UInt8(clamping: v &>> 2)
                }
                row(d, line)
            }
        }
    }
}
