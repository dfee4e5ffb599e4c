import GuardrailCore
import Media

/// A sampled frame's place in the media: what the report lists under `frames_sampled`.
public struct FrameInfo: Sendable, Hashable, Encodable {
    public var index: Int
    public var timestamp: Double
    public var interval: [Double]
    /// For a picture that is not a frame of the sampled stream: `default_image` (an APNG's),
    /// `attached_picture` (cover art), `mpo_image` (an MPO's further images), `ico_image` (an ICO's
    /// other sizes), `tiff_page` (a TIFF's further pages) or `video_stream_N` (a frame of picture
    /// stream N besides the default one). Absent for the default stream's frames.
    public var source: String?

    enum CodingKeys: String, CodingKey {
        case index, interval, source
        case timestamp = "timestamp_s"
    }
}

/// What was read from a file, besides the frames handed to the caller.
struct FrameWalk {
    var kind: MediaInfo.Kind
    var duration: Double?
    var frames: [FrameInfo] = []
    var skipped = 0
    var stoppedEarly = false
    /// What the decoders read past (``MediaWarning``).
    var warnings: [MediaWarning] = []

    /// The report's media section for `path`.
    func section(path: String) -> MediaSection {
        MediaSection(
            path: path, kind: kind.rawValue, durationSeconds: duration, framesSampled: frames, framesSkipped: skipped,
            earlyExit: stoppedEarly, warnings: warnings.map(\.description))
    }
}

/// Decodes an image (one frame) or samples a video, handing frames to `body` in batches of at most
/// `batch`; `body` returns true to stop early. Memory stays bounded by one batch of frames.
///
/// Video frames larger than `2 × shortestSide` on their short side are scaled by swscale to that
/// size while converting (cheaper than converting full HD and resampling it afterwards); the
/// model's own Pillow-exact resize then works from there. Still images keep their full resolution.
/// `body` gets the displayed frame size when frames were scaled (nil otherwise), so that positions
/// in the scaled frames can be mapped back to the frame a viewer sees.
func walkFrames(
    _ source: MediaSource, sampling: SamplingOptions, batch: Int, shortestSide: Int,
    _ body: ([FrameInfo], [RGBImage], FrameSize?) throws -> Bool
) throws -> FrameWalk {
    let info = source.info
    var walk = FrameWalk(kind: info.kind, duration: info.durationSeconds)
    // Pictures a viewer could see besides the stream's frames, scanned as frames of their own.
    func others(from index: Int) throws -> ([FrameInfo], [RGBImage]) {
        let pictures = try source.otherPictures()
        let frames = pictures.enumerated().map {
            FrameInfo(index: index + $0.offset, timestamp: 0, interval: [0, 0], source: $0.element.name)
        }
        return (frames, pictures.map(\.image))
    }
    if info.kind == .image {
        let image = try source.decodeImage()
        let (extraFrames, extraImages) = try others(from: 1)
        let frames = [FrameInfo(index: 0, timestamp: 0, interval: [0, 0])] + extraFrames
        walk.frames = frames
        walk.warnings = source.warnings
        _ = try body(frames, [image] + extraImages, nil)
        return walk
    }
    var options = sampling
    var displayed: FrameSize?
    if options.outputSize == nil, let w = info.displayWidth, let h = info.displayHeight, min(w, h) > 2 * shortestSide {
        displayed = FrameSize(width: w, height: h)
        let scale = Double(2 * shortestSide) / Double(min(w, h))
        options.outputSize = FrameSize(
            width: max(1, Int((Double(w) * scale).rounded())), height: max(1, Int((Double(h) * scale).rounded())))
    }
    var pendingInfo: [FrameInfo] = []
    var sampled: [MediaWarning] = []
    var pendingImages: [RGBImage] = []
    var pendingDisplayed: FrameSize?
    func flush() throws -> Bool {
        guard !pendingInfo.isEmpty else { return false }
        defer {
            pendingInfo.removeAll(keepingCapacity: true)
            pendingImages.removeAll(keepingCapacity: true)
        }
        return try body(pendingInfo, pendingImages, pendingDisplayed)
    }
    /// Samples picture stream `stream` into batches; true when `body` asked to stop.
    func sample(stream: Int) throws -> Bool {
        // The default stream's frames are scaled while decoding (`options`); another stream, whose
        // size the probe does not give, is taken at its own size.
        let sampler = try VideoSampler(source: source, options: stream == 0 ? options : sampling, stream: stream)
        pendingDisplayed = stream == 0 ? displayed : nil
        defer {
            walk.skipped += sampler.corruptFrames
            sampled += sampler.warnings.filter { !sampled.contains($0) }
        }
        while let frame = try sampler.next() {
            let info = FrameInfo(
                index: walk.frames.count, timestamp: frame.timestamp,
                interval: [frame.interval.lowerBound, frame.interval.upperBound],
                source: stream == 0 ? nil : "video_stream_\(stream)")
            walk.frames.append(info)
            pendingInfo.append(info)
            pendingImages.append(frame.image)
            if pendingInfo.count == batch, try flush() { return true }
        }
        return try flush()
    }
    // Every picture stream a viewer could pick, the default one first.
    for stream in 0..<source.videoStreamCount where !walk.stoppedEarly {
        walk.stoppedEarly = try sample(stream: stream)
    }
    if !walk.stoppedEarly {
        let (extraFrames, extraImages) = try others(from: walk.frames.count)
        walk.frames += extraFrames
        if !extraFrames.isEmpty, try body(extraFrames, extraImages, nil) { walk.stoppedEarly = true }
    }
    walk.warnings = source.warnings + sampled.filter { !source.warnings.contains($0) }
    return walk
}

/// A file's frames, decoded and sampled exactly as a scan samples them, kept so that several
/// classifiers (and perturbations of the same frames) can use one decode.
public struct DecodedMedia: Sendable {
    public var frames: [FrameInfo]
    public var images: [RGBImage]
    /// Per frame, the displayed size of a frame scaled while decoding (nil when not scaled).
    public var displayed: [FrameSize?]
    /// What the report says of the media.
    public var media: MediaSection

    /// Decodes `source` as ``walkFrames`` does for a model whose resize targets `shortestSide`.
    public init(_ source: MediaSource, sampling: SamplingOptions, shortestSide: Int) throws(EngineError) {
        do {
            var frames: [FrameInfo] = []
            var images: [RGBImage] = []
            var displayed: [FrameSize?] = []
            let walk = try walkFrames(source, sampling: sampling, batch: 64, shortestSide: shortestSide) {
                batch, batchImages, size in
                frames += batch
                images += batchImages
                displayed += Array(repeating: size, count: batch.count)
                return false
            }
            (self.frames, self.images, self.displayed) = (frames, images, displayed)
            media = walk.section(path: source.path)
        } catch {
            throw EngineError(wrapping: error, file: source.path)
        }
    }

    /// The same frames with every picture replaced by `transform`'s result (a perturbation).
    public func mapImages(_ transform: (RGBImage) throws -> RGBImage) rethrows -> DecodedMedia {
        var copy = self
        copy.images = try images.map(transform)
        return copy
    }
}
