import GuardrailCore

/// Which frames of a video the engine looks at.
public enum SamplingStrategy: Sendable, Hashable {
    /// The first frame at or after each multiple of `seconds` from the stream start.
    case every(seconds: Double)
    /// Keyframes only; other packets never reach the decoder, so cost scales with the keyframes.
    case keyframes
    /// One frame per shot (cut detection by colour-histogram distance).
    case shots(ShotDetection)
}

/// Sampling settings shared by every strategy.
public struct SamplingOptions: Sendable, Hashable {
    /// Which frames to take.
    public var strategy: SamplingStrategy
    /// At most this many frames; extra candidates are thinned evenly (SafeWatch §6.1). nil: no cap.
    public var maxFrames: Int?
    /// Ignore everything after this many seconds from the stream start. nil: the whole stream.
    public var maxDuration: Double?
    /// Scale every frame to this final (displayed) size; nil keeps the display size.
    public var outputSize: FrameSize?
    /// FFmpeg decoder threads (keyframe sampling always uses one: it is faster there).
    public var decoderThreads: Int

    /// Creates options; the defaults are one frame per second, at most 64 frames.
    public init(
        strategy: SamplingStrategy = .every(seconds: 1), maxFrames: Int? = 64, maxDuration: Double? = nil,
        outputSize: FrameSize? = nil, decoderThreads: Int = 2
    ) {
        if case .every(let seconds) = strategy { precondition(seconds > 0, "sampling interval must be positive") }
        precondition((maxFrames ?? 1) > 0 && (maxDuration ?? 1) > 0 && decoderThreads > 0, "invalid sampling options")
        self.strategy = strategy
        self.maxFrames = maxFrames
        self.maxDuration = maxDuration
        self.outputSize = outputSize
        self.decoderThreads = decoderThreads
    }
}

/// A frame the sampler selected.
public struct SampledFrame: Sendable {
    /// 0-based position among the sampled frames.
    public var index: Int
    /// Presentation time in seconds (`pts × time_base`, millisecond precision).
    public var timestamp: Double
    /// The span of the video this frame stands for: up to the next sampled frame (or the stream
    /// end), or its shot in shot sampling.
    public var interval: ClosedRange<Double>
    /// True when the decoder marked the frame as a keyframe.
    public var isKeyframe: Bool
    /// The frame, display orientation and aspect ratio applied.
    public var image: RGBImage
}

/// Streams the sampled frames of a video (or animated image) with memory bounded by a few frames,
/// whatever the video's length.
public final class VideoSampler {
    /// What the file is.
    public let info: MediaInfo
    private let options: SamplingOptions
    private let source: any FrameSource
    private var targets: TargetPlan
    private var pending: SampledFrame?
    private var produced = 0
    private var exhausted = false
    private var keyframeOrdinal = -1
    private var reportedEmpty = false

    /// Opens `path` for sampling. Throws for files without a decodable video stream.
    public convenience init(path: String, options: SamplingOptions = SamplingOptions(), limits: MediaLimits = .default)
        throws(MediaError)
    {
        try self.init(source: MediaSource(path: path, limits: limits), options: options)
    }

    /// Samples picture stream `stream` (0: the default one; see ``MediaSource/videoStreamCount``) of
    /// an opened source; the sampler takes it over (a source serves one pass at a time). Counting
    /// keyframes and finding shots are passes of their own over the same opened input, before the
    /// sampling pass. Throws for files without a decodable video stream.
    public init(source media: MediaSource, options: SamplingOptions = SamplingOptions(), stream: Int = 0)
        throws(MediaError)
    {
        precondition(stream >= 0 && stream < media.videoStreamCount, "no picture stream \(stream)")
        self.options = options
        info = media.info
        let start = media.startSeconds(stream: stream)
        let end = media.containerEnd(stream: stream).map { min($0, start + (options.maxDuration ?? .infinity)) }
        switch options.strategy {
        case .every(let seconds):
            targets = .every(TargetPlan.grid(start: start, end: end, step: seconds, maxFrames: options.maxFrames))
        case .keyframes:
            let count = try media.countKeyframes(stream: stream)
            targets = .keyframes(
                selected: count.flatMap { TargetPlan.thinned(count: $0, maxFrames: options.maxFrames) }.map(Set.init))
        case .shots(let detection):
            let shots = try ShotDetector(detection: detection).shots(media, stream: stream, start: start, end: end)
            targets = .shots(TargetPlan.thin(shots, maxFrames: options.maxFrames)[...])
        }
        source = try media.frameSource(
            threads: options.decoderThreads, keyframesOnly: options.strategy == .keyframes, stream: stream)
        self.end = end
        self.start = start
    }

    private let start: Double
    private let end: Double?

    /// Frames that failed to decode and were skipped.
    public var corruptFrames: Int { source.corruptPackets }

    /// Damage met in the frames decoded so far (`truncated`, `damaged: …`); the frames are still
    /// sampled as far as they decode.
    public var warnings: [MediaWarning] { source.warnings }

    /// Frames decoded so far, including those decoded only to reach a sampled one.
    public var decodedFrames: Int { source.decodedFrames }

