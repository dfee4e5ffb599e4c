import Foundation
import GuardrailCore
import TestSupport
import Testing
import Vision

@Suite struct ModelBundleTests {
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
        let bundle = try ModelBundle(Fixtures.path("models/sd-tiny"))
        #expect(bundle.folder.hasSuffix("sd-tiny/text_encoder"))
        #expect(bundle.tokenizerFolder?.hasSuffix("sd-tiny/tokenizer") == true)
        let tokenizer = try bundle.loadTokenizer()
        // Stable Diffusion 1.x pads with the end token.
        #expect(tokenizer.padToken == tokenizer.endToken)
        #expect(bundle.tokenizerSHA256?.count == 64)
    }

    /// A pipeline folder stands for the component the caller asks for, safety checker included,
    /// with the pipeline's feature extractor as its preprocessing.
    @Test func pipelineComponentsByRole() throws {
        let pipeline = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: pipeline) }
        let fm = FileManager.default
        try fm.createSymbolicLink(
            atPath: pipeline + "/text_encoder", withDestinationPath: Fixtures.path("models/sd-tiny/text_encoder"))
        try fm.createSymbolicLink(
            atPath: pipeline + "/tokenizer", withDestinationPath: Fixtures.path("models/sd-tiny/tokenizer"))
        try fm.createDirectory(atPath: pipeline + "/safety_checker", withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try fm.createSymbolicLink(
                atPath: pipeline + "/safety_checker/" + file,
                withDestinationPath: Fixtures.path("models/safety-checker-tiny/" + file))
        }
        try fm.createDirectory(atPath: pipeline + "/feature_extractor", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: pipeline + "/feature_extractor/preprocessor_config.json",
            withDestinationPath: Fixtures.path("models/safety-checker-tiny/preprocessor_config.json"))
        let text = try ModelBundle(pipeline)
        #expect(text.folder == pipeline + "/text_encoder" && text.tokenizerFolder != nil)
        let checker = try ModelBundle(pipeline, role: .safetyChecker)
        #expect(checker.folder == pipeline + "/safety_checker")
        #expect(checker.preprocessorConfig == pipeline + "/feature_extractor/preprocessor_config.json")
        #expect(checker.sha256 == (try ModelBundle(Fixtures.path("models/safety-checker-tiny"))).sha256)
        _ = try checker.loadSafetyChecker()
    }

    /// Missing pieces are named exactly, with where they were looked for.
    @Test func missingPiecesAreNamed() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message { _ = try ModelBundle(folder) } == "config: config.json not found in \(folder)")
        try FileManager.default.copyItem(
            atPath: Fixtures.path("models/clip-b32-tiny/config.json"), toPath: folder + "/config.json")
        #expect(
            message { _ = try ModelBundle(folder) }
                == "weights: model.safetensors (or model.safetensors.index.json) not found in \(folder)")
        try FileManager.default.createSymbolicLink(
            atPath: folder + "/model.safetensors",
            withDestinationPath: Fixtures.path("models/clip-b32-tiny/model.safetensors"))
        let bundle = try ModelBundle(folder)
        #expect(bundle.tokenizerFolder == nil && bundle.tokenizerSHA256 == nil)
        #expect(message { _ = try bundle.loadTokenizer() } == "tokenizer: vocab.json not found in \(folder)")
        try FileManager.default.copyItem(
            atPath: Fixtures.path("models/clip-b32-tiny/vocab.json"), toPath: folder + "/vocab.json")
        #expect(message { _ = try ModelBundle(folder).loadTokenizer() }.contains("merges.txt"))
    }

    /// A preprocessor configuration whose output does not fit the vision tower is refused at load,
    /// naming both sizes; so is one that keeps images at their own size.
    @Test func preprocessorMustFitTheModel() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            try FileManager.default.createSymbolicLink(
                atPath: folder + "/" + file, withDestinationPath: Fixtures.path("models/clip-b32-tiny/" + file))
        }
        #expect(try ModelBundle(folder).loadPreprocessor(imageSize: 96).cropWidth == 96)  // CLIP's defaults
        let config = folder + "/preprocessor_config.json"
        try #"{"crop_size": 64, "size": 64}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let error = try #require(throws: VisionError.self) { try ModelBundle(folder).loadPreprocessor(imageSize: 96) }
        #expect("\(error)".contains("64×64") && "\(error)".contains("96×96"))
        try #"{"do_center_crop": false}"#.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(throws: VisionError.self) { try ModelBundle(folder).loadPreprocessor(imageSize: 96) }
        try #"{"crop_size": {"height": 96, "width": 96}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try ModelBundle(folder).loadPreprocessor(imageSize: 96).cropWidth == 96)
    }

    /// The content hash is the same with or without a cache, and a cached hash is reused until the
    /// files change.
    @Test func contentHashDoesNotDependOnTheCache() throws {
        let cacheFolder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: cacheFolder) }
        let model = Fixtures.path("models/clip-b16-tiny")
        let plain = try ModelBundle(model)
        let cache = ArtifactCache(folder: cacheFolder)
        let first = try ModelBundle(model, hashCache: cache)
        let second = try ModelBundle(model, hashCache: cache)
        #expect(plain.sha256 == first.sha256 && first.sha256 == second.sha256 && plain.sha256.count == 64)
        let entries = try FileManager.default.contentsOfDirectory(atPath: cacheFolder + "/model-hashes")
        #expect(entries.count == 2)  // the weights' hash and the tokenizer's
        // A stale entry is never used for changed files: the key includes sizes and times.
        for entry in entries {
            try String(repeating: "0", count: 64).write(
                toFile: cacheFolder + "/model-hashes/" + entry, atomically: true, encoding: .utf8)
        }
        #expect(try ModelBundle(model, hashCache: cache).sha256 == String(repeating: "0", count: 64))
        #expect(try ModelBundle(model).sha256 == plain.sha256)
    }

    func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "guardrail-bundle-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}
