import Compute
import Foundation
import GuardrailCore

/// Which part of a model folder a caller wants; decides the component of a Stable Diffusion
/// pipeline folder (which holds several models, each in its own subfolder).
public enum ModelRole: String, Sendable, Hashable {
    /// A CLIP model or CLIP text encoder: a pipeline stands for its `text_encoder/`.
    case clip
    /// diffusers' safety checker: a pipeline stands for its `safety_checker/`.
    case safetyChecker = "safety checker"

    var pipelineComponent: String { self == .clip ? "text_encoder" : "safety_checker" }
}

/// A model resolved once: the folder (from a path, a Stable Diffusion pipeline folder, or a
/// Hugging Face repo id in the local cache), its configuration, weight files, preprocessor
/// configuration and tokenizer folder, and the content hash reports and caches are keyed by.
/// Every command resolves models through this one type, so they all follow one rule.
public struct ModelBundle: Sendable, Hashable {
    /// What the user named.
    public let reference: String
    /// The folder holding `config.json` and the weights.
    public let folder: String
    public let configuration: CLIPConfiguration
    /// `model.safetensors`, or the shards its index lists, as paths.
    public let weightFiles: [String]
    /// `preprocessor_config.json` (beside the model, or a pipeline's `feature_extractor/`), if any.
    public let preprocessorConfig: String?
    /// The folder with the tokenizer files (the model folder, or a pipeline's `tokenizer/`), if any.
    public let tokenizerFolder: String?
    /// SHA-256 over `config.json` and every `*.safetensors` file of the folder (names sorted, each
    /// name then its bytes). Always computed: a verdict calibrated for a model must not depend on
    /// whether a cache was used.
    public let sha256: String
    /// SHA-256 over the tokenizer files, for cache keys of anything tokenized; nil without a tokenizer.
    public let tokenizerSHA256: String?

    static let tokenizerFiles = ["vocab.json", "merges.txt", "tokenizer_config.json", "bpe_simple_vocab_16e6.txt.gz"]

