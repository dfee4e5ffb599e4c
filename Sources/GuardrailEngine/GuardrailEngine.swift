import Dispatch
import Foundation
import Media
import Policy
import Vision

/// Every knob of a scan.
public struct ScanSettings: Sendable {
    public var sampling = SamplingOptions()
    public var limits = MediaLimits.default
    public var scoring = ScoringSettings()
    public var variant = PatchEmbeddingVariant.valuePath
    /// Evidence for every policy, not only flagged ones.
    public var explainAll = false
    /// Stop decoding once no verdict can change.
    public var earlyExit = false
    /// Frames per forward pass.
    public var batch = 8
    /// Thresholds by policy id or name, overriding calibrated ones.
    public var thresholdOverrides: [String: Float] = [:]

    public init() {}
}

/// Wall time of a scan's stages, in seconds.
public struct ScanTimings: Sendable {
    public init() {}

    /// Probing, decoding, sampling and converting frames.
    public var decode = 0.0
    /// Preprocessing and the vision tower.
    public var encode = 0.0
    /// Relevance, pruning, scoring and aggregation.
    public var score = 0.0
}

/// The engine's version, reported with every result.
public let engineVersion = "0.1.0"

/// Policy-following moderation with a CLIP model (SafeWatch mechanisms A and B, spec §3, §5–§7):
/// policies encoded once (and cached), frames sampled, encoded in batches, scored per policy,
/// aggregated into verdicts with evidence.
public final class GuardrailEngine: @unchecked Sendable {
    public let modelFolder: String
    public let model: CLIPModel
    public let preprocessor: ImagePreprocessor
    public let policySet: PolicySet
    public let encoded: EncodedPolicySet
    public let modelSHA256: String
    /// θ per policy (override, else a calibration made for this model, else nil).
    public let thresholds: [Float?]
    public let settings: ScanSettings
    /// True when the policy embeddings came from the cache.
    public let policiesFromCache: Bool

    /// Loads the model (folder or Hugging Face repo id) and the policies (file or folder), encoding
    /// the policies unless the cache already holds them for this model, file and encoder.
    public init(model reference: String, policies path: String, settings: ScanSettings, cache: EngineCache?) throws {
        modelFolder = ModelLocator.modelFolder(try ModelLocator.resolve(reference))
        model = try CLIPModel(folder: modelFolder)
        guard let vision = model.vision, model.text != nil else {
            throw VisionError.invalidInput(
                "\(modelFolder): scanning needs a CLIP model with both towers and projections")
        }
        preprocessor = try ImagePreprocessor(
            contentsOf: modelFolder + "/preprocessor_config.json", imageSize: vision.config.imageSize)
        policySet = try PolicySet.load(path)
        self.settings = settings
        modelSHA256 = try cache?.modelSHA256(folder: modelFolder) ?? "not computed (no cache)"
        let key = SHA256.hex(Array("policy-encoding-v1|\(modelSHA256)|\(policySet.sha256)".utf8))
        if let cached = cache?.policies(key: key, set: policySet) {
            encoded = cached
            policiesFromCache = true
        } else {
            let tokenizer = try CLIPTokenizer(folder: ModelLocator.tokenizerFolder(forModel: modelFolder))
            encoded = try PolicyEncoder(model: model, tokenizer: tokenizer).encode(policySet)
            policiesFromCache = false
            try? cache?.store(encoded, key: key)
        }
        let sha = modelSHA256
        thresholds = policySet.policies.map { policy in
            if let value = settings.thresholdOverrides[policy.id] ?? settings.thresholdOverrides[policy.name] {
                return value
            }
            guard let threshold = policy.threshold, threshold.modelSHA256 == nil || threshold.modelSHA256 == sha
            else { return nil }
            return threshold.value
        }
    }

    /// Moderates one image or video; `timings`, when given, receives where the time went.
    public func scan(
        _ path: String, progress: (Int) -> Void = { _ in }, timings: ((ScanTimings) -> Void)? = nil
    ) throws -> ScanReport {
        var spent = ScanTimings()
        var mark = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { mark = now }
            return Double(now - mark) / 1e9
        }
        let vision = model.vision!
        let grid = vision.config.gridSize
        let patchSize = vision.config.patchSize
        var aggregator = VideoAggregator(
            policies: policySet, encoded: encoded, thresholds: thresholds, settings: settings.scoring,
            explainAll: settings.explainAll)
        var done = 0
        let walk = try walkFrames(
            path: path, sampling: settings.sampling, limits: settings.limits, batch: settings.batch,
            shortestSide: preprocessor.shortestEdge
        ) { frames, images in
            spent.decode += lap()
            let (pixels, transforms) = preprocessor(images)
            let encoding = try model.encodeImages(pixels, patches: settings.variant, hiddenStates: false)
            spent.encode += lap()
            let d = encoded.dimension
            let globals = encoding.imageEmbeds!.scalars
            let patches = encoding.patchEmbeds!.scalars
            let n = grid * grid
            for (i, frame) in frames.enumerated() {
                let features = FrameFeatures(
                    index: frame.index, timestamp: frame.timestamp, interval: frame.interval[0]...frame.interval[1],
                    global: normalized(Array(globals[(i * d)..<((i + 1) * d)])),
                    patches: Array(patches[(i * n * d)..<((i + 1) * n * d)]), grid: grid, patchSize: patchSize,
                    transform: transforms[i])
                aggregator.add(features, scores: scoreFrame(features, policies: encoded, settings: settings.scoring))
            }
            spent.score += lap()
            done += frames.count
            progress(done)
            return settings.earlyExit && aggregator.isDecided
        }
        spent.decode += lap()
        timings?(spent)
        return ScanReport(
            path: path, engine: engineInfo(),
            media: MediaSection(
                path: path, kind: walk.kind.rawValue, durationSeconds: walk.duration, framesSampled: walk.frames,
                framesSkipped: walk.skipped, earlyExit: walk.stoppedEarly),
            policies: aggregator.verdicts(), pruning: aggregator.pruning)
    }

    func engineInfo() -> EngineInfo {
        EngineInfo(
            version: engineVersion, classifier: "clip-policy", model: modelFolder, modelSHA256: modelSHA256,
            policySet: policySet.name, policyVersion: policySet.version, policySHA256: policySet.sha256,
            settings: engineSettings(settings, variant: settings.variant.rawValue))
    }
}

/// The settings as reported (SafeWatch §6.8); `scoring` false for classifiers without the policy scoring.
func engineSettings(_ settings: ScanSettings, variant: String, scoring: Bool = true) -> EngineSettings {
    let sampling: String
    var fps: Double?
    switch settings.sampling.strategy {
    case .every(let seconds):
        sampling = "fps"
        fps = 1 / seconds
    case .keyframes: sampling = "keyframes"
    case .shots: sampling = "shots"
    }
    let s = settings.scoring
    return EngineSettings(
        sampling: sampling, fps: fps, maxFrames: settings.sampling.maxFrames, rho: scoring ? s.keepRatio : nil,
        tau: scoring ? s.temperature : nil, lambda: scoring ? s.lambda : nil, delta: scoring ? s.delta : nil,
        variant: variant, minFlaggedFrames: s.minFlaggedFrames)
}
