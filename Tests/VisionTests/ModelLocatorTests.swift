import Foundation
import TestSupport
import Testing
import Vision

@Suite struct ModelLocatorTests {
    /// A Hugging Face cache laid out as huggingface_hub writes it: blobs, snapshots of symlinks, refs/main.
    func makeCache() throws -> String {
        let cache = NSTemporaryDirectory() + "guardrail-hub-\(UInt32.random(in: 0...UInt32.max))"
        let repo = cache + "/models--acme--tiny-clip"
        let snapshot = repo + "/snapshots/0123abcd"
        let fm = FileManager.default
        try fm.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/snapshots/old", withIntermediateDirectories: true)
        try "0123abcd".write(toFile: repo + "/refs/main", atomically: true, encoding: .utf8)
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            try fm.createSymbolicLink(
                atPath: snapshot + "/" + file, withDestinationPath: Fixtures.path("models/clip-b32-tiny/\(file)"))
        }
        return cache
    }

    @Test func repoIdResolvesThroughRefsMain() throws {
        let cache = try makeCache()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let folder = try ModelLocator.resolve("acme/tiny-clip", environment: ["HF_HUB_CACHE": cache])
        #expect(folder.hasSuffix("/snapshots/0123abcd"))
        let model = try CLIPModel(folder: folder)
        #expect(model.vision != nil && model.text != nil)
    }

    @Test func cacheFolderFollowsTheHubVariables() {
        #expect(ModelLocator.cacheFolder(environment: ["HF_HUB_CACHE": "/a", "HF_HOME": "/b"]) == "/a")
        #expect(ModelLocator.cacheFolder(environment: ["HF_HOME": "/b", "HOME": "/h"]) == "/b/hub")
        #expect(ModelLocator.cacheFolder(environment: ["HOME": "/h"]) == "/h/.cache/huggingface/hub")
    }

    @Test func missingModelSaysWhereItLooked() {
        do {
            _ = try ModelLocator.resolve("acme/absent", environment: ["HF_HUB_CACHE": "/nonexistent-cache"])
            Issue.record("resolved a missing model")
        } catch {
            guard case .modelNotFound(_, let searched) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(searched.contains { $0.hasPrefix("/nonexistent-cache/models--acme--absent") })
            #expect("\(error)".contains("Place a folder"))
        }
    }

    @Test func stableDiffusionLayout() throws {
        let folder = ModelLocator.modelFolder(Fixtures.path("models/sd-tiny"))
        #expect(folder.hasSuffix("sd-tiny/text_encoder"))
        #expect(ModelLocator.tokenizerFolder(forModel: folder).hasSuffix("sd-tiny/tokenizer"))
        let tokenizer = try CLIPTokenizer(folder: ModelLocator.tokenizerFolder(forModel: folder))
        // Stable Diffusion 1.x pads with the end token.
        #expect(tokenizer.padToken == tokenizer.endToken)
    }
}
