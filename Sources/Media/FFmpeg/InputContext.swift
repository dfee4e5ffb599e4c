import CFFmpeg
import CGuardrailShims
import Synchronization

/// Owns an `AVFormatContext` opened for reading (`avformat_close_input` in `deinit`), with a
/// wall-clock deadline after which every blocking call fails with `AVERROR_EXIT`.
final class InputContext {
    let native: UnsafeMutablePointer<AVFormatContext>
    let path: String
    /// Read by FFmpeg's interrupt callback; owned here so it outlives the context.
    private let deadline: UnsafeMutablePointer<Int64>

    /// Opens `path`; `head` (its first bytes, already read) names the format in errors when FFmpeg
    /// does not recognise damaged data.
    init(path: String, limits: MediaLimits, head: [UInt8]) throws(MediaError) {
        FFmpegLog.configure()
        Self.countedOpens.withLock { counts in counts[path] = counts[path].map { $0 + 1 } }
        self.path = path
        let deadline = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        deadline.initialize(to: gr_time_relative_us() + limits.decodeTimeoutMicroseconds)
        guard let allocated = avformat_alloc_context() else {
            deadline.deallocate()
            throw MediaError(.tooLarge, path: path, function: "avformat_alloc_context", message: "out of memory")
        }
        gr_format_set_deadline(allocated, deadline)
        var context: UnsafeMutablePointer<AVFormatContext>? = allocated
        // On failure avformat_open_input frees the context and sets it to NULL.
        let opened = avformat_open_input(&context, path, nil, nil)
        guard opened >= 0, let context else {
            deadline.deallocate()
            var error = MediaError(ffmpeg: opened, path: path, function: "avformat_open_input")
            if error.kind == .unsupportedFormat, let format = Self.recognisedFormat(head) {
                error.kind = .corrupt
                error.message = "\(format) data is damaged or truncated: \(error.message)"
            }
            throw error
        }
        native = context
        self.deadline = deadline
        // Probing decodes a first frame for some formats: cap its size before it allocates.
        let streamCount = Int(context.pointee.nb_streams)
        var options = [OpaquePointer?](repeating: nil, count: max(streamCount, 1))
        for i in 0..<streamCount {
            av_dict_set(&options[i], "max_pixels", String(limits.maxPixels), 0)
        }
        let found = options.withUnsafeMutableBufferPointer { avformat_find_stream_info(context, $0.baseAddress) }
        for i in options.indices { av_dict_free(&options[i]) }
        if found < 0 {
            throw MediaError(ffmpeg: found, path: path, function: "avformat_find_stream_info")
        }
    }

    /// The container FFmpeg recognises from the file's first bytes, when it recognises one, so a
    /// damaged file of a known format is not reported as an unknown format.
    private static func recognisedFormat(_ head: [UInt8]) -> String? {
        guard !head.isEmpty else { return nil }
        var head = head
        let size = Int32(head.count)
        head += [UInt8](repeating: 0, count: Int(AVPROBE_PADDING_SIZE))
        var score: Int32 = 0
        let format = head.withUnsafeMutableBufferPointer { buffer -> UnsafePointer<AVInputFormat>? in
            // Content only: an empty name keeps extension matching out of the guess.
            let noName: StaticString = ""
            let name = UnsafeRawPointer(noName.utf8Start).assumingMemoryBound(to: CChar.self)
            var probe = AVProbeData(filename: name, buf: buffer.baseAddress, buf_size: size, mime_type: nil)
            return av_probe_input_format3(&probe, 1, &score)
        }
        guard let format, score > AVPROBE_SCORE_MAX / 4 else { return nil }
        return String(cString: format.pointee.name)
    }

    deinit {
        var context: UnsafeMutablePointer<AVFormatContext>? = native
        avformat_close_input(&context)
        deadline.deallocate()
    }

    /// `avformat_open_input` calls of the paths being counted, for
    /// ``MediaSource/countingFFmpegOpens(of:_:)``; other paths leave no trace.
    static let countedOpens = Mutex<[String: Int]>([:])

