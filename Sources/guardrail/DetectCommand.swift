import ArgumentParser
import Compute
import Detector
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Vision

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Run NudeNet's detector on images and videos and print its detections per frame.",
        discussion: """
            The detector is NudeNet's YOLOv8 (the nudenet 3.4.2 wheel's 320n.onnx, which scripts/setup.sh \
            fetches and checks), run by the engine as the nudenet package runs it: the picture padded to a \
            square, OpenCV's bilinear resize to 320, candidates at 0.2, cv2.dnn.NMSBoxes at 0.25 / 0.45. \
            Boxes are [x, y, width, height] in the displayed picture's pixels. Videos are sampled and large \
            frames pre-scaled as scan samples and pre-scales them, so the detections equal a scan's.
            """
    )

    @Argument(help: "Images, videos or folders.")
    var paths: [String]

    @Option(help: "The detector's ONNX file (default: where setup puts the NudeNet model).")
    var detectorModel: String?

    @OptionGroup var sampling: SamplingArguments

    @Option(help: "At most this many frames per video (thinned evenly).")
    var maxFrames = 64

    @Option(help: "Compute threads (default: the number of cores).")
    var threads: Int?

    @Flag(help: "One JSON object per file instead of lines of text.")
    var json = false

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        try OptionBounds.check(threads, "--threads", OptionBounds.workers)
        try OptionBounds.check(maxFrames, "--max-frames", 1...1_000_000)
    }

    func run() throws {
        let model = detectorModel ?? NudeNetDetector.defaultModelPath()
        guard FileManager.default.fileExists(atPath: model) else {
            Output.error(
                "no detector model at \(model): run scripts/setup.sh (it fetches NudeNet's), or give --detector-model")
            throw ExitCode(2)
        }
        let detector: NudeNetDetector
        let files: [String]
        do {
            detector = try NudeNetDetector(model: model, compute: ComputeConfiguration(threads: threads))
            files = try MediaFiles.expand(paths)
        } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: try sampling.strategy().0, maxFrames: maxFrames)
        settings.limits = limitOptions.limits
        let scanner = DetectionScanner(detector: detector, settings: settings)
        var failed = false
        for file in files {
            switch Result(catching: { () throws(EngineError) in try scanner.detect(path: file) }) {
            case .success(let report) where json:
                try Output.jsonLine(report)
            case .success(let report):
                for frame in report.frames {
                    let found = frame.detections.map {
                        "\($0.label) \(String(format: "%.3f", $0.score)) [\($0.box.map(String.init).joined(separator: ", "))]"
                    }
                    Output.write(
                        "\(file) \(String(format: "%.3f", frame.timestampS)) s: "
                            + (found.isEmpty ? "nothing detected" : found.joined(separator: "; ")) + "\n")
                }
            case .failure(let error):
                failed = true
                if json { try Output.jsonLine(ErrorReport(error)) } else { Output.error(error.description) }
            }
        }
        if failed { throw ExitCode(2) }
    }
}

/// `guardrail detect --json`, one per file.
struct DetectReport: Encodable {
    var path: String
    var model: String
    var frames: [FrameDetections]
}
