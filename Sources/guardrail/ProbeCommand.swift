import ArgumentParser
import Foundation
import GuardrailEngine
import Media

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Report what each file is: container, codec, size, rotation, frame rate, duration.",
        discussion: """
            With --json, prints one JSON object per file (JSON lines). A file that cannot be read \
            prints {"path": …, "error": {"kind": …, "function": …, "code": …, "message": …}}; the exit \
            status is 1 if any file failed. Error kinds: unsupported_format, truncated, corrupt, \
            too_large, no_video_stream, io.
            """
    )

    @Argument(help: "Image or video files.")
    var files: [String]

    @Flag(help: "Print JSON lines instead of text.")
    var json = false

    @OptionGroup var limitOptions: LimitOptions

    func run() throws {
        var failed = false
        for path in files {
            let info: MediaInfo
            do {
                info = try MediaProbe.probe(path: path, limits: limitOptions.limits)
            } catch {
                failed = true
                if json { try Output.jsonLine(ErrorReport(error)) } else { Output.error(error.description) }
                continue
            }
            if json { try Output.jsonLine(info) } else { print(Self.describe(info)) }
        }
        if failed { throw ExitCode(1) }
    }

    static func describe(_ info: MediaInfo) -> String {
        var parts = ["\(info.path): \(info.kind.rawValue)", info.container]
        if let codec = info.codec { parts.append(codec) }
        if let w = info.displayWidth, let h = info.displayHeight { parts.append("\(w)x\(h)") }
        if info.rotation != 0 { parts.append("rotated \(info.rotation)°") }
        if let fps = info.frameRate { parts.append("\(fps) fps\(info.variableFrameRate ? " (variable)" : "")") }
        if let duration = info.durationSeconds { parts.append("\(duration) s") }
        if let frames = info.frameCount { parts.append("\(frames) frames") }
        parts.append("\(info.streamCount) stream\(info.streamCount == 1 ? "" : "s")")
        return parts.joined(separator: ", ")
    }
}
