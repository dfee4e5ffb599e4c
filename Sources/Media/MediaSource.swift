import CFFmpeg
import CGuardrailShims
import Glibc
import GuardrailCore

/// One file, stat'ed, sniffed and opened once: PNG, JPEG and WebP bytes are read into memory, every
/// other format is opened by FFmpeg exactly once; probing, decoding a still, sampling (every,
/// keyframes, shots) and counting keyframes all work from what was opened. Not thread-safe: one
/// scan uses a source at a time.
public final class MediaSource {
    /// The path the source was opened from.
    public let path: String
    /// What the file is.
    public var info: MediaInfo { container.info }
    public let limits: MediaLimits
    /// What the decoders read past so far (``MediaWarning``), each once, in the order met.
    public var warnings: [MediaWarning] { log.warnings }
    private let log = WarningLog()
    /// The file's family: every question below is its to answer.
    private let container: any Container

    /// How many times FFmpeg was asked to open `path` (`avformat_open_input`) while `body` ran, for
    /// diagnostics and for tests that hold the one-open rule: a scan opens a file at most once,
    /// whatever its sampling mode. Only paths being counted are recorded.
    public static func countingFFmpegOpens(of path: String, _ body: () throws -> Void) rethrows -> Int {
        InputContext.countedOpens.withLock { $0[path] = 0 }
        defer { InputContext.countedOpens.withLock { $0[path] = nil } }
        try body()
        return InputContext.countedOpens.withLock { $0[path] ?? 0 }
    }

    /// Opens `path`. Throws ``MediaError`` for unreadable, oversized or unrecognised files; an
    /// audio-only file opens (its ``info`` says `audio`) but has no frames.
    public init(path: String, limits: MediaLimits = .default) throws(MediaError) {
        self.path = path
        self.limits = limits
        let (head, size, descriptor) = try Self.openAndSniff(path, limits: limits)
        defer { close(descriptor) }
        let format = try withRawBytes(head) { (raw) throws(MediaError) in SniffedFormat(raw) }
        let context = ContainerContext(path: path, limits: limits, log: log)
        switch format {
        case .png(animated: false), .jpeg:
            let bytes = try Self.readRest(descriptor, head: head, size: size, path: path)
            container = try StillContainer(bytes: bytes, format: format, context: context)
        case .webp:
            let bytes = try Self.readRest(descriptor, head: head, size: size, path: path)
            container = try WebPContainer(bytes: bytes, format: format, context: context)
        default:
            // Formats whose metadata may lie anywhere in the file are read whole.
            let whole = format == .tiff || format == .gif || format == .ico || format == .png(animated: true)
            let bytes = whole ? try Self.readRest(descriptor, head: head, size: size, path: path) : head
            let input = try InputContext(path: path, limits: limits, head: head)
            switch format {
            case .gif: container = try GIFContainer(input: input, bytes: bytes, format: format, context: context)
            case .tiff: container = try TIFFContainer(input: input, bytes: bytes, format: format, context: context)
            case .ico: container = try ICOContainer(input: input, bytes: bytes, format: format, context: context)
            default: container = try FFmpegContainer(input: input, bytes: bytes, format: format, context: context)
            }
        }
    }

    /// The picture as `ImageOps.exif_transpose(Image.open(p)).convert("RGB")` gives it: the image
    /// itself for stills (an APNG's default image), the first frame of an animation or video.
    public func decodeImage() throws(MediaError) -> RGBImage { try container.decodeImage() }

    /// Pictures a viewer can see besides the sampled frames: an APNG's default image when it is
    /// not part of the animation (non-APNG viewers show it, APNG viewers do not), cover art
    /// (attached pictures of audio and video files), an MPO's further images, an ICO's other sizes
    /// and a TIFF's further pages. Each is decoded as the still it is; one in a format this build
    /// does not decode is reported as a ``MediaWarning/skipped(_:)`` warning.
    public func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        try container.otherPictures()
    }

    /// At most this many images of a multi-image still are scanned besides its first.
    public static let maxOtherPictures = 16

    /// How many picture streams a viewer could pick (1 for stills and single-stream files; cover art
    /// is not counted, see ``otherPictures()``).
    public var videoStreamCount: Int { container.pictureStreamCount }

    /// A decoder of picture stream `stream` (0: the default one) positioned at its start. Each call
    /// starts over (FFmpeg's input is rewound, not reopened), so one pass must be finished before
    /// the next begins.
    func frameSource(threads: Int, keyframesOnly: Bool, stream index: Int = 0) throws(MediaError) -> any FrameSource {
        try container.frameSource(threads: threads, keyframesOnly: keyframesOnly, stream: index)
    }

    /// The first timestamp of picture stream `index`, the origin of sampling grids.
    func startSeconds(stream index: Int = 0) -> Double { container.startSeconds(stream: index) }

    /// The stream's end from the container's duration, before anything is decoded; nil when unknown
    /// (WebP and stills learn it by decoding).
    func containerEnd(stream index: Int = 0) -> Double? { container.containerEnd(stream: index) }

    /// Keyframes of picture stream `index`, counted by demuxing only (no decoding); nil when unknown.
    func countKeyframes(stream index: Int = 0) throws(MediaError) -> Int? {
        try container.countKeyframes(stream: index)
    }

    // MARK: Opening

    /// Opens, checks and reads the first 64 KiB: the sniffer needs only the first bytes, but PNG's
    /// acTL may follow long ancillary chunks.
    private static func openAndSniff(_ path: String, limits: MediaLimits) throws(MediaError) -> (
        head: [UInt8], size: Int, descriptor: Int32
    ) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw posixError(path, "open") }
        do throws(MediaError) {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw posixError(path, "fstat") }
            try checkRegularFile(status, maxBytes: limits.maxFileBytes, path: path, function: "fstat")
            guard status.st_size > 0 else {
                throw MediaError(.truncated, path: path, function: "stat", message: "empty file")
            }
            let head = try readBytes(descriptor, count: min(Int(status.st_size), 1 << 16), path: path)
            return (head, Int(status.st_size), descriptor)
        } catch {
            close(descriptor)
            throw error
        }
    }

    private static func readRest(_ descriptor: Int32, head: [UInt8], size: Int, path: String) throws(MediaError)
        -> [UInt8]
    {
        guard size > head.count else { return head }
        return head + (try readBytes(descriptor, count: size - head.count, path: path))
    }
}
