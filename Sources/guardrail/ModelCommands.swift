import ArgumentParser
import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Vision

/// Where to find a model, shared by the model commands.
struct ModelOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A model folder (config.json + model.safetensors), a Stable Diffusion pipeline folder, or a Hugging Face repo id found in the local cache.",
            valueName: "path-or-id"))
    var model: String

    @Option(
        name: [.customLong("threads"), .customLong("blas-threads")],
        help:
            "Compute threads: the engine's workers, or OpenBLAS's threads on the openblas kernel (one owner of parallelism); default: the number of cores."
    )
    var threads: Int?

    func validate() throws {
        try OptionBounds.check(threads, "--threads", OptionBounds.workers)
    }

    var compute: ComputeConfiguration { ComputeConfiguration(threads: threads) }

    /// The model, resolved; a failure is printed and exits with status 2.
    func bundle(role: ModelRole = .clip) throws -> ModelBundle {
        try loadOrExit(model) {
            try ModelBundle(model, role: role, hashCache: ArtifactCache(folder: ArtifactCache.defaultFolder()))
        }
    }
}

/// Runs `body`; an error (a model or policy that does not load) is printed and exits with status 2.
func loadOrExit<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        Output.error(EngineError(wrapping: error, file: file).description)
        throw ExitCode(2)
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "CLIP embeddings of images or texts, one JSON line each.",
        discussion: """
            Images: {"path", "image_embeds": […]} — projected, not normalised, as get_image_features; with \
            --patches also "patch_embeds": one unit vector per patch in the joint space, row-major over the \
            grid. Texts (--text, --text-file): {"text", "input_ids", "text_embeds", "pooled"} and with \
            --hidden "last_hidden_state" [77 × hidden] (Stable Diffusion's prompt_embeds). A model without a \
            projection (an SD text_encoder) gives "pooled" and no "text_embeds".
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "Images to embed.")
    var images: [String] = []

    @Option(help: "A text to embed (repeatable).")
    var text: [String] = []

    @Option(help: "A file with one text per line.")
    var textFile: String?

    @Flag(help: "Also output per-patch embeddings.")
    var patches = false

    @Option(help: "Patch embedding variant: value (MaskCLIP, default) or plain.")
    var patchVariant: String = "value"

    @Flag(help: "Also output the text tower's last hidden state.")
    var hidden = false

    @Option(help: "Images or texts per forward pass.")
    var batch = 8

    @Flag(help: "JSON lines (the only output format; accepted for symmetry with other commands).")
    var json = false

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        guard PatchEmbeddingVariant(rawValue: patchVariant) != nil else {
            throw ValidationError("--patch-variant is value or plain")
        }
        guard !images.isEmpty || !text.isEmpty || textFile != nil else {
            throw ValidationError("give images, --text or --text-file")
        }
    }

    func run() throws {
        let bundle = try modelOptions.bundle()
        var texts = text
        if let textFile {
            texts += try loadOrExit(textFile) {
                try String(contentsOfFile: textFile, encoding: .utf8).split(separator: "\n").map(String.init)
            }
        }
        let embedder = try loadOrExit(modelOptions.model) { try Embedder(model: bundle, compute: modelOptions.compute) }
        var failed = false
        if !images.isEmpty {
            let variant = patches ? PatchEmbeddingVariant(rawValue: patchVariant) : nil
            try loadOrExit(modelOptions.model) {
                try embedder.embedImages(images, batch: batch, patches: variant) { result in
                    switch result {
                    case .success(let line): try Output.jsonLine(line)
                    case .failure(let error):
                        failed = true
                        try Output.jsonLine(ErrorReport(error))
                    }
                }
            }
        }
        if !texts.isEmpty {
            for line in try loadOrExit(
                modelOptions.model, { try embedder.embedTexts(texts, batch: batch, hiddenStates: hidden) })
            {
                try Output.jsonLine(line)
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "CLIP token ids of each text, one JSON line each: {\"text\", \"input_ids\", \"truncated\"}.",
        discussion:
            "Ids include the start and end tokens; with --pad, truncated and padded to 77 as the text encoder receives them."
    )

    @Option(help: ArgumentHelp("A model or tokenizer folder, or a Hugging Face repo id.", valueName: "path-or-id"))
    var model: String

    @Argument(help: "Texts to tokenize.")
    var texts: [String]

    @Flag(help: "Truncate and pad to the context length (77).")
    var pad = false

    struct Line: Encodable {
        var text: String
        var inputIds: [Int]
        var truncated: Bool

        enum CodingKeys: String, CodingKey {
            case text, truncated
            case inputIds = "input_ids"
        }
    }

    func run() throws {
        let tokenizer = try loadOrExit(model) { try ModelBundle(model).loadTokenizer() }
        for text in texts {
            let full = tokenizer.encode(text)
            let ids = pad ? tokenizer.encodePadded(text).ids : full
            try Output.jsonLine(Line(text: text, inputIds: ids, truncated: full.count > tokenizer.contextLength))
        }
    }
}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Inspect model checkpoints.", subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Architecture, parameter count, dtypes and the result of strict loading, as one JSON object.",
            discussion: "Exit status 1 when the checkpoint does not load strictly (the error lists every key at fault)."
        )

        @Argument(help: ArgumentHelp("A model folder or Hugging Face repo id.", valueName: "path-or-id"))
        var model: String

        func run() throws {
            let report = try loadOrExit(model) {
                try ModelInspector.inspect(
                    ModelBundle(model, hashCache: ArtifactCache(folder: ArtifactCache.defaultFolder())))
            }
            try Output.jsonLine(report)
            if report.verificationError != nil { throw ExitCode(1) }
        }
    }
}
