import Foundation
import GuardrailCore

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

    public init(_ image: RGBImage, size: Int = 320) {
        let side = max(image.width, image.height)
        (width, height) = (image.width, image.height)
        (xPad, yPad) = (side - image.width, side - image.height)
        var padded = [UInt8](repeating: 0, count: side * side * 3)
        image.pixels.withUnsafeBufferPointer { source in
            padded.withUnsafeMutableBufferPointer { target in
                for y in 0..<image.height {
                    (target.baseAddress! + y * side * 3).update(
                        from: source.baseAddress! + y * image.width * 3, count: image.width * 3)
                }
            }
        }
        let resized =
            side == size
            ? padded : OpenCVResize.linear(padded, width: side, height: side, to: size, size, rows: image.height)
        let plane = size * size
        let scale = Float(1.0 / 255.0)
        var values = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { values[c * plane + i] = Float(resized[i * 3 + 2 - c]) * scale }
        }
        tensor = Value(shape: [1, 3, size, size], floats: values)
    }
}

/// OpenCV's `resize(…, INTER_LINEAR)` of 3-channel 8-bit pixels, as its vectorised x86 path
/// computes it: per output column the source column and two weights `cvRound(w · 2048)` (from
/// float positions `(d + 0.5) · scale − 0.5`, clamped at the edges), horizontal sums in int32, and
/// the vertical step `((b0 · (S0 >> 4)) >> 16) + ((b1 · (S1 >> 4)) >> 16) + 2) >> 2`, saturated.
enum OpenCVResize {
    /// `pixels` is `width × height`; rows from `rows` on are black (the square's padding), so only
    /// the source rows the output blends, and of those only the image's, are summed horizontally.
    static func linear(
        _ pixels: [UInt8], width: Int, height: Int, to outWidth: Int, _ outHeight: Int, rows imageRows: Int? = nil
    ) -> [UInt8] {
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
        let columns = taps(outWidth, width, clampWeights: true)
        let rows = taps(outHeight, height, clampWeights: false)
        // Horizontal pass for the source rows blended (black ones stay 0), then the vertical blend.
        var needed = [Bool](repeating: false, count: height)
        for (r0, r1, _, _) in rows where r0 < imageRows ?? height {
            needed[r0] = true
            if r1 < imageRows ?? height { needed[r1] = true }
        }
        var horizontal = [Int32](repeating: 0, count: height * outWidth * 3)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        pixels.withUnsafeBufferPointer { src in
            horizontal.withUnsafeMutableBufferPointer { mid in
                for y in 0..<height where needed[y] {
                    let row = src.baseAddress! + y * width * 3
                    let target = mid.baseAddress! + y * outWidth * 3
                    for (d, (s0, s1, w0, w1)) in columns.enumerated() {
                        for c in 0..<3 {
                            let a = Int32(row[s0 * 3 + c]) * w0
                            target[d * 3 + c] = s0 == s1 ? a : a + Int32(row[s1 * 3 + c]) * w1
                        }
                    }
                }
                out.withUnsafeMutableBufferPointer { result in
                    for (d, (r0, r1, b0, b1)) in rows.enumerated() {
                        let first = mid.baseAddress! + r0 * outWidth * 3
                        let second = mid.baseAddress! + r1 * outWidth * 3
                        for i in 0..<(outWidth * 3) {
                            let v = ((b0 * (first[i] >> 4)) >> 16) + ((b1 * (second[i] >> 4)) >> 16) + 2
                            result[d * outWidth * 3 + i] = UInt8(clamping: v >> 2)
                        }
                    }
                }
            }
        }
        return out
    }
}
