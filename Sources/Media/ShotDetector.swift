import GuardrailCore

/// Cut detection settings (SafeWatch §6.1, a model-free stand-in for TransNetV2).
public struct ShotDetection: Sendable, Hashable {
    /// Frames per second scanned for cuts.
    public var scanRate: Double
    /// A cut is declared where the L1 distance of consecutive normalised histograms exceeds this (range 0…2).
    public var threshold: Double
    /// Shots longer than this are split into equal parts.
    public var maxShotSeconds: Double

    /// The specification's defaults: 5 fps, 0.6, 10 s.
    public init(scanRate: Double = 5, threshold: Double = 0.6, maxShotSeconds: Double = 10) {
        precondition(scanRate > 0 && threshold > 0 && maxShotSeconds > 0, "invalid shot detection settings")
        self.scanRate = scanRate
        self.threshold = threshold
        self.maxShotSeconds = maxShotSeconds
    }
}

/// A shot: the interval it covers and the time of the frame that represents it.
struct Shot: Hashable {
    var start: Double
    var end: Double
    var frameTime: Double
}

/// Finds shots in a first pass that keeps only timestamps and one histogram, so memory stays
/// bounded; the sampler then decodes the chosen frames in a second pass.
struct ShotDetector {
    let detection: ShotDetection
    /// Frames are reduced to this size before their histogram is taken.
    static let thumbnail = FrameSize(width: 64, height: 64)

    func shots(_ media: MediaSource, stream: Int, start: Double, end: Double?) throws(MediaError) -> [Shot] {
        let source = try media.frameSource(threads: 2, keyframesOnly: false, stream: stream)
        let path = media.path
        let step = 1 / detection.scanRate
        var next = start
        var scanned: [Double] = []
        var cuts: [Double] = []
        var previous: [Float]?
        var last = start
        while let stamp = try source.advance() {
            if let end, stamp.timestamp > end { break }
            last = stamp.timestamp
            guard stamp.timestamp >= next - 0.0005 else { continue }
            // Step past this frame; a damaged timestamp far ahead is jumped to, not walked to.
            if stamp.timestamp - next > 10_000 * step {
                next += ((stamp.timestamp - next) / step).rounded(.down) * step
            }
            while next <= stamp.timestamp + 0.0005 { next += step }
            let histogram = Self.histogram(try source.currentImage(outputSize: Self.thumbnail))
            if let previous, !scanned.isEmpty, Self.distance(previous, histogram) > detection.threshold {
                cuts.append(stamp.timestamp)
            }
            previous = histogram
            scanned.append(stamp.timestamp)
        }
        guard let first = scanned.first else {
            throw MediaError(.corrupt, path: path, function: "avcodec_receive_frame", message: "no decodable frame")
        }
        let streamEnd = end ?? source.endTime ?? (last + step)
        // Damaged streams can carry timestamps that go backwards: keep only cuts that move forward,
        // so that every shot starts before it ends.
        var bounds = [first]
        for cut in cuts where cut > bounds[bounds.count - 1] { bounds.append(cut) }
        bounds.append(max(streamEnd, last, bounds[bounds.count - 1]))
        var shots: [Shot] = []
        for (start, stop) in zip(bounds, bounds.dropFirst()) {
            // Long shots are split into equal parts; only parts holding scanned frames become shots,
            // so a damaged file claiming an absurd duration costs no more than its frames.
            let span = ((stop - start) / detection.maxShotSeconds).rounded(.up)
            let parts = max(1, span.isFinite ? Int(min(span, Double(Int.max / 2))) : 1)
            let length = (stop - start) / Double(parts)
            var members: [Int: [Double]] = [:]
            for time in scanned where time >= start - 0.0005 && time < stop - 0.0005 {
                let part =
                    length > 0 ? min(parts - 1, max(0, Int(((time + 0.0005 - start) / length).rounded(.down)))) : 0
                members[part, default: []].append(time)
            }
            for part in members.keys.sorted() {
                let a = start + Double(part) * length
                let b = part == parts - 1 ? stop : a + length
                let middle = (a + b) / 2
                let frame = members[part]!.min { abs($0 - middle) < abs($1 - middle) }!
                shots.append(Shot(start: roundedToMilliseconds(a), end: roundedToMilliseconds(b), frameTime: frame))
            }
        }
        return shots
    }

    /// Normalised 8×8×8 RGB histogram.
    static func histogram(_ image: RGBImage) -> [Float] {
        var bins = [Float](repeating: 0, count: 512)
        let count = image.width * image.height
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<count {
                let bin = Int(p[3 * i] >> 5) << 6 | Int(p[3 * i + 1] >> 5) << 3 | Int(p[3 * i + 2] >> 5)
                bins[bin] += 1
            }
        }
        let scale = 1 / Float(count)
        return bins.map { $0 * scale }
    }

    /// L1 distance between histograms (0…2).
    static func distance(_ a: [Float], _ b: [Float]) -> Double {
        Double(zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) })
    }
}
