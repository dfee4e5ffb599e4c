import Foundation
import Vision

/// CLIP checkpoints with random weights, for tests and benchmarks: a `config.json` and a
/// `model.safetensors` whose keys and shapes come from the engine's own loading code
/// (``CLIPModel/weightShapes(_:)``), written tensor by tensor so a full-size model never sits in
/// memory whole. The Python references load the same files.
public enum RandomCLIP {
    /// ViT-B/32: 12 layers of width 768 (vision) and 512 (text), projection 512.
    public static let vitB32 = """
        {"model_type": "clip", "projection_dim": 512,
         "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                           "num_attention_heads": 12, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu"},
         "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                         "num_attention_heads": 8, "max_position_embeddings": 77, "vocab_size": 49408,
                         "hidden_act": "quick_gelu", "eos_token_id": 2}}
        """

    /// Stable Diffusion 1.x's text encoder geometry: 768 wide, 12 layers, no projection.
    public static let sdTextEncoder = """
        {"model_type": "clip_text_model", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
         "num_attention_heads": 12, "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu",
         "eos_token_id": 2, "projection_dim": 768}
        """

    /// A checkpoint for `config` in `folder`, written unless one is there already, with the
    /// tokenizer files (`vocab.json`, `merges.txt`) of the fixture model `tokenizer` (a folder below
    /// `fixtures/models/`, which carry the real CLIP vocabulary). For benchmarks.
    public static func prepare(config: String, in folder: String, tokenizer: String) throws {
        if !FileManager.default.fileExists(atPath: folder + "/model.safetensors") {
            print("writing a random checkpoint to \(folder) …")
            try write(config: config, to: folder)
        }
        for file in ["vocab.json", "merges.txt"] where !FileManager.default.fileExists(atPath: folder + "/" + file) {
            try FileManager.default.copyItem(
                atPath: Fixtures.path("models/\(tokenizer)/\(file)"), toPath: folder + "/" + file)
        }
    }

    /// Writes `config` (a `config.json` text) and random weights for it into `folder`: norm weights
    /// 1, everything else uniform in ±0.02 from a fixed generator, tensors in name order. A CLIP
    /// model also gets `logit_scale`, as `transformers` saves it.
    public static func write(config: String, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try config.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let configuration = try CLIPConfiguration(contentsOf: folder + "/config.json")
        var shapes = try CLIPModel.weightShapes(configuration)
        if configuration.modelType == "clip" { shapes["logit_scale"] = [] }
        var state: UInt64 = 0x1234_5678
        try SafeTensorsWriter.writeStreaming(shapes: shapes, to: folder + "/model.safetensors") { name, shape in
            let count = shape.reduce(1, *)
            if name.hasSuffix("norm.weight") || name.contains("layer_norm") && name.hasSuffix(".weight") {
                return [Float](repeating: 1, count: count)
            }
            return (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 0.04
            }
        }
    }
}
