import Detector
import GuardrailCore
import Media

/// One frame's detections, as `guardrail detect --json` prints them.
public struct FrameDetections: Sendable, Encodable {
    public var index: Int
    public var timestampS: Double
    @NullEncodable public var source: String?
    public var candidates: Int
    public var detections: [Detection]

    enum CodingKeys: String, CodingKey {
        case index, source, candidates, detections
        case timestampS = "timestamp_s"
    }
}

/// `guardrail detect --json`, one per file.
public struct DetectReport: Sendable, Encodable {
    public var path: String
    public var model: String
    public var frames: [FrameDetections]
}

/// The detector alone on every frame a scan samples: the same frame walk, the same pre-scaling of
/// large frames (``GuardrailEngine/preScaleSide(_:detector:)``), so that `detect` and a scan
/// with detector rules see the same pixels and report the same detections.
public struct DetectionScanner: Sendable {
    public let detector: NudeNetDetector
    /// The sampling and the media limits; the other settings do not apply.
    public let settings: ScanSettings

    public init(detector: NudeNetDetector, settings: ScanSettings) {
        self.detector = detector
        self.settings = settings
    }

    /// Opens (once) and runs the detector on `path`'s sampled frames.
    public func detect(path: String) throws(EngineError) -> DetectReport {
        let source: MediaSource
        do {
            source = try MediaSource(path: path, limits: settings.limits)
        } catch {
            throw EngineError(error)
        }
        return try EngineError.catching(file: path) {
            var frames: [FrameDetections] = []
            _ = try walkFrames(
                source, sampling: settings.sampling, batch: settings.batch,
                shortestSide: GuardrailEngine.preScaleSide(nil, detector: detector)
            ) { batch, images, displayed in
                for (frame, image) in zip(batch, images) {
                    let (candidates, detections) = try detector.detect(
                        image, displayed: displayed.map { ($0.width, $0.height) })
                    frames.append(
                        FrameDetections(
                            index: frame.index, timestampS: frame.timestamp, source: frame.source,
                            candidates: candidates, detections: detections))
                }
                return false
            }
            return DetectReport(path: path, model: detector.path, frames: frames)
        }
    }
}
