import CFFmpeg
import CGuardrailShims
import GuardrailCore

/// The video stream of a file, decoded with FFmpeg's send/receive contract: packets in, frames
/// out, draining at the end so the decoder's tail (and a single-image file's only frame) is kept.
final class FFmpegVideoSource: FrameSource {
    let input: InputContext
    let stream: UnsafeMutablePointer<AVStream>
    private let decoder: Decoder
    private let packet = Packet()
    private let frame = Frame()
    private let scaler = PixelScaler()
    private let keyframesOnly: Bool
    private let limits: MediaLimits
    private let timeBase: Double
    /// Seconds per frame, for streams whose frames carry no timestamps (raw Annex-B).
    private let frameDuration: Double
    private var packetPending = false
    private var draining = false
    private var finished = false
    private var lastPacketDTS = Int64.min
    /// Packets shown before this timestamp (stream time base) are not the target: the decoder may
    /// drop them when they are non-reference frames.
    private var skipBefore: Int64?
    private var lastTimestamp: Double?
    private var drainErrors = 0
    /// Frames the decoder produced so far (decoded, whether or not they were converted).
    private(set) var decodedFrames = 0
    private(set) var corruptPackets = 0
    private(set) var endTime: Double?
    var path: String { input.path }

    /// Decodes `stream` of `input` from the input's current position (the caller rewinds).
    init(
        input: InputContext, stream: UnsafeMutablePointer<AVStream>, limits: MediaLimits, threads: Int,
        keyframesOnly: Bool
    ) throws(MediaError) {
        self.input = input
        let path = input.path
        let parameters = stream.pointee.codecpar.pointee
        if parameters.width > 0 && parameters.height > 0 {
            try limits.checkPixels(
                width: Int(parameters.width), height: Int(parameters.height), path: path,
                function: "avformat_find_stream_info")
        }
        self.stream = stream
        self.limits = limits
        self.keyframesOnly = keyframesOnly
        decoder = try Decoder(
            stream: stream, threads: threads, keyframesOnly: keyframesOnly, limits: limits, path: path)
        let tb = stream.pointee.time_base
        timeBase = tb.den > 0 ? Double(tb.num) / Double(tb.den) : 0
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        frameDuration = rate.num > 0 && rate.den > 0 ? Double(rate.den) / Double(rate.num) : 1.0 / 25
        // Only the chosen stream is demuxed.
        input.demuxOnly(stream)
        if let duration = input.durationSeconds {
            endTime = roundedToMilliseconds(startSeconds + duration)
        }
    }

    /// The stream's first timestamp in seconds (0 when unknown).
    var startSeconds: Double { Self.startSeconds(of: stream) }

    /// `stream`'s first timestamp in seconds (0 when unknown).
    static func startSeconds(of stream: UnsafeMutablePointer<AVStream>) -> Double {
        let start = stream.pointee.start_time
        let base = stream.pointee.time_base
        guard start != gr_av_nopts_value(), base.den > 0 else { return 0 }
        return Double(start) * (Double(base.num) / Double(base.den))
    }

    /// Clockwise display rotation from the stream's display matrix: 0, 90, 180 or 270.
    var rotation: Int { Int(gr_stream_rotation_degrees(stream)) }

    func advance() throws(MediaError) -> FrameStamp? {
        guard !finished else { return nil }
        while true {
            let (step, code) = decoder.receive(into: frame)
            switch step {
            case .frame:
                let f = frame.native
                try limits.checkPixels(
                    width: Int(f.pointee.width), height: Int(f.pointee.height), path: path,
                    function: "avcodec_receive_frame")
                if gr_frame_has_errors(f) != 0 { corruptPackets += 1 }
                decodedFrames += 1
                let pts = f.pointee.best_effort_timestamp
                let seconds =
                    pts != gr_av_nopts_value()
                    ? Double(pts) * timeBase : (lastTimestamp.map { $0 + frameDuration } ?? startSeconds)
                lastTimestamp = seconds
                return FrameStamp(
                    index: decodedFrames - 1, timestamp: roundedToMilliseconds(seconds),
                    isKeyframe: gr_frame_is_keyframe(f) != 0)
            case .endOfStream:
                finished = true
                // What was decoded is more reliable than the container's stated duration.
                if let last = lastTimestamp { endTime = roundedToMilliseconds(last + frameDuration) }
                return nil
            case .needsInput:
                if code != 0 {
                    corruptPackets += 1
                    drainErrors += draining ? 1 : 0
                }
                // A drained decoder answers EOF; one that keeps failing instead is given up on.
                if draining && (code == 0 || drainErrors > 64) {
                    finished = true
                    return nil
                }
                if !draining { try feed() }
            }
        }
    }