    /// Goes back to the first packet, for another pass over the same input (FFmpeg's seek to the
    /// start, or to byte 0 for demuxers that cannot seek by time).
    func rewind() throws(MediaError) {
        // Before the first read, the packets probing buffered are still to come: nothing to undo.
        guard packetsRead else { return }
        if avformat_seek_file(native, -1, Int64.min, 0, 0, 0) < 0,
            av_seek_frame(native, -1, 0, AVSEEK_FLAG_BYTE) < 0
        {
            throw MediaError(
                .unsupportedFormat, path: path, function: "avformat_seek_file",
                message: "cannot go back to the start of the \(formatName) stream for another pass")
        }
        avformat_flush(native)
        packetsRead = false
    }

    /// True once a pass has read packets (so the next pass must rewind).
    private(set) var packetsRead = false

    /// Reads the next packet into `packet` (`av_read_frame`), noting that the input has moved.
    func read(into packet: Packet) -> Int32 {
        packetsRead = true
        return av_read_frame(native, packet.native)
    }

    /// Packets of `stream` in the whole file (only keyframes with `keyframesOnly`), by demuxing
    /// without decoding; leaves the input at its end (the next pass rewinds).
    func countPackets(of stream: UnsafeMutablePointer<AVStream>, keyframesOnly: Bool) throws(MediaError) -> Int {
        try rewind()
        demuxOnly(stream)
        let packet = Packet()
        var count = 0
        while true {
            let status = read(into: packet)
            if status == gr_averror_exit() { throw MediaError(ffmpeg: status, path: path, function: "av_read_frame") }
            if status < 0 { break }
            if packet.native.pointee.stream_index == stream.pointee.index
                && (!keyframesOnly || packet.native.pointee.flags & AV_PKT_FLAG_KEY != 0)
            {
                count += 1
            }
            av_packet_unref(packet.native)
        }
        return count
    }

    /// Lets only `stream`'s packets through the demuxer from here on (another pass may have chosen
    /// another stream before).
    func demuxOnly(_ stream: UnsafeMutablePointer<AVStream>) {
        for other in streams { other.pointee.discard = other == stream ? AVDISCARD_DEFAULT : AVDISCARD_ALL }
    }

    /// The streams of the file.
    var streams: [UnsafeMutablePointer<AVStream>] {
        (0..<Int(native.pointee.nb_streams)).compactMap { native.pointee.streams[$0] }
    }

    /// The video stream FFmpeg would pick, skipping attached pictures (cover art), if any.
    func bestVideoStream() -> UnsafeMutablePointer<AVStream>? {
        let index = av_find_best_stream(native, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = native.pointee.streams[Int(index)],
            stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
        else {
            return streams.first {
                $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO
                    && $0.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
            }
        }
        return stream
    }

    /// The container's short name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, …).
    var formatName: String { native.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "unknown" }

    /// The container's `major_brand` tag (`avif` for AVIF stills in the mov demuxer), if any.
    var majorBrand: String? {
        av_dict_get(native.pointee.metadata, "major_brand", nil, 0).map { String(cString: $0.pointee.value) }
    }

    /// The container duration in seconds, when known.
    var durationSeconds: Double? {
        let duration = native.pointee.duration
        guard duration != gr_av_nopts_value(), duration > 0 else { return nil }
        return Double(duration) / Double(gr_av_time_base())
    }
}

/// Owns an `AVPacket` (`av_packet_free` in `deinit`); unreferenced after each use.
final class Packet {
    let native: UnsafeMutablePointer<AVPacket>

    init() {
        guard let packet = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        native = packet
    }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = native
        av_packet_free(&packet)
    }
}

/// Owns an `AVFrame` (`av_frame_free` in `deinit`).
final class Frame {
    let native: UnsafeMutablePointer<AVFrame>

    init() {
        guard let frame = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        native = frame
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = native
        av_frame_free(&frame)
    }
}
