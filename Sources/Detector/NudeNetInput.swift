import Compute
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

    /// The input of `image`, its output rows shared out among `compute`'s workers.
    public init(_ image: RGBImage, size: Int = 320, compute: ComputeConfiguration = .default) {
        let side = max(image.width, image.height)
        (width, height) = (image.width, image.height)
        (xPad, yPad) = (side - image.width, side - image.height)
        let plane = size * size
        let scale = Float(1.0 / 255.0)
        // Channel c of the tensor is the picture's channel 2 − c (B, G, R).
        let values = [Float](unsafeUninitializedCapacity: 3 * plane) { tensor, initialized in
            let planes = (0..<3).map { tensor.baseAddress! + (2 - $0) * plane }
            compute.parallel(size) { rows in
                OpenCVResize.linear(
                    image, side: side, to: size, size, rows: rows, scale: scale, planes: planes, compute: compute)
            }
            initialized = 3 * plane
        }
        tensor = Value(shape: [1, 3, size, size], floats: values)
    }
}
