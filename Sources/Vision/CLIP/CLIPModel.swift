import Compute
import Foundation

/// Image features from ``CLIPModel/encodeImages(_:patches:)``.
public struct ImageEncoding: Sendable {
    /// `[batch, projection_dim]`: projected, not normalised (what `get_image_features` returns).
    /// nil for vision models without a projection.
    public var imageEmbeds: Tensor?
    /// `[batch, hidden]`: `post_layernorm` of the class token.
    public var pooled: Tensor
    /// `[batch, tokens, hidden]`: the encoder output; nil when only embeddings were asked for.
    public var lastHiddenState: Tensor?
    /// `[batch, G², projection_dim]`: unit-length per-patch embeddings in the joint space, when asked for.
    public var patchEmbeds: Tensor?
}

/// Text features from ``CLIPModel/encodeTexts(_:)``.
public struct TextEncoding: Sendable {
    /// `[batch, projection_dim]`: projected, not normalised (`get_text_features`); nil without a projection.
    public var textEmbeds: Tensor?
    /// `[batch, hidden]`: the final-layer-norm row at the pooling position.
    public var pooled: Tensor
    /// `[batch, length, hidden]` after `final_layer_norm` (Stable Diffusion's `prompt_embeds`);
    /// nil when only embeddings were asked for.
    public var lastHiddenState: Tensor?
    /// The pooling (end-of-text) position of each sequence.
    public var poolingPositions: [Int]
}

/// A Hugging Face CLIP checkpoint: `CLIPModel` (both towers and projections), or a bare
/// `CLIPVisionModel`, `CLIPTextModel` or `CLIPTextModelWithProjection` (a Stable Diffusion
/// `text_encoder/`). Loaded strictly from `config.json` + `model.safetensors` (or shards).
public final class CLIPModel: Sendable {
    public let configuration: CLIPConfiguration
    /// The folder the model was loaded from.
    public let folder: String
    /// Threads and kernel path, fixed at load.
    public let compute: ComputeConfiguration
    public let vision: CLIPVisionTransformer?
    public let text: CLIPTextTransformer?
    let visualProjection: Linear?
    /// True when the vision tower has its projection into the joint space (`image_embeds` exist).
    public var hasVisualProjection: Bool { visualProjection != nil }
    let textProjection: Linear?

    /// Loads the model in `folder` (see ``ModelBundle`` for finding one), failing with every
    /// missing, unused or mis-shaped key. With `packWeights` false the linear weights keep the
    /// checkpoint's layout (OpenBLAS products, pages mapped in on demand) instead of a packed copy
    /// for the engine's kernel.
    public convenience init(folder: String, compute: ComputeConfiguration = .default, packWeights: Bool? = nil)
        throws(VisionError)
    {
        let store = try WeightStore(folder: folder)
        store.compute = compute
        store.packsLinearWeights = packWeights ?? true
        try self.init(
            configuration: CLIPConfiguration(contentsOf: folder + "/config.json"), store: store, folder: folder,
            compute: compute)
    }

    /// The keys and shapes of a checkpoint for `configuration`, read from this loading code (nothing
    /// is allocated), in the layout of the published checkpoints (a bare text model's keys under
    /// `text_model.`): what a writer of test or benchmark checkpoints writes, so no second copy of
    /// the weight-name tree exists.
    public static func weightShapes(_ configuration: CLIPConfiguration) throws(VisionError) -> [String: [Int]] {
        let store = WeightStore(recording: ())
        _ = try CLIPModel(configuration: configuration, store: store, folder: "", compute: .default)
        return store.recorded ?? [:]
    }

    private init(
        configuration config: CLIPConfiguration, store: WeightStore, folder: String, compute: ComputeConfiguration
    )
        throws(VisionError)
    {
        self.folder = folder
        self.compute = compute
        configuration = config
        let p = config.projectionDim
        if let v = config.visionConfig {
            let prefix = store.contains("embeddings.class_embedding") ? "" : "vision_model."
            vision = try CLIPVisionTransformer(loading: store, prefix: prefix, config: v)
            let wanted = config.modelType == "clip" || store.contains("visual_projection.weight")
            visualProjection =
                wanted
                ? try Linear(loading: store, prefix: "visual_projection", in: v.hiddenSize, out: p, bias: false) : nil
        } else {
            vision = nil
            visualProjection = nil
        }
        if let t = config.textConfig {
            // transformers 5 saves bare text models without the "text_model." prefix; earlier
            // versions (and Stable Diffusion's published text encoders) keep it.
            let prefix = store.contains("embeddings.token_embedding.weight") ? "" : "text_model."
            text = try CLIPTextTransformer(loading: store, prefix: prefix, config: t)
            let wanted = config.modelType == "clip" || store.contains("text_projection.weight")
            textProjection =
                wanted
                ? try Linear(loading: store, prefix: "text_projection", in: t.hiddenSize, out: p, bias: false) : nil
        } else {
            text = nil
            textProjection = nil
        }
        store.ignore("logit_scale")
        try store.verify()
    }

    /// Encodes a batch of preprocessed images `[batch, 3, image_size, image_size]`; with `patches`,
    /// also the per-patch joint-space embeddings. With `hiddenStates` false the last layer runs for
    /// the class token only (same embeddings, less work) and `lastHiddenState` is nil.
    public func encodeImages(_ pixels: Tensor, patches: PatchEmbeddingVariant? = nil, hiddenStates: Bool = true)
        throws(VisionError) -> ImageEncoding
    {
        guard let vision else { throw VisionError.invalidInput("\(folder) has no vision tower") }
        let out = try vision.forward(pixels, patches: patches, hiddenStates: hiddenStates)
        var embeds: Tensor?
        var patchEmbeds: Tensor?
        if let visualProjection {
            embeds = visualProjection.project(out.pooled)
            if let features = out.patches {
                let z = visualProjection.project(features)
                normalizeRows(z.storage.pointer, rows: z.count / z.shape.last!, width: visualProjection.outFeatures)
                patchEmbeds = z
            }
        } else if patches != nil {
            throw VisionError.invalidInput("\(folder) has no visual_projection: patch embeddings need the joint space")
        }
        return ImageEncoding(
            imageEmbeds: embeds, pooled: out.pooled, lastHiddenState: out.lastHiddenState, patchEmbeds: patchEmbeds)
    }

    /// Encodes token sequences of equal length (as the tokenizer pads them). With `hiddenStates`
    /// false, only embeddings are wanted: the tower stops at the last end-of-text position (exact,
    /// thanks to the causal mask) and `lastHiddenState` is nil.
    public func encodeTexts(_ ids: [[Int]], hiddenStates: Bool = true) throws(VisionError) -> TextEncoding {
        guard let text else { throw VisionError.invalidInput("\(folder) has no text tower") }
        let out = try text.forward(ids, hiddenStates: hiddenStates)
        return TextEncoding(
            textEmbeds: textProjection?.project(out.pooled), pooled: out.pooled,
            lastHiddenState: hiddenStates ? out.lastHiddenState : nil,
            poolingPositions: out.poolingPositions)
    }
}

extension CLIPModel {
    /// Loads the model of a resolved ``ModelBundle``.
    public convenience init(bundle: ModelBundle, compute: ComputeConfiguration = .default, packWeights: Bool? = nil)
        throws(VisionError)
    {
        try self.init(folder: bundle.folder, compute: compute, packWeights: packWeights)
    }
}
