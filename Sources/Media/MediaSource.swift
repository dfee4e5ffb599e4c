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
    public let info: MediaInfo
    public let limits: MediaLimits
    /// What the decoders read past so far (``MediaWarning``), each once, in the order met.
    public private(set) var warnings: [MediaWarning] = []
    private let content: Content
    /// An ICO's sizes (nil for other formats); the largest is the image.
    private let ico: ICODirectory?

    /// How many times FFmpeg was asked to open `path` (`avformat_open_input`) while `body` ran, for
    /// diagnostics and for tests that hold the one-open rule: a scan opens a file at most once,
    /// whatever its sampling mode. Only paths being counted are recorded.
    public static func countingFFmpegOpens(of path: String, _ body: () throws -> Void) rethrows -> Int {
        InputContext.countedOpens.withLock { $0[path] = 0 }
        defer { InputContext.countedOpens.withLock { $0[path] = nil } }
        try body()
        return InputContext.countedOpens.withLock { $0[path] ?? 0 }
    }

    private enum Content {
        /// A still PNG or JPEG, or a WebP (still or animated), whole in memory.
        case bytes([UInt8], SniffedFormat)
        /// Everything else, demuxed by FFmpeg from one input context. `bytes` holds the head, or the
        /// whole file where a still's metadata may lie anywhere (TIFF's IFD, APNG's default image).
        case ffmpeg(InputContext, stream: UnsafeMutablePointer<AVStream>?, bytes: [UInt8], format: SniffedFormat)

        var bytesAndFormat: ([UInt8], SniffedFormat) {
            switch self {
            case .bytes(let bytes, let format), .ffmpeg(_, _, let bytes, let format): return (bytes, format)
            }
        }
    }

    /// Opens `path`. Throws ``MediaError`` for unreadable, oversized or unrecognised files; an
    /// audio-only file opens (its ``info`` says `audio`) but has no frames.
    public init(path: String, limits: MediaLimits = .default) throws(MediaError) {
        self.path = path
        self.limits = limits
        let (head, size, descriptor) = try Self.openAndSniff(path, limits: limits)
        defer { close(descriptor) }
        let format = try withRawBytes(head) { (raw) throws(MediaError) in SniffedFormat(raw) }
        switch format {
        case .png(animated: false), .jpeg, .webp:
            let bytes = try Self.readRest(descriptor, head: head, size: size, path: path)
            content = .bytes(bytes, format)
            ico = nil
            info = try Self.describe(bytes: bytes, format: format, path: path, limits: limits)
        default:
            let whole = format == .tiff || format == .gif || format == .ico || format == .png(animated: true)
            let bytes = whole ? try Self.readRest(descriptor, head: head, size: size, path: path) : head
            let input = try InputContext(path: path, limits: limits, head: head)
            let stream = input.bestVideoStream()
            content = .ffmpeg(input, stream: stream, bytes: bytes, format: format)
            let ico = format == .ico ? bytes.withUnsafeBytes { ICODirectory($0) } : nil
            self.ico = ico
            // A GIF's frames are counted from its own descriptors below, not from FFmpeg's packets.
            var described = try Self.describe(input, stream: stream, path: path, countsPackets: format != .gif)
                .oriented(by: Self.stillOrientation(bytes: bytes, format: format))
            if let main = ico?.largest {
                // A viewer shows one size at a time: the largest is the image (as Pillow opens it),
                // the others are further pictures; FFmpeg's one stream per size are not a video.
                (described.kind, described.frameCount, described.width, described.height) = (
                    .image, 1, main.width, main.height
                )
                (described.displayWidth, described.displayHeight) = (main.width, main.height)
                described.frameRate = nil  // the demuxer's 90 kHz clock, not a rate
            }
            if format == .gif {
                // FFmpeg drops an image cut short; count the frames the GIF decoder shows.
                let frames = try GIFAnimation(bytes: bytes, path: path, limits: limits).countFrames()
                described.frameCount = frames
                described.kind = frames == 1 ? .image : .animation
            }
            info = described
        }
    }

    /// The picture as `ImageOps.exif_transpose(Image.open(p)).convert("RGB")` gives it: the image
    /// itself for stills (an APNG's default image), the first frame of an animation or video.
    public func decodeImage() throws(MediaError) -> RGBImage {
        let (bytes, format) = content.bytesAndFormat
        switch format {
        case .png, .jpeg, .webp:
            let (image, warnings) = try ImageDecoder(limits: limits).decode(bytes: bytes, format: format, path: path)
            note(warnings)
            return image
        case .gif:
            let source = try GIFAnimation(bytes: bytes, path: path, limits: limits)
            guard try source.advance() != nil else {
                throw MediaError(.corrupt, path: path, function: "gif", message: "no image in the GIF")
            }
            note(source.warnings)
            return try source.currentImage(outputSize: nil)
        case .ico:
            // The largest size, as Pillow opens it; else what FFmpeg decodes of the file.
            if let image = try decodeLargestICOEntry() { return image }
            fallthrough
        case .tiff, .other:
            if case .ffmpeg(_, nil, _, _) = content, let cover = attachedPictures.first,
                let image = try decodeAttached(cover)
            {
                // Audio with cover art: the cover is the picture a player shows.
                return image
            }
            let source = try ffmpegFrameSource(threads: 1, keyframesOnly: false)
            guard try source.advance() != nil else {
                throw MediaError(
                    .corrupt, path: path, function: "avcodec_receive_frame",
                    message: "no decodable frame (\(source.corruptPackets) corrupt packets)")
            }
            return try source.currentImage(outputSize: nil)
        }
    }

    /// The orientation a still's own metadata gives where the demuxer ignores it (a TIFF's EXIF
    /// tag; an APNG's `eXIf`), applied to every frame as `exif_transpose` would.
    private var stillOrientation: ImageOrientation {
        let (bytes, format) = content.bytesAndFormat
        return Self.stillOrientation(bytes: bytes, format: format)
    }

    private static func stillOrientation(bytes: [UInt8], format: SniffedFormat) -> ImageOrientation {
        switch format {
        case .tiff, .png(animated: true):
            return bytes.withUnsafeBytes { EXIFOrientation.read(from: $0, format: format) }
        case .other: return bytes.withUnsafeBytes { AVIFTransform.orientation($0) } ?? .up
        default: return .up
        }
    }

    /// Pictures a viewer can see besides the sampled frames: an APNG's default image when it is
    /// not part of the animation (non-APNG viewers show it, APNG viewers do not), cover art
    /// (attached pictures of audio and video files), an MPO's further images, an ICO's other sizes
    /// and a TIFF's further pages. Each is decoded as the still it is; one in a format this build
    /// does not decode is reported as a ``MediaWarning/skipped(_:)`` warning.
    public func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        let (bytes, format) = content.bytesAndFormat
        var pictures: [(name: String, image: RGBImage)] = []
        if format == .png(animated: true),
            bytes.withUnsafeBytes({ PNGChunks($0).defaultImageOutsideAnimation })
        {
            let (image, warnings) = try ImageDecoder(limits: limits).decode(bytes: bytes, format: format, path: path)
            note(warnings)
            pictures.append(("default_image", image))
        }
        for (index, picture) in attachedPictures.enumerated() where !(info.kind == .image && index == 0) {
            if let image = try decodeAttached(picture) { pictures.append(("attached_picture", image)) }
        }
        if let ico, let main = ico.largest {
            let others = ico.entries.filter { $0.range != main.range }
            try decodeCapped(others, name: "ico_image", noun: "ICO sizes", into: &pictures) {
                (entry) throws(MediaError) in
                try decodeICOEntry(entry, bytes: bytes)
            }
        }
        if format == .tiff {
            let pages = bytes.withUnsafeBytes { TIFFPages($0) }
            try decodeCapped(Array(pages.offsets.dropFirst()), name: "tiff_page", noun: "TIFF pages", into: &pictures) {
                (offset) throws(MediaError) in
                do throws(MediaError) {
                    return try pages.decode(page: offset, of: bytes, limits: limits, path: path)
                } catch  where error.kind != .tooLarge {
                    note([.skipped("a TIFF page FFmpeg cannot decode (\(error.message))")])
                    return nil
                }
            }
        }
        if format == .jpeg {
            let images = bytes.withUnsafeBytes { MPOIndex.additionalImages($0) }
            try decodeCapped(images, name: "mpo_image", noun: "MPO images", into: &pictures) {
                (range) throws(MediaError) in
                let (image, warnings) = try ImageDecoder(limits: limits).decode(
                    bytes: Array(bytes[range]), format: .jpeg, path: path)
                note(warnings)
                return image
            }
        }
        return pictures
    }

    /// Appends the images `decode` gives for the first ``maxOtherPictures`` of `items` as pictures
    /// named `name`, and reports the rest as skipped.
    private func decodeCapped<Item>(
        _ items: [Item], name: String, noun: String, into pictures: inout [(name: String, image: RGBImage)],
        _ decode: (Item) throws(MediaError) -> RGBImage?
    ) throws(MediaError) {
        for item in items.prefix(Self.maxOtherPictures) {
            if let image = try decode(item) { pictures.append((name, image)) }
        }
        if items.count > Self.maxOtherPictures {
            note([
                .skipped("\(items.count - Self.maxOtherPictures) more \(noun) past the cap of \(Self.maxOtherPictures)")
            ])
        }
    }

    /// One ICO size: a PNG through the PNG decoder, a BMP DIB as Pillow reads it; nil with a
    /// warning for what this build does not decode.
    private func decodeICOEntry(_ entry: ICODirectory.Entry, bytes: [UInt8]) throws(MediaError) -> RGBImage? {
        let data = Array(bytes[entry.range])
        if case .png = data.withUnsafeBytes({ SniffedFormat($0) }) {
            let (image, warnings) = try ImageDecoder(limits: limits).decode(
                bytes: data, format: .png(animated: false), path: path)
            note(warnings)
            return image
        }
        let limits = self.limits
        if let image = try withRawBytes(
            data, { (raw) throws(MediaError) in try ICODirectory.dibImage(raw, limits: limits, path: path) })
        {
            return image
        }
        note([.skipped("an ICO size (\(entry.width)x\(entry.height)) in a format this build does not decode")])
        return nil
    }

    /// At most this many images of a multi-image still are scanned besides its first.
    public static let maxOtherPictures = 16

    /// The attached pictures' bytes (cover art), in stream order.
    private var attachedPictures: [[UInt8]] {
        guard case .ffmpeg(let input, _, _, _) = content else { return [] }
        return input.streams.filter { $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 }.compactMap {
            let packet = $0.pointee.attached_pic
            guard let data = packet.data, packet.size > 0 else { return nil }
            return Array(UnsafeBufferPointer(start: data, count: Int(packet.size)))
        }
    }

    /// An attached picture decoded like a still file (PNG, JPEG, WebP), or nil with a warning.
    private func decodeAttached(_ bytes: [UInt8]) throws(MediaError) -> RGBImage? {
        let format = bytes.withUnsafeBytes { SniffedFormat($0) }
        switch format {
        case .png, .jpeg, .webp:
            let (image, warnings) = try ImageDecoder(limits: limits).decode(bytes: bytes, format: format, path: path)
            note(warnings)
            return image
        default:
            note([.skipped("an attached picture in a format this build does not decode")])
            return nil
        }
    }

    /// How many picture streams a viewer could pick (1 for stills and single-stream files; cover art
    /// is not counted, see ``otherPictures()``).
    public var videoStreamCount: Int { max(pictureStreams.count, 1) }

    /// The picture streams: the default one first, then the others in file order.
    private var pictureStreams: [UnsafeMutablePointer<AVStream>] {
        guard case .ffmpeg(let input, let best?, _, let format) = content else { return [] }
        // An ICO's sizes are one picture each (``otherPictures()``), not streams to sample.
        guard format != .ico else { return [best] }
        return [best]
            + input.streams.filter {
                $0 != best && $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
                    && $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
            }
    }

    /// A decoder of picture stream `stream` (0: the default one) positioned at its start. Each call
    /// starts over (FFmpeg's input is rewound, not reopened), so one pass must be finished before
    /// the next begins.
    func frameSource(threads: Int, keyframesOnly: Bool, stream index: Int = 0) throws(MediaError) -> any FrameSource {
        switch content {
        case .bytes(let bytes, .webp):
            return try WebPAnimation(bytes: bytes, path: path, limits: limits)
        case .bytes(let bytes, let format):
            let (image, warnings) = try ImageDecoder(limits: limits).decode(bytes: bytes, format: format, path: path)
            note(warnings)
            return StillImageSource(image: image, path: path)
        case .ffmpeg(_, _, let bytes, .gif):
            return try GIFAnimation(bytes: bytes, path: path, limits: limits, keyframesOnly: keyframesOnly)
        case .ffmpeg(let input, let best, _, let format):
            if format == .ico, let image = try decodeLargestICOEntry() {
                return StillImageSource(image: image, path: path)
            }
            guard best != nil else {
                if info.kind == .image { return StillImageSource(image: try decodeImage(), path: path) }
                throw Self.noVideo(input, path: path)
            }
            return try ffmpegFrameSource(threads: threads, keyframesOnly: keyframesOnly, stream: index)
        }
    }

    /// FFmpeg's decoder of picture stream `index`, rewound to its start.
    private func ffmpegFrameSource(threads: Int, keyframesOnly: Bool, stream index: Int = 0) throws(MediaError)
        -> FFmpegVideoSource
    {
        guard case .ffmpeg(let input, _?, _, _) = content else {
            throw MediaError(
                .noVideoStream, path: path, function: "av_find_best_stream", message: "no picture stream to decode")
        }
        try input.rewind()
        let source = try FFmpegVideoSource(
            input: input, stream: pictureStreams[index], limits: limits, threads: keyframesOnly ? 1 : threads,
            keyframesOnly: keyframesOnly)
        source.stillOrientation = stillOrientation
        source.appliesAspectRatio = info.kind == .video
        return source
    }

    /// An ICO's largest size, decoded by the engine; nil (with a warning) when it is in a format
    /// this build does not decode, so that FFmpeg's own decode is used instead.
    private func decodeLargestICOEntry() throws(MediaError) -> RGBImage? {
        let (bytes, _) = content.bytesAndFormat
        guard let main = ico?.largest else { return nil }
        return try decodeICOEntry(main, bytes: bytes)
    }

    private func note(_ new: [MediaWarning]) {
        for warning in new where !warnings.contains(warning) { warnings.append(warning) }
    }

    /// The first timestamp of picture stream `index`, the origin of sampling grids.
    func startSeconds(stream index: Int = 0) -> Double {
        let streams = pictureStreams
        guard index < streams.count else { return 0 }
        return FFmpegVideoSource.startSeconds(of: streams[index])
    }

    /// The stream's end from the container's duration, before anything is decoded; nil when unknown
    /// (WebP and stills learn it by decoding).
    func containerEnd(stream index: Int = 0) -> Double? {
        guard case .ffmpeg(let input, _?, _, _) = content, let duration = input.durationSeconds else { return nil }
        return roundedToMilliseconds(startSeconds(stream: index) + duration)
    }

    /// Keyframes of picture stream `index`, counted by demuxing only (no decoding); nil when unknown.
    func countKeyframes(stream index: Int = 0) throws(MediaError) -> Int? {
        switch content {
        case .bytes(_, .webp): return info.frameCount
        case .bytes: return 1
        case .ffmpeg(let input, _, _, _):
            let streams = pictureStreams
            guard index < streams.count else { return nil }
            return try input.countPackets(of: streams[index], keyframesOnly: true)
        }
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

    private static func noVideo(_ input: InputContext, path: String) -> MediaError {
        let audio = input.streams.contains { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }
        return MediaError(
            .noVideoStream, path: path, function: "av_find_best_stream",
            message: audio ? "audio-only file: there is no picture to moderate" : "no video stream")
    }

    // MARK: Describing

    private static func describe(bytes: [UInt8], format: SniffedFormat, path: String, limits: MediaLimits)
        throws(MediaError) -> MediaInfo
    {
        try withRawBytes(bytes) { (raw) throws(MediaError) -> MediaInfo in
            let orientation = EXIFOrientation.read(from: raw, format: format)
            let decoder = ImageDecoder(limits: limits)
            switch format {
            case .png:
                return MediaInfo(
                    image: ImageHeader(size: try decoder.pngSize(raw, path: path), orientation: orientation),
                    path: path, container: "png", codec: "png")
            case .jpeg:
                return MediaInfo(
                    image: ImageHeader(size: try decoder.jpegInfo(raw, path: path).size, orientation: orientation),
                    path: path, container: "jpeg", codec: "mjpeg")
            default:
                let animation = try WebPAnimation(raw, path: path, limits: limits)
                var info = MediaInfo(
                    image: ImageHeader(size: animation.canvas, orientation: orientation), path: path,
                    container: "webp", codec: "webp")
                if animation.frameCount > 1 {
                    info.kind = .animation
                    info.frameCount = animation.frameCount
                    info.durationSeconds = animation.duration
                }
                return info
            }
        }
    }

    /// What FFmpeg says the file is; an animation's frames are counted from its packets when
    /// `countsPackets` (GIF and APNG do not state their frame count).
    private static func describe(
        _ input: InputContext, stream: UnsafeMutablePointer<AVStream>?, path: String, countsPackets: Bool
    ) throws(MediaError) -> MediaInfo {
        guard let stream else {
            let audio = input.streams.filter { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }.count
            if let cover = input.streams.first(where: { $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 }) {
                // Audio with cover art is a picture a player shows.
                var info = MediaProbe.describe(input, stream: cover, path: path)
                info.kind = .image
                info.frameCount = 1
                info.audioStreams = audio
                return info
            }
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
        var info = MediaProbe.describe(input, stream: stream, path: path)
        guard let width = info.width, let height = info.height, width > 0, height > 0 else {
            throw MediaError(
                .corrupt, path: path, function: "avformat_find_stream_info",
                message: "the picture size cannot be determined")
        }
        if info.kind == .animation && countsPackets {
            // Counting packets is cheap: no decoding.
            info.frameCount = try input.countPackets(of: stream, keyframesOnly: false)
            if info.frameCount == 1 { info.kind = .image }
        }
        return info
    }
}
