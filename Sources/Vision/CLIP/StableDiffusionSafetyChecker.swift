import Compute
import Foundation

/// One image's verdict from ``StableDiffusionSafetyChecker``, with the numbers behind it.
public struct SafetyCheckerResult: Sendable, Hashable {
    /// diffusers' `has_nsfw_concepts` entry: some concept score is above 0.
    public var hasNSFWConcept: Bool
    /// Per concept (17 in the published checkpoint): cosine − threshold (+ 0.01 once a special-care
    /// concept matched), rounded to 3 decimals as diffusers rounds it.
    public var conceptScores: [Float]
    /// Per special-care concept (3 in the published checkpoint), computed the same way.
    public var specialScores: [Float]
    /// Indices of concepts with a score above 0.
    public var badConcepts: [Int]
    /// Indices of special-care concepts with a score above 0.
    public var specialCare: [Int]
}

/// diffusers' `StableDiffusionSafetyChecker` (UnsafeBench's "SD_Filter"): a CLIP vision tower and
/// `visual_projection`, compared by cosine with fixed concept embeddings and per-concept thresholds.
public final class StableDiffusionSafetyChecker: Sendable {
    public let vision: CLIPVisionTransformer
    let visualProjection: Linear
    let conceptEmbeds: Tensor
    let specialCareEmbeds: Tensor
    let conceptEmbedsWeights: Tensor
    let specialCareEmbedsWeights: Tensor
    /// The preprocessing of the checkpoint's `preprocessor_config.json` (CLIP's 224 by default).
    public let preprocessor: ImagePreprocessor

    /// Loads the checker from a folder holding `config.json` and `model.safetensors` (the
    /// `safety_checker/` folder of a Stable Diffusion pipeline), strictly; `compute` and
    /// `packWeights` as in ``CLIPModel/init(folder:compute:packWeights:)``. The preprocessing comes
    /// from `preprocessorConfig` (default: the folder's `preprocessor_config.json`, if any).
    public init(
        folder: String, preprocessorConfig: String? = nil, compute: ComputeConfiguration = .default,
        packWeights: Bool? = nil
    ) throws(VisionError) {
        let config = try CLIPConfiguration(contentsOf: folder + "/config.json")
        guard let visionConfig = config.visionConfig else {
            throw VisionError.invalidConfiguration(path: folder + "/config.json", message: "no vision_config")
        }
        let store = try WeightStore(folder: folder)
        store.compute = compute
        store.packsLinearWeights = packWeights ?? true
        let p = config.projectionDim
        // The published checkpoint nests CLIPVisionModel's own "vision_model." prefix; transformers 5
        // writes it once.
        let nested = store.contains("vision_model.vision_model.embeddings.class_embedding")
        vision = try CLIPVisionTransformer(
            loading: store, prefix: nested ? "vision_model.vision_model." : "vision_model.", config: visionConfig)
        visualProjection = try Linear(
            loading: store, prefix: "visual_projection", in: visionConfig.hiddenSize, out: p, bias: false)
        let concepts = store.shape(of: "concept_embeds")?.first ?? 17
        let special = store.shape(of: "special_care_embeds")?.first ?? 3
        conceptEmbeds = try store.take("concept_embeds", shape: [concepts, p])
        specialCareEmbeds = try store.take("special_care_embeds", shape: [special, p])
        conceptEmbedsWeights = try store.take("concept_embeds_weights", shape: [concepts])
        specialCareEmbedsWeights = try store.take("special_care_embeds_weights", shape: [special])
        try store.verify()
        let preprocessorPath = preprocessorConfig ?? folder + "/preprocessor_config.json"
        preprocessor =
            FileManager.default.fileExists(atPath: preprocessorPath)
            ? try ImagePreprocessor(contentsOf: preprocessorPath, imageSize: visionConfig.imageSize)
            : ImagePreprocessor(imageSize: visionConfig.imageSize)
    }

    /// Loads the checker of a resolved ``ModelBundle`` (resolved with ``ModelRole/safetyChecker``).
    public convenience init(bundle: ModelBundle, compute: ComputeConfiguration = .default, packWeights: Bool? = nil)
        throws(VisionError)
    {
        try self.init(
            folder: bundle.folder, preprocessorConfig: bundle.preprocessorConfig, compute: compute,
            packWeights: packWeights)
    }

    /// The projected image embeddings `[batch, projection_dim]` of preprocessed pixels.
    public func imageEmbeds(_ pixels: Tensor) throws(VisionError) -> Tensor {
        visualProjection.project(try vision.forward(pixels, patches: nil, hiddenStates: false).pooled)
    }

    /// The verdict for each image of a preprocessed batch, following diffusers' `forward` step by step.
    public func check(_ pixels: Tensor) throws(VisionError) -> [SafetyCheckerResult] {
        let embeds = try imageEmbeds(pixels)
        let special = cosine(embeds, specialCareEmbeds)
        let concept = cosine(embeds, conceptEmbeds)
        let specialCount = specialCareEmbeds.shape[0]
        let conceptCount = conceptEmbeds.shape[0]
        return (0..<embeds.shape[0]).map { i in
            var adjustment: Float = 0
            var result = SafetyCheckerResult(
                hasNSFWConcept: false, conceptScores: [], specialScores: [], badConcepts: [], specialCare: [])
            for k in 0..<specialCount {
                let score = Self.rounded(
                    special[i * specialCount + k] - specialCareEmbedsWeights.pointer[k] + adjustment)
                result.specialScores.append(score)
                if score > 0 {
                    result.specialCare.append(k)
                    adjustment = 0.01
                }
            }
            for k in 0..<conceptCount {
                let score = Self.rounded(concept[i * conceptCount + k] - conceptEmbedsWeights.pointer[k] + adjustment)
                result.conceptScores.append(score)
                if score > 0 { result.badConcepts.append(k) }
            }
            result.hasNSFWConcept = !result.badConcepts.isEmpty
            return result
        }
    }

    /// Python's `round(x, 3)` on a float32 score (half to even).
    private static func rounded(_ x: Float) -> Float {
        Float((Double(x) * 1000).rounded(.toNearestOrEven) / 1000)
    }

    /// `normalize(a) · normalize(b)ᵀ`, row-major `[a rows, b rows]`.
    private func cosine(_ a: Tensor, _ b: Tensor) -> [Float] {
        let width = a.shape[1]
        let na = Tensor(shape: a.shape, scalars: a.scalars)
        let nb = Tensor(shape: b.shape, scalars: b.scalars)
        normalizeRows(na.storage.pointer, rows: a.shape[0], width: width)
        normalizeRows(nb.storage.pointer, rows: b.shape[0], width: width)
        var out = [Float](repeating: 0, count: a.shape[0] * b.shape[0])
        out.withUnsafeMutableBufferPointer { c in
            GEMM.strided(
                na.pointer, lda: width, nb.pointer, ldb: width, into: c.baseAddress!, ldc: b.shape[0], m: a.shape[0],
                n: b.shape[0], k: width, transposeB: true)
        }
        return out
    }
}
