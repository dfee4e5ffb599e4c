import CFFmpeg
import CGuardrailShims
import CImageCodecs

/// What a file is, as `guardrail probe` reports it.
public struct MediaInfo: Sendable, Hashable, Codable {
    /// What the engine will do with the file.
    public enum Kind: String, Sendable, Codable {
        /// A still image.
        case image
        /// An animated image (GIF, APNG, WebP), sampled like a short video.
        case animation
        /// A video.
        case video
        /// Audio only: nothing to moderate.
        case audio
    }

    public var path: String
    public var kind: Kind
    /// Container or image format (`png`, `jpeg`, `webp`, `mov,mp4,m4a,3gp,3g2,mj2`, …).
    public var container: String
    /// Codec of the picture (`png`, `h264`, `vp9`, …); nil for audio-only files.
    public var codec: String?
    /// Stored picture size, before rotation and aspect-ratio correction.
    public var width: Int?
    public var height: Int?
    /// Size the engine decodes to: sample aspect ratio and rotation applied.
    public var displayWidth: Int?
    public var displayHeight: Int?
    /// Clockwise display rotation in degrees (0, 90, 180, 270): display matrix or EXIF orientation.
    public var rotation: Int
    /// Average frames per second, when known.
    public var frameRate: Double?
    /// True when frame timing varies (the stream's base rate differs from its average rate).
    public var variableFrameRate: Bool
    /// Duration in seconds, when known.
    public var durationSeconds: Double?
    /// Frame count when the container states it.
    public var frameCount: Int?
    public var streamCount: Int
    public var videoStreams: Int
    public var audioStreams: Int

    enum CodingKeys: String, CodingKey {
        case path, kind, container, codec, width, height, rotation
        case displayWidth = "display_width"
        case displayHeight = "display_height"
        case frameRate = "frame_rate"
        case variableFrameRate = "variable_frame_rate"
        case durationSeconds = "duration_s"
        case frameCount = "frame_count"
        case streamCount = "streams"
        case videoStreams = "video_streams"
        case audioStreams = "audio_streams"
    }
}

/// Reads metadata without decoding pictures, and opens the right decoder for a file.
public enum MediaProbe {
    /// The metadata of the file at `path`. Throws ``MediaError`` for unreadable files;
    /// audio-only files are reported (kind `audio`), not refused.
    public static func probe(path: String, limits: MediaLimits = .default) throws(MediaError) -> MediaInfo {
        _ = try checkFile(path, maxBytes: limits.maxFileBytes)
        let head = try readHead(path)
        switch try withRawBytes(head, { (raw) throws(MediaError) in SniffedFormat(raw) }) {
        case .png(animated: false): return try stillPNG(path: path, limits: limits)
        case .jpeg: return try stillJPEG(path: path, limits: limits)
        case .webp: return try webP(path: path, limits: limits)
        default: return try ffmpegInfo(path: path, limits: limits)
        }
    }

    /// Opens the decoder that yields the file's frames: libwebp for WebP, FFmpeg otherwise.
    static func openFrameSource(path: String, limits: MediaLimits, threads: Int, keyframesOnly: Bool)
        throws(MediaError) -> OpenedSource
    {
        _ = try checkFile(path, maxBytes: limits.maxFileBytes)
        let head = try readHead(path)
        let format = try withRawBytes(head) { (raw) throws(MediaError) in SniffedFormat(raw) }
        if format == .png(animated: false) || format == .jpeg {
            return OpenedSource(
                source: try StillImageSource(path: path, limits: limits), info: try probe(path: path, limits: limits),
                start: 0, keyframeCount: { 1 })
        }
        if case .webp = format {
            let bytes = try readFileBytes(path, maxBytes: limits.maxFileBytes)
            let animation = try WebPAnimation(bytes: bytes, path: path, limits: limits)
            return OpenedSource(
                source: animation, info: try webPInfo(animation, bytes: bytes, path: path), start: 0,
                keyframeCount: { animation.frameCount })
        }
        let source = try FFmpegVideoSource(
            path: path, limits: limits, threads: keyframesOnly ? 1 : threads,
            keyframesOnly: keyframesOnly)
        let info = describe(source.input, stream: source.stream, path: path)
        return OpenedSource(
            source: source, info: info, start: source.startSeconds,
            keyframeCount: { () throws(MediaError) in try countKeyPackets(path: path, limits: limits) })
    }

