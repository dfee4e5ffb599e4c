import Foundation
import TestSupport
import Testing
import Vision

/// The checkpoint layout read from the loading code matches what `transformers` saved for the
/// fixtures (an independent reference), and checkpoints written from it load strictly.
@Suite struct RandomCLIPTests {
    @Test(arguments: ["clip-b32-tiny", "clip-b16-tiny", "sd-tiny/text_encoder"])
    func layoutMatchesTransformers(model: String) throws {
        let folder = Fixtures.path("models/" + model)
        var shapes = try CLIPModel.weightShapes(CLIPConfiguration(contentsOf: folder + "/config.json"))
        var saved: [String: [Int]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder) where file.hasSuffix(".safetensors") {
            for (key, tensor) in try SafeTensors.read(path: folder + "/" + file) { saved[key] = tensor.shape }
        }
        // Buffers the loader drops on purpose are not weights.
        saved = saved.filter { !$0.key.hasSuffix("position_ids") && $0.key != "logit_scale" }
        // transformers 5 saves a bare text model without the `text_model.` prefix the published
        // Stable Diffusion encoders (and the recorded layout) keep; the loader takes both.
        if saved["embeddings.token_embedding.weight"] != nil {
            shapes = Dictionary(
                uniqueKeysWithValues: shapes.map { (String($0.key.dropFirst("text_model.".count)), $0.value) })
        }
        #expect(shapes.keys.sorted() == saved.keys.sorted())
        for (key, shape) in saved {
            // The patch embedding is a convolution kernel [d, 3, p, p] in both.
            #expect(shapes[key] == shape, "\(key)")
        }
    }

    @Test func writtenCheckpointsLoadStrictly() throws {
        let folder = NSTemporaryDirectory() + "guardrail-random-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = """
            {"model_type": "clip", "projection_dim": 8,
             "vision_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "image_size": 32, "patch_size": 16},
             "text_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                             "num_attention_heads": 2, "vocab_size": 100}}
            """
        try RandomCLIP.write(config: config, to: folder)
        let model = try CLIPModel(folder: folder)
        let out = try model.encodeTexts([[1, 5, 99]])
        #expect(out.textEmbeds?.shape == [1, 8])
        #expect(try SafeTensors.read(path: folder + "/model.safetensors")["logit_scale"]?.shape == [])
    }
}
