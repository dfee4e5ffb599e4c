import Compute
import TestSupport
import Testing
import Vision

/// The tiny checkpoints against the PyTorch reference (`scripts/gen_vision_fixtures.py`):
/// whole tensors, cosine ≥ 0.99999 per row and max abs difference ≤ 1e-4 of the tensor's scale.
@Suite struct CLIPGoldenTests {
    static func goldens(_ name: String) throws -> [String: Tensor] {
        try SafeTensors.read(path: Fixtures.path("goldens/vision/\(name).safetensors"))
    }

    static func expectClose(_ actual: Tensor?, _ expected: Tensor?, _ label: String) {
        guard let actual, let expected else {
            Issue.record("\(label): missing tensor")
            return
        }
        guard actual.shape == expected.shape else {
            Issue.record("\(label): shape \(actual.shape), expected \(expected.shape)")
            return
        }
        let comparison = TensorComparison(actual, expected)
        #expect(comparison.relative <= 1e-4 && comparison.minRowCosine >= 0.99999, "\(label): \(comparison)")
    }

    @Test(arguments: ["clip-b32-tiny", "clip-b16-tiny"])
    func imageTower(name: String) throws {
        let model = try CLIPModel(folder: Fixtures.path("models/\(name)"))
        let golden = try Self.goldens(name)
        let pixels = try #require(golden["pixel_values"])
        let value = try model.encodeImages(pixels, patches: .valuePath)
        Self.expectClose(value.imageEmbeds, golden["image_embeds"], "\(name) image_embeds")
        Self.expectClose(value.pooled, golden["vision_pooled"], "\(name) pooled")
        Self.expectClose(value.lastHiddenState, golden["vision_last_hidden_state"], "\(name) last_hidden_state")
        Self.expectClose(value.patchEmbeds, golden["patch_embeds_value"], "\(name) patch embeds (value path)")
        // Embeddings only: the last layer runs for the class token, with the same results.
        let short = try model.encodeImages(pixels, patches: .valuePath, hiddenStates: false)
        #expect(short.lastHiddenState == nil)
        Self.expectClose(short.imageEmbeds, golden["image_embeds"], "\(name) image_embeds, embeddings only")
        Self.expectClose(short.patchEmbeds, golden["patch_embeds_value"], "\(name) patch embeds, embeddings only")
        let plain = try model.encodeImages(pixels, patches: .plain)
        Self.expectClose(plain.patchEmbeds, golden["patch_embeds_plain"], "\(name) patch embeds (plain)")
    }

    @Test(arguments: ["clip-b32-tiny", "clip-b16-tiny", "sd-tiny"])
    func textTower(name: String) throws {
        let folder = name == "sd-tiny" ? "models/sd-tiny/text_encoder" : "models/\(name)"
        let model = try CLIPModel(folder: Fixtures.path(folder))
        let golden = try Self.goldens(name)
        let idsTensor = try #require(golden["input_ids"])
        let length = idsTensor.shape[1]
        let flat = idsTensor.scalars.map { Int($0) }
        let ids = stride(from: 0, to: flat.count, by: length).map { Array(flat[$0..<$0 + length]) }
        let out = try model.encodeTexts(ids)
        Self.expectClose(out.lastHiddenState, golden["text_last_hidden_state"], "\(name) last_hidden_state")
        Self.expectClose(out.pooled, golden["text_pooled"], "\(name) pooled")
        // Embeddings only: the tower stops after the last end-of-text position, with the same result.
        let short = try model.encodeTexts(ids, hiddenStates: false)
        #expect(short.lastHiddenState == nil)
        Self.expectClose(short.pooled, golden["text_pooled"], "\(name) pooled, embeddings only")
        if name == "sd-tiny" {
            #expect(out.textEmbeds == nil)
        } else {
            Self.expectClose(out.textEmbeds, golden["text_embeds"], "\(name) text_embeds")
        }
    }

    /// Weights left in the checkpoint's layout (what `model inspect` loads) give the same results.
    @Test func unpackedWeightsAgree() throws {
        let model = try CLIPModel(folder: Fixtures.path("models/clip-b32-tiny"), packWeights: false)
        let golden = try Self.goldens("clip-b32-tiny")
        let pixels = try #require(golden["pixel_values"])
        Self.expectClose(try model.encodeImages(pixels).imageEmbeds, golden["image_embeds"], "unpacked image_embeds")
    }

    /// Passes running at once (sharing the model's workspaces and the thread pool, which a second
    /// caller finds busy and runs inline) give the goldens too.
    @Test func concurrentPassesAgree() async throws {
        let model = try CLIPModel(folder: Fixtures.path("models/clip-b16-tiny"))
        let golden = try Self.goldens("clip-b16-tiny")
        let pixels = try #require(golden["pixel_values"])
        try await withThrowingTaskGroup(of: ImageEncoding.self) { group in
            for _ in 0..<6 { group.addTask { try model.encodeImages(pixels, patches: .valuePath) } }
            for try await encoding in group {
                Self.expectClose(encoding.imageEmbeds, golden["image_embeds"], "concurrent image_embeds")
                Self.expectClose(encoding.patchEmbeds, golden["patch_embeds_value"], "concurrent patch embeds")
            }
        }
    }

    /// Models with different compute configurations (thread counts and, where the CPU has both,
    /// kernel paths) run at the same time without touching shared settings, each giving the
    /// goldens; text and vision towers at once.
    @Test func differentConfigurationsRunSideBySide() async throws {
        let golden = try Self.goldens("clip-b16-tiny")
        let pixels = try #require(golden["pixel_values"])
        let ids = try #require(golden["input_ids"]).scalars.map { Int($0) }
        let length = try #require(golden["input_ids"]).shape[1]
        let sequences = stride(from: 0, to: ids.count, by: length).map { Array(ids[$0..<($0 + length)]) }
        var configurations: [ComputeConfiguration] = []
        for kernel in ComputeConfiguration.availableKernels {
            for threads in [1, 2, 3] { configurations.append(ComputeConfiguration(threads: threads, kernel: kernel)) }
        }
        let models = try configurations.map {
            try CLIPModel(folder: Fixtures.path("models/clip-b16-tiny"), compute: $0)
        }
        try await withThrowingTaskGroup(of: (ComputeConfiguration, ImageEncoding, TextEncoding).self) { group in
            for model in models + models {
                group.addTask {
                    (model.compute, try model.encodeImages(pixels), try model.encodeTexts(sequences))
                }
            }
            var packed: [ComputeConfiguration.Kernel: Set<[UInt32]>] = [:]
            for try await (compute, image, text) in group {
                Self.expectClose(image.imageEmbeds, golden["image_embeds"], "\(compute) image_embeds")
                Self.expectClose(text.textEmbeds, golden["text_embeds"], "\(compute) text_embeds")
                if compute.packed {
                    let bits = (image.imageEmbeds!.scalars + text.textEmbeds!.scalars).map(\.bitPattern)
                    packed[compute.kernel, default: []].insert(bits)
                }
            }
            // A packed kernel splits output columns between workers: the same bits on any thread
            // count (which is why its cache keys leave the thread count out).
            for (kernel, results) in packed { #expect(results.count == 1, "\(kernel)") }
        }
    }
}
