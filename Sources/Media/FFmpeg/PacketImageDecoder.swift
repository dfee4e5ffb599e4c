import CFFmpeg
import CGuardrailShims
import GuardrailCore

/// One picture whose bytes are a whole packet of a codec (a one-page TIFF, say), decoded by FFmpeg
/// without a demuxer and converted to RGB at its stored size. `header` replaces the packet's first
/// bytes (a TIFF header pointed at another page) without copying the file once more.
enum PacketImageDecoder {
    static func decode(_ bytes: [UInt8], header: [UInt8] = [], codec: AVCodecID, limits: MediaLimits, path: String)
        throws(MediaError) -> RGBImage
    {
        precondition(header.count <= bytes.count, "the header replaces bytes of the packet")
        let decoder = try Decoder(codec: codec, threads: 1, limits: limits, path: path)
        let packet = Packet()
        let allocated = av_new_packet(packet.native, Int32(bytes.count))
        guard allocated >= 0, let data = packet.native.pointee.data else {
            throw MediaError(ffmpeg: allocated, path: path, function: "av_new_packet")
        }
        bytes.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
        header.withUnsafeBufferPointer { if let start = $0.baseAddress { data.update(from: start, count: $0.count) } }
        let sent = decoder.send(packet)
        guard sent >= 0 else { throw MediaError(ffmpeg: sent, path: path, function: "avcodec_send_packet") }
        _ = decoder.send(nil)
        let frame = Frame()
        let (step, code) = decoder.receive(into: frame)
        guard step == .frame else {
            throw MediaError(
                ffmpeg: code != 0 ? code : gr_averror_invaliddata(), path: path, function: "avcodec_receive_frame")
        }
        let (width, height) = (Int(frame.native.pointee.width), Int(frame.native.pointee.height))
        try limits.checkPixels(width: width, height: height, path: path, function: "avcodec_receive_frame")
        return try PixelScaler().convert(frame, outWidth: width, outHeight: height, path: path)
    }
}
