import ArgumentParser
import Foundation
import Media
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
            "Compute threads: the engine's workers, or OpenBLAS's threads when the AVX-512 kernels are off (one owner of parallelism); default: the number of cores."
    )
    var threads: Int?

    func folder() throws -> String {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            GEMM.threads = threads
        }
        return ModelLocator.modelFolder(try ModelLocator.resolve(model))
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

    struct ImageLine: Encodable {
        var path: String
        var imageEmbeds: [Float]?
        var patchEmbeds: [[Float]]?

        enum CodingKeys: String, CodingKey {
            case path
            case imageEmbeds = "image_embeds"
            case patchEmbeds = "patch_embeds"
        }
    }

    struct TextLine: Encodable {
        var text: String
        var inputIds: [Int]
        var truncated: Bool
        var textEmbeds: [Float]?
        var pooled: [Float]
        var lastHiddenState: [[Float]]?

        enum CodingKeys: String, CodingKey {
            case text, truncated, pooled
            case inputIds = "input_ids"
            case textEmbeds = "text_embeds"
            case lastHiddenState = "last_hidden_state"
        }
    }

    func run() throws {
        let folder = try modelOptions.folder()
        let model = try CLIPModel(folder: folder)
        var failed = false
        if !images.isEmpty {
            failed = try embedImages(model, folder: folder)
        }
        var texts = text
        if let textFile {
            texts += try String(contentsOfFile: textFile, encoding: .utf8).split(separator: "\n").map(String.init)
        }
        if !texts.isEmpty {
            let tokenizer = try CLIPTokenizer(folder: ModelLocator.tokenizerFolder(forModel: folder))
            for start in stride(from: 0, to: texts.count, by: batch) {
                let chunk = Array(texts[start..<min(start + batch, texts.count)])
                let encoded = chunk.map(tokenizer.encodePadded)
                let out = try model.encodeTexts(encoded.map(\.ids), hiddenStates: hidden)
                let (embeds, pooled, states) = (out.textEmbeds?.rows, out.pooled.rows, out.lastHiddenState?.rows)
                let length = out.lastHiddenState?.shape[1] ?? 0
                for (i, line) in chunk.enumerated() {
                    Output.jsonLine(
                        TextLine(
                            text: line, inputIds: encoded[i].ids, truncated: encoded[i].truncated,
                            textEmbeds: embeds?[i], pooled: pooled[i],
                            lastHiddenState: states.map { Array($0[(i * length)..<((i + 1) * length)]) }))
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Returns true when some image could not be read.
    private func embedImages(_ model: CLIPModel, folder: String) throws -> Bool {
        guard let vision = model.vision else { throw ValidationError("\(folder) has no vision tower") }
        let preprocessor = try ImagePreprocessor(
            contentsOf: folder + "/preprocessor_config.json", imageSize: vision.config.imageSize)
        let variant = patches ? PatchEmbeddingVariant(rawValue: patchVariant) : nil
        var failed = false
        for start in stride(from: 0, to: images.count, by: batch) {
            var decoded: [(String, RGBImage)] = []
            for path in images[start..<min(start + batch, images.count)] {
                do {
                    decoded.append((path, try ImageDecoder().decode(path: path)))
                } catch {
                    failed = true
                    Output.jsonLine(ErrorReport(error))
                }
            }
            guard !decoded.isEmpty else { continue }
            let (pixels, _) = preprocessor(decoded.map(\.1))
            let out = try model.encodeImages(pixels, patches: variant, hiddenStates: false)
            let embeds = out.imageEmbeds?.rows
            let patchRows = out.patchEmbeds?.rows
            let n = out.patchEmbeds?.shape[1] ?? 0
            for (i, (path, _)) in decoded.enumerated() {
                Output.jsonLine(
                    ImageLine(
                        path: path, imageEmbeds: embeds?[i],
                        patchEmbeds: patchRows.map { Array($0[(i * n)..<((i + 1) * n)]) }))
            }
        }
        return failed
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
        let folder = ModelLocator.modelFolder(try ModelLocator.resolve(model))
        let tokenizer = try CLIPTokenizer(folder: ModelLocator.tokenizerFolder(forModel: folder))
        for text in texts {
            let full = tokenizer.encode(text)
            let ids = pad ? tokenizer.encodePadded(text).ids : full
            Output.jsonLine(Line(text: text, inputIds: ids, truncated: full.count > tokenizer.contextLength))
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
            let folder = ModelLocator.modelFolder(try ModelLocator.resolve(model))
            let report = try ModelInspector.inspect(folder: folder)
            Output.jsonLine(report)
            if report.verificationError != nil { throw ExitCode(1) }
        }
    }
}
