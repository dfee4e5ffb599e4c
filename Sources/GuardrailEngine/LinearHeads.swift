import Compute
import Foundation
import GuardrailCore
import Media
import Policy
import Vision

/// One logistic-regression head per category over a CLIP model's unit image embedding (UnsafeBench's
/// MultiHeaded baseline as a linear probe), as `guardrail train-heads` writes them: a small
/// safetensors file (`weight` `[K, D]`, `bias` `[K]`, F32) whose metadata names the categories, the
/// model, the embedding size, the training set and each head's L2 strength and threshold.
public struct LinearHeads: Sendable, Hashable {
    public var categories: [String]
    /// `K × D`, row per category.
    public var weight: [[Double]]
    public var bias: [Double]
    /// The model whose embeddings the heads read.
    public var modelSHA256: String
    /// The training set's manifest hash.
    public var trainingSetSHA256: String
    /// Inverse L2 strength per head, as scikit-learn's `C`.
    public var c: [Double]
    /// Decision threshold per head on its probability; nil means the default 0.5.
    public var thresholds: [Double?]
    /// The scoring settings the thresholds were calibrated with (sampling), if calibrated.
    public var calibrationSettings: [String: String]?

    /// The threshold a head decides at when none was calibrated (a class-weighted probability).
    public static let defaultThreshold = 0.5

    public var dimension: Int { weight.first?.count ?? 0 }

    public init(
        categories: [String], weight: [[Double]], bias: [Double], modelSHA256: String, trainingSetSHA256: String,
        c: [Double], thresholds: [Double?]? = nil, calibrationSettings: [String: String]? = nil
    ) {
        self.categories = categories
        self.weight = weight
        self.bias = bias
        self.modelSHA256 = modelSHA256
        self.trainingSetSHA256 = trainingSetSHA256
        self.c = c
        self.thresholds = thresholds ?? Array(repeating: nil, count: categories.count)
        self.calibrationSettings = calibrationSettings
    }

    /// Reads a heads file; errors name the file and what is wrong.
    public init(contentsOf path: String) throws(EngineError) {
        func fail(_ message: String) -> EngineError { EngineError(.model, file: path, message: message) }
        let tensors: [String: Tensor]
        let metadata: [String: String]
        do {
            (tensors, metadata) = try SafeTensors.readWithMetadata(path: path)
        } catch {
            throw EngineError(wrapping: error, file: path)
        }
        guard metadata["format"] == "guardrail-heads" else { throw fail("not a heads file (metadata format)") }
        func decode<T: Decodable>(_ key: String, as type: T.Type) throws(EngineError) -> T {
            guard let text = metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw fail("metadata \(key) is missing or malformed")
            }
            return value
        }
        categories = try decode("categories", as: [String].self)
        c = try decode("c", as: [Double].self)
        thresholds = try decode("thresholds", as: [Double?].self)
        calibrationSettings = metadata["calibration_settings"].flatMap {
            try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
        }
        guard let model = metadata["model_sha256"], let training = metadata["training_set_sha256"] else {
            throw fail("metadata model_sha256 and training_set_sha256 are required")
        }
        (modelSHA256, trainingSetSHA256) = (model, training)
        guard let w = tensors["weight"], let b = tensors["bias"], w.shape.count == 2, w.shape[0] == categories.count,
            b.shape == [categories.count], c.count == categories.count, thresholds.count == categories.count
        else {
            throw fail("weight [K, D] and bias [K] must match the \(categories.count) categories")
        }
        weight = w.rows.map { $0.map(Double.init) }
        bias = b.scalars.map(Double.init)
        guard (weight.joined() + bias).allSatisfy(\.isFinite) else { throw fail("the weights are not finite numbers") }
        if let dim = Int(metadata["embedding_dim"] ?? ""), dim != dimension {
            throw fail("embedding_dim \(dim) does not match the weight's \(dimension) columns")
        }
    }

    /// Writes the heads atomically.
    public func write(to path: String) throws(EngineError) {
        do {
            let w = weight.flatMap { $0.map(Float.init) }
            let entries: [String: SafeTensorsWriter.Entry] = [
                "weight": .init(Tensor(shape: [categories.count, dimension], scalars: w)),
                "bias": .init(Tensor(shape: [categories.count], scalars: bias.map(Float.init))),
            ]
            var metadata = [
                "format": "guardrail-heads",
                "features": "image_embeds, L2-normalised (CLIPModel.get_image_features / its norm)",
                "categories": try JSONText.compact(categories),
                "model_sha256": modelSHA256,
                "training_set_sha256": trainingSetSHA256,
                "embedding_dim": String(dimension),
                "c": try JSONText.compact(c),
                "thresholds": try JSONText.compact(thresholds.map { NullEncodable(wrappedValue: $0) }),
            ]
            if let calibrationSettings { metadata["calibration_settings"] = try JSONText.compact(calibrationSettings) }
            try SafeTensorsWriter.write(entries, metadata: metadata, to: path)
        } catch {
            throw EngineError(wrapping: error, file: path)
        }
    }

    /// The probability of unsafe per category for one unit embedding.
    public func probabilities(_ embedding: [Float]) -> [Double] {
        weight.indices.map { k in
            var z = bias[k]
            for (w, x) in zip(weight[k], embedding) { z += w * Double(x) }
            return 1 / (1 + exp(-z))
        }
    }

    /// Head `k`'s threshold (calibrated, else 0.5).
    public func threshold(_ k: Int) -> Double { thresholds[k] ?? Self.defaultThreshold }
}

/// Unit image embeddings (`get_image_features`, L2-normalised) of decoded pictures: what linear
/// heads read, at training and at scan time alike.
public final class ImageEmbedder: Sendable {
    public let bundle: ModelBundle
    public let model: CLIPModel
    public let preprocessor: ImagePreprocessor