    /// Resolves `reference` for `role`. `hashCache` remembers content hashes by path, size and
    /// modification time, so a repeat costs a few `stat`s instead of reading the weights again.
    public init(
        _ reference: String, role: ModelRole = .clip, hashCache: ArtifactCache? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(VisionError) {
        self.reference = reference
        let root = try ModelLocator.resolve(reference, environment: environment)
        let fm = FileManager.default
        var folder = root
        var pipeline = false
        if !fm.fileExists(atPath: root + "/config.json"),
            fm.fileExists(atPath: root + "/\(role.pipelineComponent)/config.json")
        {
            folder = root + "/" + role.pipelineComponent
            pipeline = true
        }
        self.folder = folder
        guard fm.fileExists(atPath: folder + "/config.json") else {
            throw VisionError.incompleteModel(
                part: "config",
                message: "config.json not found in \(folder)"
                    + (role == .clip ? "" : " (nor a \(role.pipelineComponent)/ folder with one)"))
        }
        configuration = try CLIPConfiguration(contentsOf: folder + "/config.json")
        weightFiles = try Self.weightFiles(in: folder)
        let preprocessorCandidates = [folder, pipeline ? root + "/feature_extractor" : nil].compactMap { $0 }
        preprocessorConfig = preprocessorCandidates.map { $0 + "/preprocessor_config.json" }
            .first { fm.fileExists(atPath: $0) }
        let tokenizerCandidates = [folder, pipeline || role == .clip ? folder + "/../tokenizer" : nil].compactMap { $0 }
        let tokenizerFolder = tokenizerCandidates.first {
            fm.fileExists(atPath: $0 + "/vocab.json") || fm.fileExists(atPath: $0 + "/bpe_simple_vocab_16e6.txt.gz")
        }.map { ($0 as NSString).standardizingPath }
        self.tokenizerFolder = tokenizerFolder
        let hashed = try fm.contentsOfDirectoryOrThrow(folder).filter {
            $0 == "config.json" || $0.hasSuffix(".safetensors")
        }.sorted().map { folder + "/" + $0 }
        sha256 = try Self.contentHash(of: hashed, cache: hashCache)
        if let tokenizerFolder {
            tokenizerSHA256 = try Self.contentHash(
                of: Self.tokenizerFiles.map { tokenizerFolder + "/" + $0 }.filter { fm.fileExists(atPath: $0) },
                cache: hashCache)
        } else {
            tokenizerSHA256 = nil
        }
    }

    /// The CLIP model (both towers, or whichever the checkpoint has), loaded strictly.
    public func loadCLIP(compute: ComputeConfiguration = .default, packWeights: Bool? = nil) throws(VisionError)
        -> CLIPModel
    {
        try CLIPModel(bundle: self, compute: compute, packWeights: packWeights)
    }

    /// The safety checker, loaded strictly, with this bundle's preprocessing.
    public func loadSafetyChecker(compute: ComputeConfiguration = .default, packWeights: Bool? = nil)
        throws(VisionError) -> StableDiffusionSafetyChecker
    {
        try StableDiffusionSafetyChecker(bundle: self, compute: compute, packWeights: packWeights)
    }

    /// The tokenizer; names the missing file when there is none.
    public func loadTokenizer() throws(VisionError) -> CLIPTokenizer {
        guard let tokenizerFolder else {
            throw VisionError.incompleteModel(
                part: "tokenizer",
                message: "vocab.json not found in \(folder)"
                    + (folder.hasSuffix("/text_encoder") ? " (nor in \(folder)/../tokenizer)" : ""))
        }
        return try CLIPTokenizer(folder: tokenizerFolder)
    }

    /// The preprocessing for a vision tower taking `imageSize` × `imageSize` pixels: the
    /// checkpoint's `preprocessor_config.json`, or CLIP's defaults without one. A configuration
    /// whose output does not fit the tower is a load error naming both sizes.
    public func loadPreprocessor(imageSize: Int) throws(VisionError) -> ImagePreprocessor {
        guard let preprocessorConfig else { return ImagePreprocessor(imageSize: imageSize) }
        return try ImagePreprocessor(contentsOf: preprocessorConfig, imageSize: imageSize)
    }

    private static func weightFiles(in folder: String) throws(VisionError) -> [String] {
        let single = folder + "/model.safetensors"
        let index = folder + "/model.safetensors.index.json"
        let fm = FileManager.default
        if fm.fileExists(atPath: single) { return [single] }
        guard fm.fileExists(atPath: index) else {
            throw VisionError.incompleteModel(
                part: "weights", message: "model.safetensors (or model.safetensors.index.json) not found in \(folder)")
        }
        guard let data = fm.contents(atPath: index),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let map = json["weight_map"] as? [String: String]
        else {
            throw VisionError.invalidConfiguration(path: index, message: "weight_map missing or not a string map")
        }
        return Set(map.values).sorted().map { folder + "/" + $0 }
    }

    /// SHA-256 over `files` (each file name, then its bytes), remembered in `cache` by the files'
    /// resolved paths, sizes and modification times.
    static func contentHash(of files: [String], cache: ArtifactCache?) throws(VisionError) -> String {
        let fm = FileManager.default
        var stamp: [String] = []
        for file in files {
            guard let attributes = try? fm.attributesOfItem(atPath: file) else {
                throw VisionError.io(path: file, message: "cannot read")
            }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            stamp.append("\((file as NSString).resolvingSymlinksInPath):\(size):\(modified)")
        }
        let key = ArtifactKey(kind: "model-hashes", parts: ["files": stamp.joined(separator: ";")])
        if let path = cache?.lookup(key, extension: "txt"),
            let cached = try? String(contentsOfFile: path, encoding: .utf8), cached.count == 64
        {
            return cached
        }
        var hasher = ContentHash()
        for file in files {
            hasher.update(Array((file as NSString).lastPathComponent.utf8))
            do { try hasher.update(contentsOf: file) } catch {
                throw VisionError.io(path: file, message: error.message)
            }
        }
        let digest = hasher.hexDigest()
        _ = try? cache?.store(key, extension: "txt", data: Data(digest.utf8))
        return digest
    }
}

extension FileManager {
    fileprivate func contentsOfDirectoryOrThrow(_ folder: String) throws(VisionError) -> [String] {
        guard let names = try? contentsOfDirectory(atPath: folder) else {
            throw VisionError.io(path: folder, message: "cannot list the folder")
        }
        return names
    }
}
