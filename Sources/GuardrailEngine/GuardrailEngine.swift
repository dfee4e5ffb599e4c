import Compute
import Detector
import Dispatch
import Foundation
import GuardrailCore
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
    /// Threads and kernel path of the model's forward passes.
    public var compute = ComputeConfiguration.default
    /// NudeNet's ONNX file, for policies with a detector rule (nil: those policies use their CLIP
    /// rules alone, with a warning).
    public var detectorModel: String?

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

/// Policy-following moderation with a CLIP model (SafeWatch mechanisms A and B, spec §3, §5–§7):
/// policies encoded once (and cached), frames sampled, encoded in batches, scored per policy,
/// aggregated into verdicts with evidence.
public final class GuardrailEngine: MediaClassifier, Sendable {
    public let bundle: ModelBundle
    public let model: CLIPModel
    public let preprocessor: ImagePreprocessor
    public let policySet: PolicySet
    public let encoded: EncodedPolicySet
    /// θ per policy (override, else a calibration made for this model, else nil).
    public let thresholds: [Float?]
    public let settings: ScanSettings
    /// True when the policy embeddings came from the cache.
    public let policiesFromCache: Bool
    /// The detector the policies' detector rules use, when one is loaded.
    public let detector: NudeNetDetector?

    /// The model folder the engine runs.
    public var modelFolder: String { bundle.folder }
    /// The model's content hash (``ModelBundle/sha256``), whether or not a cache is used.
    public var modelSHA256: String { bundle.sha256 }

