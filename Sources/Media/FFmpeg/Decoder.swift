import CFFmpeg
import CGuardrailShims

/// Owns an `AVCodecContext` opened for decoding one stream (`avcodec_free_context` in `deinit`).
final class Decoder {
    /// The result of asking the decoder for a frame (FFmpeg's EAGAIN/EOF, not errors).
    enum Step {
        case frame
        case needsInput
        case endOfStream
    }

    let native: UnsafeMutablePointer<AVCodecContext>
    let path: String

    /// A decoder for `stream` of a demuxed input.
    convenience init(
        stream: UnsafeMutablePointer<AVStream>, threads: Int, keyframesOnly: Bool, limits: MediaLimits, path: String
    ) throws(MediaError) {
        let parameters = stream.pointee.codecpar!
        try self.init(codec: parameters.pointee.codec_id, threads: threads, limits: limits, path: path) { decoder in
            let copied = avcodec_parameters_to_context(decoder, parameters)
            if copied < 0 { return (copied, "avcodec_parameters_to_context") }
            decoder.pointee.pkt_timebase = stream.pointee.time_base
            if keyframesOnly {
                // Packets without the key flag never reach the decoder; this also lets H.264 skip work.
                decoder.pointee.skip_frame = AVDISCARD_NONKEY
            }
            return nil
        }
    }

    /// A decoder for `codec` with no container around it (packets the caller builds); `configure`
    /// sets up the context before it is opened and returns FFmpeg's code and call on failure.
    init(
        codec id: AVCodecID, threads: Int, limits: MediaLimits, path: String,
        configure: (UnsafeMutablePointer<AVCodecContext>) -> (Int32, String)? = { _ in nil }
    ) throws(MediaError) {
        self.path = path
        guard let codec = avcodec_find_decoder(id) else {
            let name = String(cString: avcodec_get_name(id))
            throw MediaError(
                .unsupportedFormat, path: path, function: "avcodec_find_decoder",
                message: "no decoder for codec \(name) in this FFmpeg build")
        }
        guard let allocated = avcodec_alloc_context3(codec) else {
            throw MediaError(.tooLarge, path: path, function: "avcodec_alloc_context3", message: "out of memory")
        }
        var context: UnsafeMutablePointer<AVCodecContext>? = allocated
        func fail(_ code: Int32, _ function: String) -> MediaError {
            avcodec_free_context(&context)
            return MediaError(ffmpeg: code, path: path, function: function)
        }
        if let (code, function) = configure(allocated) { throw fail(code, function) }
        allocated.pointee.thread_count = Int32(threads)
        allocated.pointee.max_pixels = Int64(limits.maxPixels)
        let opened = avcodec_open2(allocated, codec, nil)
        if opened < 0 { throw fail(opened, "avcodec_open2") }
        native = allocated
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = native
        avcodec_free_context(&context)
    }

    /// Sends a packet, or `nil` to start draining. Returns FFmpeg's code (EAGAIN means "receive first").
    func send(_ packet: Packet?) -> Int32 {
        avcodec_send_packet(native, packet?.native)
    }

    /// Receives the next frame into `frame`; decoding errors are returned as the code.
    func receive(into frame: Frame) -> (Step, Int32) {
        let code = avcodec_receive_frame(native, frame.native)
        switch code {
        case 0: return (.frame, 0)
        case gr_averror_eagain(): return (.needsInput, 0)
        case gr_averror_eof(): return (.endOfStream, 0)
        default: return (.needsInput, code)
        }
    }

    /// Drops buffered frames after a seek.
    func flush() {
        avcodec_flush_buffers(native)
    }
}
