/// The one error type of the `Media` module: what went wrong, in which file, in which library call.
///
/// Errors caused by input bytes (corrupt, truncated, oversized, unsupported files) are always
/// thrown as `MediaError`; the engine never crashes on them.
public struct MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The cases callers match on.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Not an image or video format this build decodes.
        case unsupportedFormat = "unsupported_format"
        /// The data ends before the image or stream is complete.
        case truncated
        /// The data is malformed, or no frame of it could be decoded.
        case corrupt
        /// Larger than the configured limits (pixels, file size, duration).
        case tooLarge = "too_large"
        /// The file holds no video stream (audio-only files, for example).
        case noVideoStream = "no_video_stream"
        /// The file could not be read, or decoding took longer than the deadline.
        case io
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// The file being decoded (or `<memory>` for in-memory data).
    public var path: String
    /// The library call that failed, such as `avformat_open_input` or `png_read_info`.
    public var function: String
    /// The library's own error code, when it has one (FFmpeg `AVERROR`, errno, status code).
    public var code: Int32
    /// The library's message, or ours.
    public var message: String

    /// Creates an error; `function` names the failing call.
    public init(_ kind: Kind, path: String, function: String, code: Int32 = 0, message: String) {
        self.kind = kind
        self.path = path
        self.function = function
        self.code = code
        self.message = message
    }

    public var description: String {
        "\(path): \(kind.rawValue): \(message) (\(function)\(code != 0 ? ", code \(code)" : ""))"
    }
}

/// Something a decoder read past instead of refusing the file, as browsers and Pillow do; reports
/// list them so that a moderated picture that is not the whole picture says so.
public enum MediaWarning: Sendable, Hashable, CustomStringConvertible {
    /// The data ended early: the part present was decoded, the rest is filled (grey for JPEG, as
    /// libjpeg fills it; black for PNG rows never read).
    case truncated
    /// The decoder met damaged data and went on (its message, such as libjpeg's "Corrupt JPEG
    /// data: 3 extraneous bytes before marker 0xdb").
    case damaged(String)
    /// Something a viewer could see was not scanned, and why.
    case skipped(String)

    /// `truncated`, `damaged: <message>` or `skipped: <message>`.
    public var description: String {
        switch self {
        case .truncated: return "truncated"
        case .damaged(let message): return "damaged: \(message)"
        case .skipped(let message): return "skipped: \(message)"
        }
    }
}
