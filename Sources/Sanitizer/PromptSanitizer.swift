import Foundation
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
public final class PromptSanitizer: @unchecked Sendable {
    public let folder: String
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    public let concepts: ConceptSet
    public let settings: SAFREESettings
    public let modelSHA256: String?
    public let toxic: Subspace
    /// `E_neg`: the encoding of the concepts joined by ", " (the reference's negative prompt), `[77, D]`.
    public let negative: [[Float]]
    /// True when the concept embeddings came from the cache.
    public let conceptsFromCache: Bool
    /// The token id that hides a content token (CLIP's "!", as the reference writes a literal 0).
    public static let maskID = 0

    /// Loads a text encoder (a folder, a Stable Diffusion pipeline folder, or a repo id in the local
    /// Hugging Face cache) and builds the concept subspace, reusing `cacheFolder` when given.
    public init(textEncoder reference: String, concepts: ConceptSet, settings: SAFREESettings, cacheFolder: String?)
        throws
    {
        folder = ModelLocator.modelFolder(try ModelLocator.resolve(reference))
        model = try CLIPModel(folder: folder)
        guard let text = model.text else {
            throw VisionError.invalidInput("\(folder) has no text tower: SAFREE needs a CLIP text encoder")
        }
        let folder = self.folder
        let tokenizer = try CLIPTokenizer(folder: ModelLocator.tokenizerFolder(forModel: folder))
        self.tokenizer = tokenizer
        self.concepts = concepts
        self.settings = settings
        let modelSHA256 = try cacheFolder.map { try ModelHash.sha256(folder: folder, cacheFolder: $0 + "/models") }
        self.modelSHA256 = modelSHA256
        let d = text.config.hiddenSize
        let key = SHA256.hex(Array("safree-concepts-v1|\(modelSHA256 ?? folder)|\(concepts.sha256)".utf8))
        let cachePath = cacheFolder.map { $0 + "/concepts/" + key + ".safetensors" }
        var pooled: [[Float]]?
        var negativeRows: [[Float]]?
        if let cachePath, FileManager.default.fileExists(atPath: cachePath),
            let cached = try? SafeTensors.read(path: cachePath),
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
            if let cachePath {
                try? SafeTensorsWriter.write(
                    [
                        "concepts": .init(
                            Tensor(shape: [concepts.concepts.count, d], scalars: pooled!.flatMap { $0 })),
                        "negative": .init(Tensor(shape: [77, d], scalars: negativeRows!.flatMap { $0 })),
                    ], to: cachePath)
            }
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
                cosine: cosine(original.flatMap { $0 }, result.sanitized.flatMap { $0 }))
        }
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0
    var na = 0.0
    var nb = 0.0
    for i in a.indices {
        dot += Double(a[i]) * Double(b[i])
        na += Double(a[i]) * Double(a[i])
        nb += Double(b[i]) * Double(b[i])
    }
    return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
}
