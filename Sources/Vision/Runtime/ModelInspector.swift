import Compute
import GuardrailCore

/// What a checkpoint holds and whether it loads strictly (`guardrail model inspect`).
public struct ModelReport: Sendable, Encodable {
    /// `CLIPModel`, `CLIPVisionModel`, `CLIPTextModel`, `CLIPTextModelWithProjection` or `StableDiffusionSafetyChecker`.
    public var architecture: String
    public var folder: String
    /// The content hash reports and caches key on (``ModelBundle/sha256``).
    public var sha256: String
    /// Element count over all tensors.
    public var parameters: Int
    /// Tensor count per stored dtype.
    public var dtypes: [String: Int]
    /// Bytes the weights take as F32 in memory.
    public var f32Bytes: Int
    /// True when strict loading succeeded.
    public var verified: Bool
    /// nil when strict loading succeeded; otherwise the error.
    @NullEncodable public var verificationError: String?
    /// What runs the linear layers (``ComputeConfiguration/kernel``).
    public var kernel: String
    /// Compute threads per forward pass (``ComputeConfiguration/threads``).
    public var threads: Int

    enum CodingKeys: String, CodingKey {
        case architecture, folder, sha256, parameters, dtypes, verified, kernel, threads
        case f32Bytes = "f32_bytes"
        case verificationError = "verification_error"
    }

}

/// Reads a model folder's inventory and runs strict loading on it (without packing the weights:
/// nothing is multiplied).
public enum ModelInspector {
    public static func inspect(_ bundle: ModelBundle, compute: ComputeConfiguration = .default) throws(VisionError)
        -> ModelReport
    {
        let folder = bundle.folder
        let config = bundle.configuration
        let store = try WeightStore(folder: folder)
        let inventory = store.inventory
        let parameters = inventory.reduce(0) { $0 + $1.shape.reduce(1, *) }
        var dtypes: [String: Int] = [:]
        for entry in inventory { dtypes[entry.dtype, default: 0] += 1 }
        let architecture: String
        var verification: String?
        if store.contains("concept_embeds") {
            architecture = "StableDiffusionSafetyChecker"
            do { _ = try StableDiffusionSafetyChecker(bundle: bundle, compute: compute, packWeights: false) } catch {
                verification = "\(error)"
            }
        } else {
            switch (config.modelType, store.contains("text_projection.weight")) {
            case ("clip", _): architecture = "CLIPModel"
            case ("clip_vision_model", _): architecture = "CLIPVisionModel"
            case ("clip_text_model", true): architecture = "CLIPTextModelWithProjection"
            default: architecture = "CLIPTextModel"
            }
            do { _ = try CLIPModel(bundle: bundle, compute: compute, packWeights: false) } catch {
                verification = "\(error)"
            }
        }
        return ModelReport(
            architecture: architecture, folder: folder, sha256: bundle.sha256, parameters: parameters, dtypes: dtypes,
            f32Bytes: parameters * 4,
            verified: verification == nil, verificationError: verification,
            kernel: compute.kernel.rawValue, threads: compute.threads)
    }
}
