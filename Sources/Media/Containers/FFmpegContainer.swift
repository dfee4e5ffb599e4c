import CFFmpeg
import CGuardrailShims
import GuardrailCore

/// Everything FFmpeg demuxes from one input context: videos, APNG, AVIF, BMP and audio with cover
/// art; ``GIFContainer``, ``TIFFContainer`` and ``ICOContainer`` refine it. `bytes` holds the
/// file's head, or the whole file where a still's metadata may lie anywhere.
class FFmpegContainer: Container {
    private(set) var info: MediaInfo
    let input: InputContext
    /// The default picture stream (nil for audio, with or without cover art).
    let best: UnsafeMutablePointer<AVStream>?
    let bytes: [UInt8]
    let format: SniffedFormat
    let context: ContainerContext

    init(input: InputContext, bytes: [UInt8], format: SniffedFormat, context: ContainerContext) throws(MediaError) {
        (self.input, self.bytes, self.format, self.context) = (input, bytes, format, context)
        best = input.bestVideoStream()
        info = try Self.describe(input, stream: best, path: context.path, countsPackets: format != .gif)
        info = info.oriented(by: orientation)
    }

    /// Lets a family correct what FFmpeg describes (a GIF's frame count, an ICO's size).
    func adjustInfo(_ change: (inout MediaInfo) throws(MediaError) -> Void) throws(MediaError) {
        try change(&info)
    }

    /// The orientation the file's own metadata gives where the demuxer ignores it (an APNG's `eXIf`,
    /// an AVIF's `irot`/`imir`), applied to every frame as `exif_transpose` would.
    var orientation: ImageOrientation {
        switch format {
        case .png(animated: true): return bytes.withUnsafeBytes { EXIFOrientation.read(from: $0, format: format) }
        case .other: return bytes.withUnsafeBytes { AVIFTransform.orientation($0) } ?? .up
        default: return .up
        }
    }

    var pictureStreamCount: Int { max(pictureStreams.count, 1) }

    /// The picture streams: the default one first, then the others in file order.
    var pictureStreams: [UnsafeMutablePointer<AVStream>] {
        guard let best else { return [] }
        return [best]
            + input.streams.filter {
                $0 != best && $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
                    && $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
            }
    }

    func decodeImage() throws(MediaError) -> RGBImage {
        if best == nil, let cover = attachedPictures.first, let image = try decodeAttached(cover) {
            // Audio with cover art: the cover is the picture a player shows.
            return image
        }
        let source = try ffmpegFrameSource(threads: 1, keyframesOnly: false)
        guard try source.advance() != nil else {
            throw MediaError(
                .corrupt, path: context.path, function: "avcodec_receive_frame",
                message: "no decodable frame (\(source.corruptPackets) corrupt packets)")
        }
        return try source.currentImage(outputSize: nil)
    }

    /// An APNG's default image when it is not part of the animation (non-APNG viewers show it),
    /// then cover art (attached pictures; for audio the first is the image itself).
    func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        var pictures: [(name: String, image: RGBImage)] = []
        if format == .png(animated: true), bytes.withUnsafeBytes({ PNGChunks($0).defaultImageOutsideAnimation }) {
            pictures.append(("default_image", try context.decodeStill(bytes, format: format)))
        }
        for (index, picture) in attachedPictures.enumerated() where !(info.kind == .image && index == 0) {
            if let image = try decodeAttached(picture) { pictures.append(("attached_picture", image)) }
        }
        return pictures
    }

    func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource {
        guard best != nil else {
            if info.kind == .image { return StillImageSource(image: try decodeImage(), path: context.path) }
            throw noVideo
        }
        return try ffmpegFrameSource(threads: threads, keyframesOnly: keyframesOnly, stream: stream)
    }

    /// FFmpeg's decoder of picture stream `index`, rewound to its start.
    func ffmpegFrameSource(threads: Int, keyframesOnly: Bool, stream index: Int = 0) throws(MediaError)
        -> FFmpegVideoSource
    {
        guard best != nil else {
            throw MediaError(
                .noVideoStream, path: context.path, function: "av_find_best_stream",
                message: "no picture stream to decode")
        }
        try input.rewind()
        let source = try FFmpegVideoSource(
            input: input, stream: pictureStreams[index], limits: context.limits, threads: keyframesOnly ? 1 : threads,
            keyframesOnly: keyframesOnly)
        source.stillOrientation = orientation
        source.appliesAspectRatio = info.kind == .video
        return source
    }

    func countKeyframes(stream index: Int) throws(MediaError) -> Int? {
        let streams = pictureStreams
        guard index < streams.count else { return nil }
        return try input.countPackets(of: streams[index], keyframesOnly: true)
    }

    func startSeconds(stream index: Int) -> Double {
        let streams = pictureStreams
        guard index < streams.count else { return 0 }
        return FFmpegVideoSource.startSeconds(of: streams[index])
    }

    func containerEnd(stream index: Int) -> Double? {
        guard best != nil, let duration = input.durationSeconds else { return nil }
        return roundedToMilliseconds(startSeconds(stream: index) + duration)
    }

    /// The attached pictures' bytes (cover art), in stream order.
    private var attachedPictures: [[UInt8]] {
        input.streams.filter { $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 }.compactMap {
            let packet = $0.pointee.attached_pic
            guard let data = packet.data, packet.size > 0 else { return nil }
            return Array(UnsafeBufferPointer(start: data, count: Int(packet.size)))
        }
    }

    /// An attached picture decoded like a still file (PNG, JPEG, WebP), or nil with a warning.
    private func decodeAttached(_ bytes: [UInt8]) throws(MediaError) -> RGBImage? {
        let format = bytes.withUnsafeBytes { SniffedFormat($0) }
        switch format {
        case .png, .jpeg, .webp: return try context.decodeStill(bytes, format: format)
        default:
            context.log.note([.skipped("an attached picture in a format this build does not decode")])
            return nil
        }
    }

    private var noVideo: MediaError {
        let audio = input.streams.contains { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }
        return MediaError(
            .noVideoStream, path: context.path, function: "av_find_best_stream",
            message: audio ? "audio-only file: there is no picture to moderate" : "no video stream")
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