    /// Loads a resolved model and a policy set, encoding the policies unless `cache` already holds
    /// them for this model, tokenizer, policy file, kernel path and engine version.
    public init(model bundle: ModelBundle, policies: PolicySet, settings: ScanSettings, cache: ArtifactCache?)
        throws(EngineError)
    {
        do {
            self.bundle = bundle
            model = try bundle.loadCLIP(compute: settings.compute)
            guard let vision = model.vision, model.text != nil else {
                throw VisionError.invalidInput(
                    "\(bundle.folder): scanning needs a CLIP model with both towers and projections")
            }
            preprocessor = try bundle.loadPreprocessor(imageSize: vision.config.imageSize)
            policySet = policies
            self.settings = settings
            let policyCache = cache.map {
                PolicyEncodingCache(cache: $0, model: bundle, policies: policies, compute: settings.compute)
            }
            if let cached = policyCache?.load(policies) {
                encoded = cached
                policiesFromCache = true
            } else {
                encoded = try PolicyEncoder(model: model, tokenizer: try bundle.loadTokenizer()).encode(policies)
                policiesFromCache = false
                try? policyCache?.store(encoded)
            }
            // Embeddings from a corrupted cache entry or an overflowing model would score as NaN, which
            // compares false against every threshold: a pass. Refuse them here instead.
            let rows =
                encoded.prototypes + encoded.allowedPrototypes.compactMap { $0 }
                + (encoded.blocked + encoded.allowed).flatMap { $0.map(\.embedding) }
            guard rows.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
                throw EngineError(.model, file: bundle.folder, message: "the policy embeddings are not finite numbers")
            }
            (thresholds, thresholdWarnings) = Self.thresholds(of: policies, model: bundle.sha256, settings: settings)
            let detecting = policies.policies.filter { $0.detect != nil }
            // A rule naming a label the detector does not have is a policy error, model or not.
            for policy in detecting {
                for label in policy.detect!.labels where !NudeNet.labels.contains(label) {
                    throw EngineError(
                        .policy, file: policies.path, message: "policy \(policy.id): \(label) is not a NudeNet label")
                }
            }
            if !detecting.isEmpty, let path = settings.detectorModel, FileManager.default.fileExists(atPath: path) {
                detector = try NudeNetDetector(model: path, compute: settings.compute)
            } else {
                detector = nil
            }
            if detector == nil, !detecting.isEmpty {
                let place =
                    settings.detectorModel.map { "no detector model at \($0) (scripts/setup.sh fetches it)" }
                    ?? "no detector model given"
                detectorWarning =
                    "\(policies.path): \(place): the detector rules of \(detecting.map(\.id).joined(separator: ", ")) are not applied"
            } else {
                detectorWarning = nil
            }
        } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
    }

    /// Each policy's threshold: an override from the settings, else its calibrated one when it was
    /// calibrated for `model` with the current scoring settings (nil otherwise, with a warning).
    private static func thresholds(of policies: PolicySet, model sha: String, settings: ScanSettings) -> (
        [Float?], [String]
    ) {
        let current = ThresholdSettings.of(settings)
        var warnings: [String] = []
        let thresholds = policies.policies.map { policy -> Float? in
            if let value = settings.thresholdOverrides[policy.id] ?? settings.thresholdOverrides[policy.name] {
                return value
            }
            guard let threshold = policy.threshold else { return nil }
            if let model = threshold.modelSHA256, model != sha {
                warnings.append(
                    "\(policies.path): the threshold of \(policy.id) was calibrated for model \(model.prefix(12)), not \(sha.prefix(12)): not applied"
                )
                return nil
            }
            let differing = ThresholdSettings.mismatches(recorded: threshold.settings ?? [:], current: current)
            guard differing.isEmpty else {
                warnings.append(
                    "\(policies.path): the threshold of \(policy.id) was calibrated with other settings (\(differing.joined(separator: ", "))): not applied"
                )
                return nil
            }
            return threshold.value
        }
        return (thresholds, warnings)
    }

    /// Calibrated thresholds left unapplied because they belong to another model or other scoring
    /// settings, one line each (the CLI prints them on stderr; their policies report `calibrated: false`).
    public let thresholdWarnings: [String]

    /// Why the policies' detector rules are not applied (no detector model), for stderr; nil when
    /// they are, or when no policy has one.
    public let detectorWarning: String?

    /// Resolves the model (folder, pipeline folder or Hugging Face repo id) and loads the policies
    /// (file or folder); errors say which of the two failed.
    public convenience init(
        model reference: String, policies path: String, settings: ScanSettings, cache: ArtifactCache?
    )
        throws(EngineError)
    {
        do {
            let bundle = try ModelBundle(reference, hashCache: cache)
            let policies = try PolicySet.load(path)
            try self.init(model: bundle, policies: policies, settings: settings, cache: cache)
        } catch {
            throw EngineError(wrapping: error, file: reference)
        }
    }

    /// Moderates one opened image or video; `progress` gets the frames done so far.
    public func scan(_ source: MediaSource, progress: (Int) -> Void = { _ in }) throws(EngineError) -> ScanReport {
        try scan(source, progress: progress, timings: nil)
    }

    /// ``scan(_:progress:)``, telling `timings` where the time went.
    public func scan(_ source: MediaSource, progress: (Int) -> Void, timings: ((ScanTimings) -> Void)?)
        throws(EngineError) -> ScanReport
    {
        try EngineError.catching(file: source.path) { try walk(source, progress: progress, timings: timings) }
    }

    private func walk(_ source: MediaSource, progress: (Int) -> Void, timings: ((ScanTimings) -> Void)?) throws
        -> ScanReport
    {
        let path = source.path
        var spent = ScanTimings()
        var mark = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { mark = now }
            return Double(now - mark) / 1e9
        }
        var aggregator = VideoAggregator(
            policies: policySet, encoded: encoded, thresholds: thresholds, settings: settings.scoring,
            explainAll: settings.explainAll, detectorActive: detector != nil)
        var done = 0
        let walk = try walkFrames(
            source, sampling: settings.sampling, batch: settings.batch,
            shortestSide: Self.preScaleSide(preprocessor, detector: detector)
        ) { frames, images, displayed in
            spent.decode += lap()
            if let found = try detections(in: images, displayed: Array(repeating: displayed, count: images.count)) {
                for (frame, objects) in zip(frames, found) {
                    aggregator.add(
                        detections: objects, frame: frame.index, timestamp: frame.timestamp,
                        interval: frame.interval[0]...frame.interval[1])
                }
            }
            let features = try self.features(
                of: images, frames: frames, displayed: Array(repeating: displayed, count: frames.count), file: path)
            spent.encode += lap()
            for frame in features {
                aggregator.add(frame, scores: scoreFrame(frame, policies: encoded, settings: settings.scoring))
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
            media: walk.section(path: path),
            policies: aggregator.verdicts(), pruning: aggregator.pruning)
    }

    /// The frames' global and patch embeddings in the joint space, with each frame's mapping back to
    /// its displayed pixels (`displayed`: the size a frame scaled while decoding is shown at).
    /// `perturbation`, when given, changes the normalised pixel tensor before the vision tower
    /// (robustness runs); `file` names the media in errors.
    public func features(
        of images: [RGBImage], frames: [FrameInfo], displayed: [FrameSize?], file: String,
        perturbation: ((Tensor) -> Tensor)? = nil
    ) throws(EngineError) -> [FrameFeatures] {
        try EngineError.catching(file: file) {
            try encode(images, frames: frames, displayed: displayed, file: file, perturbation: perturbation)
        }
    }

    private func encode(
        _ images: [RGBImage], frames: [FrameInfo], displayed: [FrameSize?], file: String,
        perturbation: ((Tensor) -> Tensor)?
    ) throws -> [FrameFeatures] {
        let vision = model.vision!
        let grid = vision.config.gridSize
        var (pixels, scaledTransforms) = preprocessor(images)
        if let perturbation { pixels = perturbation(pixels) }
        let transforms = zip(scaledTransforms, displayed).map { transform, size in
            size.map { transform.mapped(toSourceWidth: $0.width, height: $0.height) } ?? transform
        }
        let encoding = try model.encodeImages(pixels, patches: settings.variant, hiddenStates: false)
        let d = encoded.dimension
        let globals = encoding.imageEmbeds!.scalars
        let patches = encoding.patchEmbeds!.scalars
        try requireFinite(globals + patches, "image embeddings", frames: frames, file: file)
        let n = grid * grid
        return frames.enumerated().map { i, frame in
            FrameFeatures(
                index: frame.index, timestamp: frame.timestamp, interval: frame.interval[0]...frame.interval[1],
                global: Vectors.normalized(Array(globals[(i * d)..<((i + 1) * d)])),
                patches: Array(patches[(i * n * d)..<((i + 1) * n * d)]), grid: grid,
                patchSize: vision.config.patchSize,
                transform: transforms[i])
        }
    }

    /// The policies' verdicts over frames already encoded (``features(of:frames:displayed:file:perturbation:)``)
    /// and, for policies with detector rules, the frames' ``detections(in:displayed:)``, as
    /// ``scan(_:progress:)`` gives them for the same frames (without early exit).
    public func verdicts(
        _ features: [FrameFeatures], detections: [[(label: String, score: Float, box: [Int])]]? = nil
    ) -> [PolicyVerdict] {
        var aggregator = VideoAggregator(
            policies: policySet, encoded: encoded, thresholds: thresholds, settings: settings.scoring,
            explainAll: settings.explainAll, detectorActive: detections != nil)
        for (i, frame) in features.enumerated() {
            if let detections {
                aggregator.add(
                    detections: detections[i], frame: frame.index, timestamp: frame.timestamp, interval: frame.interval)
            }
            aggregator.add(frame, scores: scoreFrame(frame, policies: encoded, settings: settings.scoring))
        }
        return aggregator.verdicts()
    }

    /// The detector's findings in each picture, boxes in the displayed frame's pixels (`displayed`:
    /// the size a frame scaled while decoding is shown at); nil without a detector.
    public func detections(in images: [RGBImage], displayed: [FrameSize?]) throws(EngineError) -> [[(
        label: String, score: Float, box: [Int]
    )]]? {
        guard let detector else { return nil }
        do {
            return try zip(images, displayed).map { (image, shown) throws(ONNXError) in
                try detector.detect(image, displayed: shown.map { ($0.width, $0.height) }).detections.map {
                    ($0.label, $0.score, $0.box)
                }
            }
        } catch {
            throw EngineError(error)
        }
    }

    /// The side large video frames are pre-scaled for while decoding (to twice it on their short
    /// side): the largest input among the models that read the frames, CLIP's resize and the
    /// detector's square, so that a scan with detector rules and `guardrail detect` feed the
    /// detector the same pixels.
    static func preScaleSide(_ preprocessor: ImagePreprocessor?, detector: NudeNetDetector?) -> Int {
        max(preprocessor?.shortestEdge ?? 0, detector?.inputSize ?? 0)
    }

    func engineInfo() -> EngineInfo {
        EngineInfo(
            version: engineVersion, classifier: "clip-policy", model: modelFolder, modelSHA256: modelSHA256,
            policySet: policySet.name, policyVersion: policySet.version, policySHA256: policySet.sha256,
            kernel: settings.compute.kernel.rawValue,
            settings: engineSettings(settings, variant: settings.variant.rawValue))
    }
}

/// Throws when a model output holds NaN or infinity: a non-finite score must fail the file, never
/// pass it (NaN compares false against every threshold).
func requireFinite(_ values: [Float], _ what: String, frames: [FrameInfo], file: String) throws(EngineError) {
    guard values.allSatisfy(\.isFinite) else {
        throw EngineError(
            .model, file: file,
            message: "the model produced \(what) that are not finite numbers for frames at "
                + frames.map { String(format: "%.3f s", $0.timestamp) }.joined(separator: ", "))
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
