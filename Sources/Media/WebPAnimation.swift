import CImageCodecs
import GuardrailCore

/// Owns a libwebp `WebPAnimDecoder` over in-memory bytes; decodes still and animated WebP
/// exactly as Pillow does (it uses the same decoder), compositing frames on the canvas.
final class WebPAnimation: FrameSource {
    private let decoder: OpaquePointer
    private let bytes: [UInt8]
    private let path: String
    let canvas: FrameSize
    let frameCount: Int
    private var index = -1
    private var previousEnd = 0
    private var current: UnsafeMutablePointer<UInt8>?
    var corruptPackets: Int { 0 }
    var decodedFrames: Int { index + 1 }
    private(set) var endTime: Double?

    /// How every frame is shown: the file's EXIF orientation.
    let orientation: ImageOrientation

    convenience init(_ raw: UnsafeRawBufferPointer, path: String, limits: MediaLimits) throws(MediaError) {
        try self.init(bytes: Array(raw), path: path, limits: limits)
    }

    init(bytes: [UInt8], path: String, limits: MediaLimits) throws(MediaError) {
        self.bytes = bytes
        self.path = path
        orientation = bytes.withUnsafeBytes { EXIFOrientation.read(from: $0, format: .webp(animated: true)) }
        var width: Int32 = 0
        var height: Int32 = 0
        guard bytes.withUnsafeBufferPointer({ WebPGetInfo($0.baseAddress, $0.count, &width, &height) }) != 0 else {
            throw MediaError(.corrupt, path: path, function: "WebPGetInfo", message: "not a valid WebP bitstream")
        }
        try limits.checkPixels(width: Int(width), height: Int(height), path: path, function: "WebPGetInfo")
        var options = WebPAnimDecoderOptions()
        guard WebPAnimDecoderOptionsInit(&options) != 0 else {
            throw MediaError(
                .unsupportedFormat, path: path, function: "WebPAnimDecoderOptionsInit", message: "libwebp ABI mismatch")
        }
        options.color_mode = MODE_RGBA
        options.use_threads = 0
        // The decoder keeps pointers into `bytes`, which this object owns for its lifetime.
        let made = self.bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var data = WebPData(bytes: buffer.baseAddress, size: buffer.count)
            return WebPAnimDecoderNew(&data, &options)
        }
        guard let made else {
            throw MediaError(
                .corrupt, path: path, function: "WebPAnimDecoderNew", message: "cannot parse WebP container")
        }
        var info = WebPAnimInfo()
        guard WebPAnimDecoderGetInfo(made, &info) != 0, info.frame_count > 0 else {
            WebPAnimDecoderDelete(made)
            throw MediaError(.corrupt, path: path, function: "WebPAnimDecoderGetInfo", message: "no frames")
        }
        decoder = made
        canvas = FrameSize(width: Int(info.canvas_width), height: Int(info.canvas_height))
        frameCount = Int(info.frame_count)
    }

    deinit {
        WebPAnimDecoderDelete(decoder)
    }

    /// The animation's length in seconds: the frames' durations from the container, nothing decoded.
    var duration: Double {
        guard let demuxer = WebPAnimDecoderGetDemuxer(decoder) else { return 0 }
        var total = 0
        var iterator = WebPIterator()
        for frame in 1...max(frameCount, 1) where WebPDemuxGetFrame(demuxer, Int32(frame), &iterator) != 0 {
            total += Int(iterator.duration)
            WebPDemuxReleaseIterator(&iterator)
        }
        return roundedToMilliseconds(Double(total) / 1000)
    }

    func advance() throws(MediaError) -> FrameStamp? {
        guard WebPAnimDecoderHasMoreFrames(decoder) != 0 else {
            endTime = roundedToMilliseconds(Double(previousEnd) / 1000)
            return nil
        }
        var buffer: UnsafeMutablePointer<UInt8>?
        var end: Int32 = 0
        guard WebPAnimDecoderGetNext(decoder, &buffer, &end) != 0, let buffer else {
            throw MediaError(
                .corrupt, path: path, function: "WebPAnimDecoderGetNext",
                message: "frame \(index + 1) cannot be decoded")
        }
        // libwebp reports when each frame ends; it starts where the previous one ended.
        let start = previousEnd
        previousEnd = Int(end)
        current = buffer
        index += 1
        return FrameStamp(index: index, timestamp: Double(start) / 1000, isKeyframe: true)
    }

    /// Decodes the next frame and returns it with its canvas as RGB.
    func nextFrame() throws(MediaError) -> (stamp: FrameStamp, image: RGBImage)? {
        guard let stamp = try advance() else { return nil }
        return (stamp, try currentImage(outputSize: nil))
    }

    func currentImage(outputSize: FrameSize?) throws(MediaError) -> RGBImage {
        guard let current else { preconditionFailure("currentImage before advance") }
        let count = canvas.width * canvas.height
        var rgb = [UInt8](repeating: 0, count: count * 3)
        rgb.withUnsafeMutableBufferPointer { dst in
            for i in 0..<count {
                dst[3 * i] = current[4 * i]
                dst[3 * i + 1] = current[4 * i + 1]
                dst[3 * i + 2] = current[4 * i + 2]
            }
        }
        let image = RGBImage(width: canvas.width, height: canvas.height, pixels: rgb)
        // The EXIF orientation holds for every frame; `outputSize` is the displayed size.
        let stored = outputSize.map { orientation.swapsDimensions ? FrameSize(width: $0.height, height: $0.width) : $0 }
        guard let stored, stored != canvas else { return orientation.apply(to: image) }
        return orientation.apply(to: try RGBResizer.resize(image, to: stored, path: path))
    }

    func prepare(forTarget seconds: Double) throws(MediaError) {}
}