    struct OpenedSource {
        var source: any FrameSource
        var info: MediaInfo
        /// First timestamp of the stream, the origin of sampling grids.
        var start: Double
        var keyframeCount: () throws(MediaError) -> Int?

        func countKeyframes() throws(MediaError) -> Int? { try keyframeCount() }
    }

    /// Key packets of the video stream, counted by demuxing only (no decoding).
    private static func countKeyPackets(path: String, limits: MediaLimits) throws(MediaError) -> Int? {
        let input = try InputContext(path: path, limits: limits)
        guard let stream = input.bestVideoStream() else { return nil }
        let packet = Packet()
        var count = 0
        while true {
            let read = av_read_frame(input.native, packet.native)
            if read == gr_averror_exit() { throw MediaError(ffmpeg: read, path: path, function: "av_read_frame") }
            if read < 0 { break }
            if packet.native.pointee.stream_index == stream.pointee.index
                && packet.native.pointee.flags & AV_PKT_FLAG_KEY != 0
            {
                count += 1
            }
            av_packet_unref(packet.native)
        }
        return count
    }

    private static func readHead(_ path: String) throws(MediaError) -> [UInt8] {
        // The sniffer needs the first bytes only, but PNG's acTL may follow long ancillary chunks.
        try readFileBytes(path, maxBytes: .max, prefix: 1 << 16)
    }

    private static func stillPNG(path: String, limits: MediaLimits) throws(MediaError) -> MediaInfo {
        let image = try ImageDecoder(limits: limits).header(path: path)
        return MediaInfo(image: image, path: path, container: "png", codec: "png")
    }

    private static func stillJPEG(path: String, limits: MediaLimits) throws(MediaError) -> MediaInfo {
        let image = try ImageDecoder(limits: limits).header(path: path)
        return MediaInfo(image: image, path: path, container: "jpeg", codec: "mjpeg")
    }

    private static func webP(path: String, limits: MediaLimits) throws(MediaError) -> MediaInfo {
        let bytes = try readFileBytes(path, maxBytes: limits.maxFileBytes)
        return try webPInfo(WebPAnimation(bytes: bytes, path: path, limits: limits), bytes: bytes, path: path)
    }

    private static func webPInfo(_ animation: WebPAnimation, bytes: [UInt8], path: String) throws(MediaError)
        -> MediaInfo
    {
        let orientation = try withRawBytes(bytes) { (raw) throws(MediaError) in
            EXIFOrientation.read(from: raw, format: .webp(animated: false))
        }
        var info = MediaInfo(
            image: ImageHeader(size: animation.canvas, orientation: orientation), path: path, container: "webp",
            codec: "webp")
        if animation.frameCount > 1 {
            info.kind = .animation
            info.frameCount = animation.frameCount
            info.durationSeconds = animation.duration
        }
        return info
    }

    private static func ffmpegInfo(path: String, limits: MediaLimits) throws(MediaError) -> MediaInfo {
        let input = try InputContext(path: path, limits: limits)
        guard let stream = input.bestVideoStream() else {
            let audio = input.streams.filter { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }.count
            guard audio > 0 else {
                throw MediaError(
                    .noVideoStream, path: path, function: "av_find_best_stream", message: "no video or audio stream")
            }
            return MediaInfo(
                path: path, kind: .audio, container: input.formatName, codec: nil, width: nil, height: nil,
                displayWidth: nil, displayHeight: nil, rotation: 0, frameRate: nil, variableFrameRate: false,
                durationSeconds: input.durationSeconds.map(roundedToMilliseconds), frameCount: nil,
                streamCount: input.streams.count, videoStreams: 0, audioStreams: audio)
        }
        var info = describe(input, stream: stream, path: path)
        guard let width = info.width, let height = info.height, width > 0, height > 0 else {
            throw MediaError(
                .corrupt, path: path, function: "avformat_find_stream_info",
                message: "the picture size cannot be determined")
        }
        if info.kind == .animation {
            // GIF and APNG do not state their frame count: count packets (cheap, no decoding).
            info.frameCount = try countPackets(path: path, limits: limits)
            if info.frameCount == 1 { info.kind = .image }
        }
        return info
    }

