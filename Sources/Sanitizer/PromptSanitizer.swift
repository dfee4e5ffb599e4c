import Compute
import Foundation
import GuardrailCore
import Vision

/// One prompt after SAFREE.
public struct SanitizedPrompt: Sendable {
    public var prompt: String
    /// The 77 ids the text encoder saw.
    public var inputIDs: [Int]
    /// Content tokens (after truncation), as vocabulary entries.
    public var tokens: [String]
    /// Whether the prompt was cut to 75 content tokens.
    public var truncated: Bool
    /// `E`, `[77, D]`.
    public var original: [[Float]]
    public var result: SAFREEResult
    /// Cosine between the flattened original and sanitized embeddings.
    public var cosine: Double
    /// False when no row was replaced (the sanitized embeddings are the original bytes).
    public var changed: Bool { !result.triggerPositions.isEmpty }
}

/// SAFREE for a text-to-image pipeline (spec `safree.md`): the concept subspace is built once per
/// model and concept set (and cached), each prompt is encoded, re-encoded with each content token
/// masked, and its trigger rows projected away from the subspace.
public final class PromptSanitizer: Sendable {
    public let folder: String
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    public let concepts: ConceptSet
    public let settings: SAFREESettings
    public let modelSHA256: String
    public let toxic: Subspace
    /// `E_neg`: the encoding of the concepts joined by ", " (the reference's negative prompt), `[77, D]`.
    public let negative: [[Float]]
    /// True when the concept embeddings came from the cache.
    public let conceptsFromCache: Bool
    /// The token id that hides a content token (CLIP's "!", as the reference writes a literal 0).
    public static let maskID = 0

    /// Loads the text encoder of `bundle` (a folder, a Stable Diffusion pipeline folder, or a repo
    /// id in the local Hugging Face cache) and builds the concept subspace, reusing `cache` when given.
    public init(
        bundle: ModelBundle, concepts: ConceptSet, settings: SAFREESettings, compute: ComputeConfiguration = .default,
        cache: ArtifactCache?
    ) throws {
        folder = bundle.folder
        model = try bundle.loadCLIP(compute: compute)
        guard let text = model.text else {
            throw VisionError.invalidInput("\(folder) has no text tower: SAFREE needs a CLIP text encoder")
        }
        let tokenizer = try bundle.loadTokenizer()
        self.tokenizer = tokenizer
        self.concepts = concepts
        self.settings = settings
        modelSHA256 = bundle.sha256
        let d = text.config.hiddenSize
        let key = ArtifactKey(
            kind: "concepts",
            parts: [
                "model": bundle.sha256, "tokenizer": bundle.tokenizerSHA256 ?? "none", "concepts": concepts.sha256,
                "compute": compute.resultKey,
            ])
        var pooled: [[Float]]?
        var negativeRows: [[Float]]?
        if let path = cache?.lookup(key, extension: "safetensors"), let cached = try? SafeTensors.read(path: path),
            let c = cached["concepts"], c.shape == [concepts.concepts.count, d], let n = cached["negative"],
            n.shape == [77, d]
        {
            pooled = c.rows
            negativeRows = n.rows
        }
        conceptsFromCache = pooled != nil && negativeRows != nil
        if !conceptsFromCache {
            let conceptIDs = concepts.concepts.map { tokenizer.encodePadded($0).ids }
            let model = self.model
            pooled = try model.encodeTexts(conceptIDs, hiddenStates: false).pooled.rows
            let negativeIDs = tokenizer.encodePadded(concepts.negativePrompt).ids
            negativeRows = try model.encodeTexts([negativeIDs]).lastHiddenState!.rows
            let bytes = SafeTensorsWriter.encode(
                [
                    "concepts": .init(Tensor(shape: [concepts.concepts.count, d], scalars: pooled!.flatMap { $0 })),
                    "negative": .init(Tensor(shape: [77, d], scalars: negativeRows!.flatMap { $0 })),
                ], metadata: ["key": key.description])
            _ = try? cache?.store(key, extension: "safetensors", data: Data(bytes))
        }
        toxic = Subspace(spanning: pooled!.map { $0.map(Double.init) }, dimension: d)
        negative = negativeRows!
    }

    /// Sanitizes each prompt: its hidden states and its masked re-encodings come from one pass that
    /// shares the unchanged prefix of every masked sequence (exact under the causal mask).
    public func sanitize(_ prompts: [String]) throws -> [SanitizedPrompt] {
        let text = model.text!
        return try prompts.map { prompt in
            let (ids, truncated) = tokenizer.encodePadded(prompt)
            let end = ids.firstIndex(of: tokenizer.endToken) ?? (ids.count - 1)
            let content = Array(ids[1..<end])
            // Each content token hidden in turn; sequences end with EOS even after truncation (spec §4).
            let encoded = try text.encodeWithMaskedTokens(ids, contentCount: content.count, maskID: Self.maskID)
            let original = encoded.lastHiddenState.rows
            let masked = content.isEmpty ? [] : encoded.maskedPooled.rows.map { $0.map(Double.init) }
            let result = applySAFREE(
                embeddings: original, contentCount: content.count, masked: masked, toxic: toxic, settings: settings)
            return SanitizedPrompt(
                prompt: prompt, inputIDs: ids, tokens: content.map { tokenizer.token($0) ?? "?" }, truncated: truncated,
                original: original, result: result,
                cosine: Vectors.cosine(original.flatMap { $0 }, result.sanitized.flatMap { $0 }))
        }
    }
}
