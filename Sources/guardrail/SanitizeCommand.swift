import ArgumentParser
import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Policy
import Sanitizer
import Server
import Vision

struct SanitizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanitize",
        abstract: "SAFREE: project the tokens that pull a prompt toward toxic concepts away from them.",
        discussion: """
            Encodes each prompt with a Stable Diffusion 1.x text encoder (or any CLIP text tower), finds \
            trigger tokens by masked re-encoding, and projects their embeddings away from the concept \
            subspace. With --out, writes prompt_embeds, original_prompt_embeds and negative_prompt_embeds \
            [B, 77, D] to a safetensors file for diffusers (see the README); prints one JSON report per \
            prompt with --json, a summary otherwise. A prompt without triggers comes back unchanged.
            """
    )

    @Option(
        help: ArgumentHelp(
            "Text encoder: folder, SD pipeline folder, or Hugging Face repo id (local cache).", valueName: "path-or-id")
    )
    var textEncoder: String

    @Option(
        help:
            "Concept set: a shipped name (nudity, violence, hate, self-harm, illegal-activity, shocking) or a file. Default: the --policy pack's, else nudity."
    )
    var concepts: String?

    @Option(help: "A policy pack whose `concepts` names the set to use.")
    var policy: String?

    @Option(help: "α: a token is a trigger when its distance reaches (1 + α) × the others' mean.")
    var alpha = 0.01

    @Argument(help: "Prompts.")
    var prompts: [String] = []

    @Option(help: "A file with one prompt per line.")
    var promptFile: String?

    @Option(help: "Write the embeddings to this .safetensors file.")
    var out: String?

    @Flag(help: "Store the embeddings as float16.")
    var half = false

    @Flag(help: "Also project the end-of-text and padding rows (off in the reference).")
    var projectEOS = false

    @Flag(help: "Print one JSON report per prompt.")
    var json = false

    @Option(help: "Cache folder for concept embeddings (default ~/.cache/guardrail).")
    var cache: String?

    @Flag(help: "Do not read or write the cache.")
    var noCache = false

    @Option(help: "Compute threads per forward pass (default: the number of cores).")
    var threads: Int?

    func validate() throws {
        guard !prompts.isEmpty || promptFile != nil else { throw ValidationError("give prompts or --prompt-file") }
        try OptionBounds.check(alpha, "--alpha", 0...1_000_000)
        guard (threads ?? 1) > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        var all = prompts
        if let promptFile {
            all += try String(contentsOfFile: promptFile, encoding: .utf8).split(
                separator: "\n", omittingEmptySubsequences: false
            )
            .map(String.init).filter { !$0.isEmpty }
        }
        if all.isEmpty {
            Output.error("no prompts: \(promptFile ?? "the prompt file") has only empty lines")
            throw ExitCode(2)
        }
        let artifacts = noCache ? nil : ArtifactCache(folder: cache ?? ArtifactCache.defaultFolder())
        let sanitizer = try loadOrExit(textEncoder) {
            try PromptSanitizer.load(
                textEncoder: textEncoder, concepts: concepts, policy: policy, alpha: alpha, projectEOS: projectEOS,
                compute: ComputeConfiguration(threads: threads), cache: artifacts)
        }
        let results = try loadOrExit(textEncoder) { try sanitizer.sanitize(all) }
        for result in results {
            if json {
                try Output.jsonLine(SanitizeReport(result, sanitizer: sanitizer))
            } else {
                let triggers = result.result.triggerPositions.map { p in
                    p <= result.tokens.count ? displayToken(result.tokens[p - 1]) : "#\(p)"
                }
                let state =
                    result.result.skipped.map { "skipped (\($0))" }
                    ?? (result.changed ? "triggers: \(triggers.joined(separator: ", "))" : "unchanged")
                print(
                    "\(result.prompt.debugDescription): \(state); β \(String(format: "%.3f", result.result.beta)), t′ \(result.result.tPrime)\(result.truncated ? " (truncated to 75 tokens)" : "")"
                )
            }
        }
        if let out {
            try loadOrExit(out) { try DiffusersEmbeddings.write(results, sanitizer: sanitizer, half: half, to: out) }
        }
    }

    /// A BPE token as text: byte-level characters decoded loosely, `</w>` shown as a space.
    func displayToken(_ token: String) -> String {
        token.replacingOccurrences(of: "</w>", with: "")
    }
}
