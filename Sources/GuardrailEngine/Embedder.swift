import Compute
import GuardrailCore
import Media
import Vision

/// One image's embeddings, as `guardrail embed` prints them.
public struct ImageEmbedding: Sendable, Encodable {
    public var path: String
    /// Projected, not normalised (`get_image_features`); nil for vision models without a projection.
    public var imageEmbeds: [Float]?
    /// One unit vector per patch in the joint space, row-major over the grid, when asked for.
    public var patchEmbeds: [[Float]]?

    enum CodingKeys: String, CodingKey {
        case path
        case imageEmbeds = "image_embeds"
        case patchEmbeds = "patch_embeds"
    }
}

/// One text's ids and embeddings, as `guardrail embed` prints them.
public struct TextEmbedding: Sendable, Encodable {
    public var text: String
    public var inputIds: [Int]
    public var truncated: Bool
    /// Projected, not normalised (`get_text_features`); nil without a projection.
    public var textEmbeds: [Float]?
    /// The final-layer-norm row at the pooling position.
    public var pooled: [Float]
    /// `[77][hidden]` after the final layer norm (Stable Diffusion's `prompt_embeds`), when asked for.
    public var lastHiddenState: [[Float]]?

    enum CodingKeys: String, CodingKey {
        case text, truncated, pooled
        case inputIds = "input_ids"
        case textEmbeds = "text_embeds"
        case lastHiddenState = "last_hidden_state"
    }
}

/// CLIP embeddings of files and texts: the same decode → preprocess → encode path as a scan.
public final class Embedder: Sendable {
    public let bundle: ModelBundle
    public let model: CLIPModel
    public let limits: MediaLimits

    public init(model bundle: ModelBundle, compute: ComputeConfiguration = .default, limits: MediaLimits = .default)
        throws(EngineError)
    {
        self.bundle = bundle
        self.limits = limits
        do { model = try bundle.loadCLIP(compute: compute) } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
    }

    /// Embeds images `batch` at a time, in input order; a file that cannot be read is delivered as
    /// its error when its batch is decoded, before that batch's embeddings. Errors of the model are
    /// thrown as ``EngineError``; what `deliver` throws is rethrown as it is.
    public func embedImages(
        _ paths: [String], batch: Int, patches: PatchEmbeddingVariant?,
        deliver: (Result<ImageEmbedding, EngineError>) throws -> Void
    ) throws {
        precondition(batch > 0, "batch must be positive")
        guard let vision = model.vision else {
            throw EngineError(.input, file: bundle.folder, message: "\(bundle.folder) has no vision tower")
        }
        let preprocessor: ImagePreprocessor
        do {
            preprocessor = try bundle.loadPreprocessor(imageSize: vision.config.imageSize)
        } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
        for start in stride(from: 0, to: paths.count, by: batch) {
            var decoded: [(String, RGBImage)] = []
            for path in paths[start..<min(start + batch, paths.count)] {
                do {
                    decoded.append((path, try MediaSource(path: path, limits: limits).decodeImage()))
                } catch {
                    try deliver(.failure(EngineError(wrapping: error, file: path)))
                }
            }
            guard !decoded.isEmpty else { continue }
            let (pixels, _) = preprocessor(decoded.map(\.1))
            let out: ImageEncoding
            do {
                out = try model.encodeImages(pixels, patches: patches, hiddenStates: false)
            } catch {
                throw EngineError(wrapping: error, file: bundle.folder)
            }
            let embeds = out.imageEmbeds?.rows
            let patchRows = out.patchEmbeds?.rows
            let n = out.patchEmbeds?.shape[1] ?? 0
            for (i, (path, _)) in decoded.enumerated() {
                try deliver(
                    .success(
                        ImageEmbedding(
                            path: path, imageEmbeds: embeds?[i],
                            patchEmbeds: patchRows.map { Array($0[(i * n)..<((i + 1) * n)]) })))
            }
        }
    }

    /// Tokenizes and embeds texts `batch` at a time; with `hiddenStates`, also the last hidden state.
    public func embedTexts(_ texts: [String], batch: Int, hiddenStates: Bool) throws(EngineError) -> [TextEmbedding] {
        precondition(batch > 0, "batch must be positive")
        do {
            let tokenizer = try bundle.loadTokenizer()
            var lines: [TextEmbedding] = []
            for start in stride(from: 0, to: texts.count, by: batch) {
                let chunk = Array(texts[start..<min(start + batch, texts.count)])
                let encoded = chunk.map(tokenizer.encodePadded)
                let out = try model.encodeTexts(encoded.map(\.ids), hiddenStates: hiddenStates)
                let (embeds, pooled, states) = (out.textEmbeds?.rows, out.pooled.rows, out.lastHiddenState?.rows)
                let length = out.lastHiddenState?.shape[1] ?? 0
                for (i, line) in chunk.enumerated() {
                    lines.append(
                        TextEmbedding(
                            text: line, inputIds: encoded[i].ids, truncated: encoded[i].truncated,
                            textEmbeds: embeds?[i], pooled: pooled[i],
                            lastHiddenState: states.map { Array($0[(i * length)..<((i + 1) * length)]) }))
                }
            }
            return lines
        } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
    }
}
