import Compute
import Foundation

/// `vision_config` of a Hugging Face CLIP `config.json` (or a bare `CLIPVisionConfig`).
/// Missing keys take the `transformers` defaults (ViT-B/32).
public struct CLIPVisionConfiguration: Codable, Sendable, Hashable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var numChannels = 3
    public var imageSize = 224
    public var patchSize = 32
    public var hiddenAct = Activation.quickGELU
    public var layerNormEps: Float = 1e-5
    /// Only used by bare vision models with a projection; `CLIPModel` uses the top-level value.
    public var projectionDim = 512

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case projectionDim = "projection_dim"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? numChannels
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? patchSize
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? projectionDim
    }

    /// Patches per side (`G`); the sequence is `G² + 1` tokens with the class token.
    public var gridSize: Int { imageSize / patchSize }

    func validate(path: String) throws(VisionError) {
        guard hiddenSize > 0, numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0, patchSize > 0,
            imageSize % patchSize == 0, numHiddenLayers > 0, intermediateSize > 0, numChannels == 3
        else {
            throw VisionError.invalidConfiguration(
                path: path, message: "vision_config is inconsistent (hidden_size, heads, image_size, patch_size)")
        }
    }
}

/// `text_config` of a Hugging Face CLIP `config.json` (or a bare `CLIPTextConfig`).
public struct CLIPTextConfiguration: Codable, Sendable, Hashable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = Activation.quickGELU
    public var layerNormEps: Float = 1e-5
    /// 2 in OpenAI's original configs, which selects the argmax pooling rule.
    public var eosTokenId = 49407
    public var projectionDim = 512

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case eosTokenId = "eos_token_id"
        case projectionDim = "projection_dim"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? eosTokenId
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? projectionDim
    }

    func validate(path: String) throws(VisionError) {
        guard hiddenSize > 0, numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0, vocabSize > 0,
            maxPositionEmbeddings > 0, numHiddenLayers > 0, intermediateSize > 0
        else {
            throw VisionError.invalidConfiguration(path: path, message: "text_config is inconsistent")
        }
    }
}

/// A Hugging Face `config.json` for CLIP: a full `CLIPConfig` (`model_type` `clip`, both towers),
/// or a bare `clip_vision_model` / `clip_text_model` config.
public struct CLIPConfiguration: Sendable, Hashable {
    public var modelType: String
    public var textConfig: CLIPTextConfiguration?
    public var visionConfig: CLIPVisionConfiguration?
    /// The joint embedding width of `CLIPModel`'s projections.
    public var projectionDim: Int

    private struct Raw: Decodable {
        var modelType: String?
        var textConfig: CLIPTextConfiguration?
        var visionConfig: CLIPVisionConfiguration?
        var projectionDim: Int?

        enum CodingKeys: String, CodingKey {
            case modelType = "model_type"
            case textConfig = "text_config"
            case visionConfig = "vision_config"
            case projectionDim = "projection_dim"
        }
    }

    /// Reads `config.json` at `path`.
    public init(contentsOf path: String) throws(VisionError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VisionError.io(path: path, message: "cannot read config.json")
        }
        let raw: Raw
        do {
            raw = try JSONDecoder().decode(Raw.self, from: data)
        } catch {
            throw VisionError.invalidConfiguration(path: path, message: "config.json: \(error)")
        }
        modelType = raw.modelType ?? "clip"
        projectionDim = raw.projectionDim ?? 512
        switch modelType {
        case "clip":
            textConfig = raw.textConfig ?? CLIPTextConfiguration()
            visionConfig = raw.visionConfig ?? CLIPVisionConfiguration()
        case "clip_vision_model":
            visionConfig = try Self.decodeBare(CLIPVisionConfiguration.self, data, path)
            projectionDim = visionConfig!.projectionDim
        case "clip_text_model":
            textConfig = try Self.decodeBare(CLIPTextConfiguration.self, data, path)
            projectionDim = textConfig!.projectionDim
        default:
            throw VisionError.invalidConfiguration(
                path: path,
                message: "model_type \(modelType) is not a CLIP model (clip, clip_vision_model, clip_text_model)")
        }
        try textConfig?.validate(path: path)
        try visionConfig?.validate(path: path)
    }

    private static func decodeBare<T: Decodable>(_ type: T.Type, _ data: Data, _ path: String) throws(VisionError) -> T
    {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw VisionError.invalidConfiguration(path: path, message: "config.json: \(error)")
        }
    }
}
