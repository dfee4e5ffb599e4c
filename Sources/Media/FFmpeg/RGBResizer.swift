import CFFmpeg
import GuardrailCore

/// Scales packed RGB images with swscale (bicubic); used where a decoder hands us RGB already.
enum RGBResizer {
    static func resize(_ image: RGBImage, to size: FrameSize, path: String) throws(MediaError) -> RGBImage {
        guard
            let context = sws_getContext(
                Int32(image.width), Int32(image.height), AV_PIX_FMT_RGB24, Int32(size.width), Int32(size.height),
                AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND, nil, nil, nil)
        else {
            throw MediaError(
                .unsupportedFormat, path: path, function: "sws_getContext", message: "cannot scale RGB image")
        }
        defer { sws_freeContext(context) }
        let stride = (size.width * 3 + 63) & ~63
        var padded = [UInt8](repeating: 0, count: stride * size.height + 64)
        let rows = image.pixels.withUnsafeBufferPointer { src in
            padded.withUnsafeMutableBufferPointer { dst -> Int32 in
                var srcPlanes: [UnsafePointer<UInt8>?] = [src.baseAddress, nil, nil, nil]
                var srcStrides: [Int32] = [Int32(image.width * 3), 0, 0, 0]
                var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [dst.baseAddress, nil, nil, nil]
                var dstStrides: [Int32] = [Int32(stride), 0, 0, 0]
                return sws_scale(context, &srcPlanes, &srcStrides, 0, Int32(image.height), &dstPlanes, &dstStrides)
            }
        }
        guard rows == Int32(size.height) else {
            throw MediaError(.corrupt, path: path, function: "sws_scale", code: rows, message: "scaling failed")
        }
        return RGBImage(width: size.width, height: size.height, pixels: packRows(padded, stride: stride, size: size))
    }
}

/// Copies `size.height` rows of `size.width * 3` bytes out of a buffer whose rows are `stride` apart.
func packRows(_ padded: [UInt8], stride: Int, size: FrameSize) -> [UInt8] {
    let rowBytes = size.width * 3
    var packed = [UInt8](repeating: 0, count: rowBytes * size.height)
    packed.withUnsafeMutableBytes { dst in
        padded.withUnsafeBytes { src in
            for y in 0..<size.height {
                dst.baseAddress!.advanced(by: y * rowBytes)
                    .copyMemory(from: src.baseAddress!.advanced(by: y * stride), byteCount: rowBytes)
            }
        }
    }
    return packed
}
