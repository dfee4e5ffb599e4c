import CFFmpeg
import CGuardrailShims
import GuardrailCore

/// Converts decoded frames to packed RGB24 with swscale, honouring the frame's colour matrix
/// and range, respecting `linesize` padding. One cached `SwsContext` per geometry and format.
final class PixelScaler {
    private struct Key: Equatable {
        var width: Int32, height: Int32, format: Int32, colorspace: Int32, fullRange: Bool
        var outWidth: Int32, outHeight: Int32
    }

    private var context: OpaquePointer?
    private var key: Key?

    deinit {
        sws_freeContext(context)
    }

    /// The frame scaled to `outWidth × outHeight` RGB (pass the frame's size for no scaling).
    func convert(_ frame: Frame, outWidth: Int, outHeight: Int, path: String) throws(MediaError) -> RGBImage {
        let f = frame.native
        let (format, fullRange) = Self.normalized(AVPixelFormat(f.pointee.format), range: f.pointee.color_range)
        let key = Key(
            width: f.pointee.width, height: f.pointee.height, format: format.rawValue,
            colorspace: Int32(f.pointee.colorspace.rawValue), fullRange: fullRange,
            outWidth: Int32(outWidth), outHeight: Int32(outHeight))
        if key != self.key {
            sws_freeContext(context)
            self.key = nil
            // Bicubic with accurate rounding and full chroma interpolation, the quality the
            // reference frames are produced with.
            let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT
            context = sws_getContext(
                key.width, key.height, format, key.outWidth, key.outHeight, AV_PIX_FMT_RGB24, flags, nil, nil, nil)
            guard let context else {
                throw MediaError(
                    .unsupportedFormat, path: path, function: "sws_getContext",
                    message: "cannot convert \(Self.formatName(format)) \(key.width)x\(key.height) to RGB")
            }
            // sws_getCoefficients takes the AVColorSpace value; unknown values give BT.601.
            let source = sws_getCoefficients(key.colorspace)
            let target = sws_getCoefficients(SWS_CS_DEFAULT)
            sws_setColorspaceDetails(context, source, fullRange ? 1 : 0, target, 1, 0, 1 << 16, 1 << 16)
            self.key = key
        }
        // swscale's SIMD writers want aligned rows: convert into padded rows, then pack.
        let stride = (outWidth * 3 + 63) & ~63
        var padded = [UInt8](repeating: 0, count: stride * outHeight + 64)
        let scaled = padded.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var planes: [UnsafeMutablePointer<UInt8>?] = [buffer.baseAddress, nil, nil, nil]
            var strides: [Int32] = [Int32(stride), 0, 0, 0]
            return withUnsafePointer(to: &f.pointee.data) { data in
                withUnsafePointer(to: &f.pointee.linesize) { linesize in
                    data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                        linesize.withMemoryRebound(to: Int32.self, capacity: 8) { srcStride in
                            sws_scale(context, src, srcStride, 0, f.pointee.height, &planes, &strides)
                        }
                    }
                }
            }
        }
        guard scaled == Int32(outHeight) else {
            throw MediaError(
                .corrupt, path: path, function: "sws_scale", code: scaled,
                message: "converted \(scaled) of \(outHeight) rows")
        }
        return RGBImage(
            width: outWidth, height: outHeight,
            pixels: packRows(padded, stride: stride, size: FrameSize(width: outWidth, height: outHeight)))
    }

    /// Maps the deprecated full-range `YUVJ*` formats to `YUV*` plus a full-range flag.
    private static func normalized(_ format: AVPixelFormat, range: AVColorRange) -> (AVPixelFormat, Bool) {
        switch format {
        case AV_PIX_FMT_YUVJ420P: return (AV_PIX_FMT_YUV420P, true)
        case AV_PIX_FMT_YUVJ422P: return (AV_PIX_FMT_YUV422P, true)
        case AV_PIX_FMT_YUVJ444P: return (AV_PIX_FMT_YUV444P, true)
        case AV_PIX_FMT_YUVJ440P: return (AV_PIX_FMT_YUV440P, true)
        case AV_PIX_FMT_YUVJ411P: return (AV_PIX_FMT_YUV411P, true)
        default: return (format, range == AVCOL_RANGE_JPEG)
        }
    }

    static func formatName(_ format: AVPixelFormat) -> String {
        av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "pixel format \(format.rawValue)"
    }
}