    /// The next sampled frame, or nil when sampling is complete.
    public func next() throws(MediaError) -> SampledFrame? {
        while !exhausted {
            guard let frame = try pull() else {
                exhausted = true
                break
            }
            defer { pending = frame }
            if var previous = pending {
                if previous.interval.upperBound == previous.interval.lowerBound {
                    previous.interval =
                        previous.interval.lowerBound...max(previous.interval.lowerBound, frame.timestamp)
                }
                return previous
            }
        }
        guard var last = pending else {
            if produced == 0 && !reportedEmpty {
                reportedEmpty = true
                throw MediaError(
                    .corrupt, path: info.path, function: "avcodec_receive_frame",
                    message: "no frame could be decoded (\(source.corruptPackets) corrupt packets or frames)")
            }
            return nil
        }
        pending = nil
        // The stream end may only be known now that decoding reached it.
        let streamEnd = source.endTime.map { min($0, start + (options.maxDuration ?? .infinity)) } ?? end
        if last.interval.upperBound == last.interval.lowerBound, let streamEnd, streamEnd > last.timestamp {
            last.interval = last.timestamp...streamEnd
        }
        return last
    }

    /// All sampled frames; for short clips and tools. Long videos should use ``next()``.
    public func collect() throws(MediaError) -> [SampledFrame] {
        var frames: [SampledFrame] = []
        while let frame = try next() { frames.append(frame) }
        return frames
    }

    /// The next selected frame, with its interval still open unless the plan fixes it.
    private func pull() throws(MediaError) -> SampledFrame? {
        if let maxFrames = options.maxFrames, produced >= maxFrames { return nil }
        switch targets {
        case .every(var grid):
            guard let target = grid.next() else { return nil }
            guard let stamp = try advance(toAtLeast: target) else { return nil }
            // Skip grid points this frame already covers (gaps in variable-rate video).
            grid.skip(through: stamp.timestamp)
            targets = .every(grid)
            return try emit(stamp, interval: nil)
        case .keyframes(let selected):
            while let stamp = try source.advance() {
                if beyondEnd(stamp) { return nil }
                keyframeOrdinal += 1
                if selected?.contains(keyframeOrdinal) ?? true { return try emit(stamp, interval: nil) }
            }
            return nil
        case .shots(var shots):
            guard let shot = shots.popFirst() else { return nil }
            targets = .shots(shots)
            guard let stamp = try advance(toAtLeast: shot.frameTime) else { return nil }
            return try emit(stamp, interval: shot.start...shot.end)
        }
    }

    private func beyondEnd(_ stamp: FrameStamp) -> Bool {
        guard let maxDuration = options.maxDuration else { return false }
        return stamp.timestamp > start + maxDuration + 0.0005
    }

    /// Decodes up to the first frame whose timestamp is at or after `target`.
    private func advance(toAtLeast target: Double) throws(MediaError) -> FrameStamp? {
        try source.prepare(forTarget: target)
        while let stamp = try source.advance() {
            if beyondEnd(stamp) { return nil }
            if stamp.timestamp >= target - 0.0005 { return stamp }
        }
        return nil
    }

    private func emit(_ stamp: FrameStamp, interval: ClosedRange<Double>?) throws(MediaError) -> SampledFrame {
        let image = try source.currentImage(outputSize: options.outputSize)
        defer { produced += 1 }
        return SampledFrame(
            index: produced, timestamp: stamp.timestamp, interval: interval ?? stamp.timestamp...stamp.timestamp,
            isKeyframe: stamp.isKeyframe, image: image)
    }
}

/// The frames still to take.
enum TargetPlan {
    case every(Grid)
    case keyframes(selected: Set<Int>?)
    case shots(ArraySlice<Shot>)

    /// Target times `start + k·step` (up to `count` of them when the end is known), or the ones
    /// `times` lists when thinned to `maxFrames`. Nothing here grows with the stated duration, which
    /// a damaged file can claim to be a billion seconds.
    struct Grid {
        var times: [Double]?
        var position = 0
        let start: Double
        let step: Double
        var count: Int?

        mutating func next() -> Double? {
            defer { position += 1 }
            return peek()
        }

        func peek() -> Double? {
            if let times { return position < times.count ? times[position] : nil }
            if let count, position >= count { return nil }
            return start + Double(position) * step
        }

        /// Passes over the targets at or before `time` (a frame that covers them), in O(1) for a
        /// plain grid however far a timestamp jumps.
        mutating func skip(through time: Double) {
            if times == nil, time.isFinite, time > start {
                position = max(position, Int(min((time - start) / step, Double(Int.max / 2))))
            }
            while let upcoming = peek(), upcoming <= time { position += 1 }
        }
    }

    static func grid(start: Double, end: Double?, step: Double, maxFrames: Int?) -> Grid {
        guard let end else { return Grid(times: nil, start: start, step: step) }
        let span = ((end - start) / step).rounded(.up)
        let count = max(1, span.isFinite ? Int(min(span, Double(Int.max / 2))) : 1)
        guard let keep = thinned(count: count, maxFrames: maxFrames) else {
            return Grid(times: nil, start: start, step: step, count: count)
        }
        return Grid(times: keep.map { start + Double($0) * step }, start: start, step: step)
    }

    /// Candidate ordinals kept, ascending: `floor((i + 0.5) · N / F)` for `i < F` when there are more
    /// than `F = maxFrames` (SafeWatch §6.1); nil for all of them.
    static func thinned(count: Int, maxFrames: Int?) -> [Int]? {
        guard let maxFrames, count > maxFrames else { return nil }
        return (0..<maxFrames).map { Int((Double($0) + 0.5) * Double(count) / Double(maxFrames)) }
    }

    static func thin(_ shots: [Shot], maxFrames: Int?) -> [Shot] {
        thinned(count: shots.count, maxFrames: maxFrames).map { $0.map { shots[$0] } } ?? shots
    }
}
