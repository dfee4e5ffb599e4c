import CFFmpeg
import Glibc

/// FFmpeg logs to stderr by default; the engine reports failures as ``MediaError`` instead, so
/// FFmpeg stays quiet unless `GUARDRAIL_FFMPEG_LOG` names a level (`error`, `warning`, `info`, `debug`).
enum FFmpegLog {
    private static let configured: Void = {
        let level: Int32
        switch getenv("GUARDRAIL_FFMPEG_LOG").map({ String(cString: $0) }) {
        case "error": level = AV_LOG_ERROR
        case "warning": level = AV_LOG_WARNING
        case "info": level = AV_LOG_INFO
        case "debug": level = AV_LOG_DEBUG
        default: level = AV_LOG_QUIET
        }
        av_log_set_level(level)
    }()

    static func configure() { _ = configured }
}