    /// Reads packets of our stream until one is accepted by the decoder, or starts draining.
    private func feed() throws(MediaError) {
        while true {
            if !packetPending {
                let read = input.read(into: packet)
                if read == gr_averror_exit() {
                    throw MediaError(ffmpeg: read, path: path, function: "av_read_frame")
                }
                if read < 0 {
                    // End of file, or a container error we cannot read past: decode what we have.
                    if read != gr_averror_eof() { corruptPackets += 1 }
                    draining = true
                    _ = decoder.send(nil)
                    return
                }
                let p = packet.native.pointee
                let wanted =
                    p.stream_index == stream.pointee.index
                    && (!keyframesOnly || p.flags & AV_PKT_FLAG_KEY != 0)
                if !wanted {
                    av_packet_unref(packet.native)
                    continue
                }
                if p.dts != gr_av_nopts_value() { lastPacketDTS = p.dts }
                if !keyframesOnly {
                    // Frame threading copies skip_frame per packet, so this applies to this packet only.
                    let early = skipBefore.map { p.pts != gr_av_nopts_value() && p.pts < $0 } ?? false
                    decoder.native.pointee.skip_frame = early ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
                }
            }
            let sent = decoder.send(packet)
            if sent == gr_averror_eagain() {
                // Receive first, then resend this same packet.
                packetPending = true
                return
            }
            packetPending = false
            av_packet_unref(packet.native)
            if sent < 0 {
                corruptPackets += 1
                continue
            }
            return
        }
    }

    func prepare(forTarget seconds: Double) throws(MediaError) {
        guard timeBase > 0, !draining else { return }
        let target = Int64((seconds / timeBase).rounded(.down))
        skipBefore = target
        guard gr_stream_index_count(stream) > 0 else { return }
        let keyframe = gr_stream_keyframe_at_or_before(stream, target)
        // Only forward jumps over packets we have not read yet save work.
        guard keyframe != gr_av_nopts_value(), keyframe > lastPacketDTS else { return }
        // Seek by the target, not the index entry: demuxers apply their own timestamp offsets
        // (mov's edit-list shift) and then land on the keyframe at or before the target.
        guard av_seek_frame(input.native, stream.pointee.index, target, AVSEEK_FLAG_BACKWARD) >= 0 else { return }
        decoder.flush()
        if packetPending {
            av_packet_unref(packet.native)
            packetPending = false
        }
        lastPacketDTS = keyframe
    }

    /// False for image formats (TIFF, APNG, AVIF), whose resolution tags FFmpeg turns into a sample
    /// aspect ratio that no viewer applies.
    var appliesAspectRatio = true

    /// The display size before any scaling: for videos, the sample aspect ratio applied to the width.
    private func displaySize() -> FrameSize {
        let f = frame.native.pointee
        var width = Int(f.width)
        let sar = f.sample_aspect_ratio.num > 0 ? f.sample_aspect_ratio : stream.pointee.sample_aspect_ratio
        if appliesAspectRatio && sar.num > 0 && sar.den > 0 && sar.num != sar.den {
            width = max(1, Int((Double(width) * Double(sar.num) / Double(sar.den)).rounded()))
        }
        return FrameSize(width: width, height: Int(f.height))
    }

    /// How stored frames are shown: the stream's display matrix, or for a still the orientation its
    /// own metadata gives (a TIFF's EXIF tag), which the demuxer does not apply.
    var stillOrientation = ImageOrientation.up

    func currentImage(outputSize: FrameSize?) throws(MediaError) -> RGBImage {
        let orientation = stillOrientation != .up ? stillOrientation : ImageOrientation(clockwiseRotation: rotation)
        var size = outputSize ?? displaySize()
        if outputSize == nil {
            try limits.checkPixels(width: size.width, height: size.height, path: path, function: "sws_scale")
        } else if orientation.swapsDimensions {
            // Scale to the stored orientation, then rotate into the requested size.
            size = FrameSize(width: size.height, height: size.width)
        }
        let image = try scaler.convert(frame, outWidth: size.width, outHeight: size.height, path: path)
        return orientation.apply(to: image)
    }
}
