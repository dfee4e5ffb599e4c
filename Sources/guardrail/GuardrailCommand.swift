import ArgumentParser
import Compute

/// Makes the process-wide compute settings, then runs the command line.
@main
enum Main {
    static func main() async {
        ComputeProcess.start()
        await Guardrail.main()
    }
}

struct Guardrail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardrail",
        abstract: "Image and video guardrail engine: decode, sample and moderate uploads.",
        discussion: """
            Media is decoded with FFmpeg 5.1 (video and most image formats), libpng, TurboJPEG, \
            libwebp and the engine's own GIF decoder, to the pixels Pillow gives. Damaged files a viewer \
            still shows are scanned with warnings; hostile input (corrupt, oversized) is reported as an \
            error, never a crash.
            """,
        subcommands: [
            ScanCommand.self, DetectCommand.self, SanitizeCommand.self, BenchCommand.self, CalibrateCommand.self,
            TrainHeadsCommand.self, ServeCommand.self, WorkerCommand.self, JobsCommand.self,
            ProbeCommand.self, FramesCommand.self, EmbedCommand.self, TokenizeCommand.self, ModelCommand.self,
            PolicyCommand.self,
        ]
    )
}
