import ArgumentParser
import Foundation
import GuardrailEngine
import Media

struct FramesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frames",
        abstract: "Show which frames the engine samples from a video (and optionally write them as PNG).",
        discussion: """
            Sampling: --every INTERVAL takes the first frame at or after each multiple of the interval \
            (default 1s); --keyframes decodes keyframes only; --shots takes one frame per shot (cut \
            detection by colour histogram). --max thins the candidates evenly. With --out, each frame \
            is written as DIR/frame-<index>-<seconds>s.png. With --json, prints one JSON object.
            """
    )

    @Argument(help: "A video or animated image.")
    var file: String

    @OptionGroup var sampling: SamplingArguments

    @Option(help: "At most this many frames (thinned evenly).")
    var max: Int = 64

    @Option(help: "Ignore the video after this many seconds.")
    var maxDuration: Double?

    @Option(help: "Scale frames to WIDTHxHEIGHT (for example 224x224).")
    var size: String?

    @Option(help: "Write each sampled frame as a PNG into this folder.")
    var out: String?

    @Option(help: "FFmpeg decoder threads.")
    var threads: Int = 2

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        try OptionBounds.check(max, "--max", 1...1_000_000)
        try OptionBounds.check(threads, "--threads", OptionBounds.workers)
        if let size { _ = try Self.parseSize(size) }
        try OptionBounds.check(maxDuration, "--max-duration", OptionBounds.seconds)
    }

    static func parseSize(_ text: String) throws -> FrameSize {
        let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0, parts[0] <= 16384, parts[1] <= 16384 else {
            throw ValidationError("--size takes WIDTHxHEIGHT, for example 224x224, not '\(text)'")
        }
        return FrameSize(width: parts[0], height: parts[1])
    }

    struct FrameReport: Encodable {
        var index: Int
        var timestamp: Double
        var interval: [Double]
        var keyframe: Bool
        var width: Int
        var height: Int
        var file: String?

        enum CodingKeys: String, CodingKey {
            case index, interval, keyframe, width, height, file
            case timestamp = "timestamp_s"
        }
    }

    struct Report: Encodable {
        var path: String
        var media: MediaInfo
        var sampling: String
        var maxFrames: Int
        var frames: [FrameReport]
        var corruptFrames: Int

        enum CodingKeys: String, CodingKey {
            case path, media, sampling, frames
            case maxFrames = "max_frames"
            case corruptFrames = "corrupt_frames"
        }
    }

    func run() throws {
        let (strategy, description) = try sampling.strategy()
        let options = SamplingOptions(
            strategy: strategy, maxFrames: max, maxDuration: maxDuration, outputSize: try size.map(Self.parseSize),
            decoderThreads: threads)
        do {
            if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
            let sampler = try VideoSampler(path: file, options: options, limits: limitOptions.limits)
            var frames: [FrameReport] = []
            while let frame = try sampler.next() {
                var written: String?
                if let out {
                    let name = String(format: "frame-%04d-%.3fs.png", frame.index, frame.timestamp)
                    written = (out as NSString).appendingPathComponent(name)
                    try frame.image.writePNG(to: written!)
                }
                let report = FrameReport(
                    index: frame.index, timestamp: frame.timestamp,
                    interval: [frame.interval.lowerBound, frame.interval.upperBound], keyframe: frame.isKeyframe,
                    width: frame.image.width, height: frame.image.height, file: written)
                if !json {
                    print(
                        String(
                            format: "%4d  %9.3f s  [%.3f, %.3f)  %dx%d%@%@", report.index, report.timestamp,
                            report.interval[0], report.interval[1], report.width, report.height,
                            report.keyframe ? "  key" : "", written.map { "  \($0)" } ?? ""))
                }
                frames.append(report)
            }
            if json {
                try Output.jsonLine(
                    Report(
                        path: file, media: sampler.info, sampling: description, maxFrames: max,
                        frames: frames, corruptFrames: sampler.corruptFrames))
            } else if sampler.corruptFrames > 0 {
                Output.error("\(file): skipped \(sampler.corruptFrames) corrupt packets or frames")
            }
        } catch let error as MediaError {
            if json { try Output.jsonLine(ErrorReport(error)) } else { Output.error(error.description) }
            throw ExitCode(1)
        }
    }
}