    public init(model bundle: ModelBundle, compute: ComputeConfiguration) throws(EngineError) {
        do {
            self.bundle = bundle
            model = try bundle.loadCLIP(compute: compute)
            guard let vision = model.vision, model.hasVisualProjection else {
                throw VisionError.invalidInput(
                    "\(bundle.folder): heads need a CLIP model with a projected vision tower")
            }
            preprocessor = try bundle.loadPreprocessor(imageSize: vision.config.imageSize)
        } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
    }

    /// One unit vector per picture (`perturbation` changes the normalised pixel tensor first).
    public func embeddings(of images: [RGBImage], file: String, perturbation: ((Tensor) -> Tensor)? = nil)
        throws(EngineError) -> [[Float]]
    {
        do {
            var (pixels, _) = preprocessor(images)
            if let perturbation { pixels = perturbation(pixels) }
            let rows = try model.encodeImages(pixels, hiddenStates: false).imageEmbeds!.rows
            try requireFinite(rows.flatMap { $0 }, "image embeddings", frames: [], file: file)
            return rows.map(Vectors.normalized)
        } catch {
            throw EngineError(wrapping: error, file: file)
        }
    }
}

/// `scan --heads`: the heads of a ``LinearHeads`` file on every sampled frame's embedding, one
/// policy verdict per category (score: the highest probability over frames).
public final class HeadsScanner: MediaClassifier, Sendable {
    public let embedder: ImageEmbedder
    public let heads: LinearHeads
    public let headsPath: String
    public let headsSHA256: String
    public let settings: ScanSettings
    /// Calibrated thresholds left unapplied (other settings than they were calibrated with).
    public let thresholdWarnings: [String]

    public var bundle: ModelBundle { embedder.bundle }

    /// Loads the model and the heads; heads trained on another model are refused (their space is another).
    public init(model bundle: ModelBundle, heads path: String, settings: ScanSettings) throws(EngineError) {
        do {
            var heads = try LinearHeads(contentsOf: path)
            let differing = ThresholdSettings.mismatches(
                recorded: heads.calibrationSettings ?? [:], current: ThresholdSettings.of(settings))
            if !differing.isEmpty {
                thresholdWarnings = [
                    "\(path): the thresholds were calibrated with other settings (\(differing.joined(separator: ", "))): not applied, 0.5 instead"
                ]
                heads.thresholds = heads.thresholds.map { _ in nil }
            } else {
                thresholdWarnings = []
            }
            self.heads = heads
            headsPath = path
            var hash = ContentHash()
            try hash.update(contentsOf: path)
            headsSHA256 = hash.hexDigest()
            guard heads.modelSHA256 == bundle.sha256 else {
                throw EngineError(
                    .model, file: path,
                    message:
                        "the heads were trained on model \(heads.modelSHA256.prefix(12)), not on \(bundle.folder) (\(bundle.sha256.prefix(12)))"
                )
            }
            embedder = try ImageEmbedder(model: bundle, compute: settings.compute)
            guard embedder.model.configuration.projectionDim == heads.dimension else {
                throw EngineError(
                    .model, file: path,
                    message:
                        "the heads read \(heads.dimension)-dimensional embeddings, the model gives \(embedder.model.configuration.projectionDim)"
                )
            }
            self.settings = settings
        } catch {
            throw EngineError(wrapping: error, file: path)
        }
    }

    public func scan(_ source: MediaSource, progress: (Int) -> Void = { _ in }) throws(EngineError) -> ScanReport {
        do {
            var best = Array(repeating: -1.0, count: heads.categories.count)
            var flagged: [[FrameInfo]] = Array(repeating: [], count: heads.categories.count)
            var done = 0
            let walk = try walkFrames(
                source, sampling: settings.sampling, batch: settings.batch,
                shortestSide: embedder.preprocessor.shortestEdge
            ) { frames, images, _ in
                for (frame, embedding) in zip(frames, try embedder.embeddings(of: images, file: source.path)) {
                    for (k, p) in heads.probabilities(embedding).enumerated() {
                        best[k] = max(best[k], p)
                        if p >= heads.threshold(k) { flagged[k].append(frame) }
                    }
                }
                done += frames.count
                progress(done)
                return false
            }
            let policies = heads.categories.enumerated().map { k, category in
                let verdict = flagged[k].count >= settings.scoring.minFlaggedFrames
                return PolicyVerdict(
                    id: category, name: category, verdict: verdict, score: Float(best[k]),
                    threshold: Float(heads.threshold(k)), calibrated: heads.thresholds[k] != nil,
                    flaggedFrames: flagged[k].count,
                    segments: VideoAggregator.mergeSegments(flagged[k].map { $0.interval[0]...$0.interval[1] }).map {
                        [$0.lowerBound, $0.upperBound]
                    },
                    evidence: [], overrides: [],
                    explanation: verdict
                        ? String(
                            format: "%@ flagged by its linear head (probability %.3f ≥ %.3f)", category, best[k],
                            heads.threshold(k))
                        : nil)
            }
            return ScanReport(
                path: source.path,
                engine: EngineInfo(
                    version: engineVersion, classifier: "linear-heads", model: bundle.folder,
                    modelSHA256: bundle.sha256,
                    policySet: (headsPath as NSString).lastPathComponent, policyVersion: "heads",
                    policySHA256: headsSHA256, kernel: settings.compute.kernel.rawValue,
                    settings: engineSettings(settings, variant: "none", scoring: false)),
                media: walk.section(path: source.path), policies: policies, pruning: PruningReport())
        } catch {
            throw EngineError(wrapping: error, file: source.path)
        }
    }
}
