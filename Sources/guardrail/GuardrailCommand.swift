import ArgumentParser

@main
struct Guardrail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardrail",
        abstract: "Image and video guardrail engine: decode, sample and moderate uploads.",
        discussion: """
            Media is decoded with FFmpeg 5.1 (video and most image formats), libpng, TurboJPEG and \
            libwebp. Hostile input (truncated, corrupt, oversized) is reported as an error, never a crash.
            """,
        subcommands: [
            ScanCommand.self, SanitizeCommand.self, ProbeCommand.self, FramesCommand.self, EmbedCommand.self,
            TokenizeCommand.self,
            ModelCommand.self, PolicyCommand.self,
        ]
    )
}
