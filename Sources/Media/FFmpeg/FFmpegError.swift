import CFFmpeg
import CGuardrailShims

/// FFmpeg's message for an `AVERROR` code.
func ffmpegMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    av_strerror(code, &buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension MediaError {
    /// Classifies an FFmpeg error code returned by `function` while handling `path`.
    init(ffmpeg code: Int32, path: String, function: String, context: String = "") {
        let kind: Kind
        switch code {
        case gr_averror_eof(): kind = .truncated
        case gr_averror(ENOENT), gr_averror(EACCES), gr_averror(EIO), gr_averror(EISDIR), gr_averror_exit():
            kind = .io
        case gr_averror_invaliddata() where function == "avformat_open_input": kind = .unsupportedFormat
        case gr_averror_decoder_not_found(), gr_averror_demuxer_not_found(), gr_averror_patchwelcome():
            kind = .unsupportedFormat
        case gr_averror(ENOMEM): kind = .tooLarge
        default: kind = .corrupt
        }
        var message = ffmpegMessage(code)
        if code == gr_averror_exit() { message = "decoding took longer than the configured deadline" }
        self.init(
            kind, path: path, function: function, code: code,
            message: context.isEmpty ? message : "\(context): \(message)")
    }
}
