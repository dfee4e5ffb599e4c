import GuardrailCore

/// A frame's place in its stream.
struct FrameStamp {
    /// 0-based index among the frames the decoder produced.
    var index: Int
    /// Presentation time in seconds, millisecond precision.
    var timestamp: Double
    var isKeyframe: Bool
}

/// A decoder that walks a stream frame by frame; the sampler decides which frames to convert.
protocol FrameSource: AnyObject {
    /// Decodes the next frame; nil at the end of the stream.
    func advance() throws(MediaError) -> FrameStamp?
    /// The current frame as RGB, display orientation applied, at its display size or scaled
    /// to `outputSize` (the final, rotated size).
    func currentImage(outputSize: FrameSize?) throws(MediaError) -> RGBImage
    /// Readies the decoder for the first frame at or after `seconds`: jumps to the keyframe before
    /// it when that skips packets, and may skip decoding frames that are shown earlier and that no
    /// other frame references.
    func prepare(forTarget seconds: Double) throws(MediaError)
    /// Packets or frames that failed to decode and were skipped.
    var corruptPackets: Int { get }
    /// Frames decoded so far, converted or not.
    var decodedFrames: Int { get }
    /// The end of the stream in seconds, when known.
    var endTime: Double? { get }
    /// Damage met in the frames decoded so far (a stream cut short, bad data the decoder went past).
    var warnings: [MediaWarning] { get }
}

extension FrameSource {
    var warnings: [MediaWarning] { [] }
}

/// Width and height in pixels.
public struct FrameSize: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int

    /// Creates a size; both sides must be positive.
    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "FrameSize must be positive")
        self.width = width
        self.height = height
    }
}

/// Milliseconds, as timestamps are reported.
func roundedToMilliseconds(_ seconds: Double) -> Double {
    (seconds * 1000).rounded() / 1000
}