    private static func countPackets(path: String, limits: MediaLimits) throws(MediaError) -> Int {
        let input = try InputContext(path: path, limits: limits)
        let packet = Packet()
        var count = 0
        while av_read_frame(input.native, packet.native) >= 0 {
            if input.native.pointee.streams[Int(packet.native.pointee.stream_index)]!.pointee.codecpar.pointee
                .codec_type
                == AVMEDIA_TYPE_VIDEO
            {
                count += 1
            }
            av_packet_unref(packet.native)
        }
        return count
    }

    static func describe(_ input: InputContext, stream: UnsafeMutablePointer<AVStream>, path: String) -> MediaInfo {
        let parameters = stream.pointee.codecpar.pointee
        let container = input.formatName
        let stillFormats = ["image2", "png_pipe", "bmp_pipe", "tiff_pipe", "jpeg_pipe", "webp_pipe", "gif_pipe"]
        let kind: MediaInfo.Kind
        if stillFormats.contains(container) || container.hasSuffix("_pipe") || input.majorBrand == "avif" {
            kind = .image
        } else {
            kind = container == "gif" || container == "apng" ? .animation : .video
        }
        let rotation = Int(gr_stream_rotation_degrees(stream))
        var displayWidth = Int(parameters.width)
        let sar = parameters.sample_aspect_ratio
        if sar.num > 0 && sar.den > 0 && sar.num != sar.den {
            displayWidth = Int((Double(displayWidth) * Double(sar.num) / Double(sar.den)).rounded())
        }
        let displayHeight = Int(parameters.height)
        let swap = rotation == 90 || rotation == 270
        let average = stream.pointee.avg_frame_rate
        let base = stream.pointee.r_frame_rate
        let averageRate = average.num > 0 && average.den > 0 ? Double(average.num) / Double(average.den) : nil
        let baseRate = base.num > 0 && base.den > 0 ? Double(base.num) / Double(base.den) : nil
        let variable = averageRate.flatMap { a in baseRate.map { b in abs(a - b) / b > 0.01 } } ?? false
        let video = input.streams.filter { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO }.count
        let audio = input.streams.filter { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }.count
        return MediaInfo(
            path: path, kind: kind, container: container,
            codec: String(cString: avcodec_get_name(parameters.codec_id)),
            width: Int(parameters.width), height: Int(parameters.height),
            displayWidth: swap ? displayHeight : displayWidth, displayHeight: swap ? displayWidth : displayHeight,
            rotation: rotation, frameRate: (averageRate ?? baseRate).map { ($0 * 1000).rounded() / 1000 },
            variableFrameRate: variable, durationSeconds: input.durationSeconds.map(roundedToMilliseconds),
            frameCount: stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil,
            streamCount: input.streams.count, videoStreams: video, audioStreams: audio)
    }
}

/// Dimensions and orientation read from an image header.
struct ImageHeader {
    var size: FrameSize
    var orientation: ImageOrientation
}

extension MediaInfo {
    init(image: ImageHeader, path: String, container: String, codec: String) {
        let swap = image.orientation.swapsDimensions
        let rotation: Int
        switch image.orientation {
        case .right, .rightMirrored: rotation = 90
        case .down, .downMirrored: rotation = 180
        case .left, .leftMirrored: rotation = 270
        default: rotation = 0
        }
        self.init(
            path: path, kind: .image, container: container, codec: codec, width: image.size.width,
            height: image.size.height, displayWidth: swap ? image.size.height : image.size.width,
            displayHeight: swap ? image.size.width : image.size.height, rotation: rotation, frameRate: nil,
            variableFrameRate: false, durationSeconds: nil, frameCount: 1, streamCount: 1, videoStreams: 1,
            audioStreams: 0)
    }
}
