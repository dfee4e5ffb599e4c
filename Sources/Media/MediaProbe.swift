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
    /// Size the engine decodes to: rotation applied, and for videos the sample aspect ratio.
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

/// Reads metadata without decoding pictures.
public enum MediaProbe {
    /// The metadata of the file at `path` (``MediaSource/info``). Throws ``MediaError`` for
    /// unreadable files; audio-only files are reported (kind `audio`), not refused.
    public static func probe(path: String, limits: MediaLimits = .default) throws(MediaError) -> MediaInfo {
        try MediaSource(path: path, limits: limits).info
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
        // Image formats' resolution tags (TIFF, APNG's pHYs) stretch nothing in viewers or Pillow.
        if kind == .video && sar.num > 0 && sar.den > 0 && sar.num != sar.den {
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
        self.init(
            path: path, kind: .image, container: container, codec: codec, width: image.size.width,
            height: image.size.height, displayWidth: image.size.width, displayHeight: image.size.height, rotation: 0,
            frameRate: nil, variableFrameRate: false, durationSeconds: nil, frameCount: 1, streamCount: 1,
            videoStreams: 1, audioStreams: 0)
        self = oriented(by: image.orientation)
    }

    /// The info of a picture shown with `orientation` (from its metadata): its rotation, and
    /// display sizes swapped when the orientation turns it a quarter.
    func oriented(by orientation: ImageOrientation) -> MediaInfo {
        guard orientation != .up else { return self }
        var info = self
        switch orientation {
        case .right, .rightMirrored: info.rotation = 90
        case .down, .downMirrored: info.rotation = 180
        case .left, .leftMirrored: info.rotation = 270
        default: info.rotation = 0
        }
        if orientation.swapsDimensions { (info.displayWidth, info.displayHeight) = (displayHeight, displayWidth) }
        return info
    }
}
