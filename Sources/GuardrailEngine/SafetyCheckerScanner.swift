import Foundation
import GuardrailCore
import Media
import Policy
import Vision

/// The second classifier path: diffusers' Stable Diffusion safety checker on every sampled frame,
/// reported as a `Sexual` policy (UnsafeBench's "SD_Filter") so it can be compared with the
/// policy engine on the same media.
public final class SafetyCheckerScanner: MediaClassifier, Sendable {
    public let bundle: ModelBundle
    public let checker: StableDiffusionSafetyChecker
    public let settings: ScanSettings

    /// Loads the checker of a bundle resolved with ``ModelRole/safetyChecker``.
    public init(model bundle: ModelBundle, settings: ScanSettings) throws(EngineError) {
        do {
            self.bundle = bundle
            checker = try bundle.loadSafetyChecker(compute: settings.compute)
            self.settings = settings
        } catch {
            throw EngineError(wrapping: error, file: bundle.folder)
        }
    }

    /// Resolves the checker (its folder, a Stable Diffusion pipeline folder, or a repo id) and loads it.
    public convenience init(model reference: String, settings: ScanSettings, cache: ArtifactCache?) throws(EngineError)
    {
        do {
            try self.init(model: ModelBundle(reference, role: .safetyChecker, hashCache: cache), settings: settings)
        } catch {
            throw EngineError(wrapping: error, file: reference)
        }
    }

    public func scan(_ source: MediaSource, progress: (Int) -> Void = { _ in }) throws(EngineError) -> ScanReport {
        do {
            let path = source.path
            var flagged: [FrameInfo] = []
            var best: (score: Float, frame: FrameInfo, concepts: [Int])?
            var evidence: [EvidenceReport] = []
            var done = 0
            let walk = try walkFrames(
                source, sampling: settings.sampling, batch: settings.batch,
                shortestSide: checker.preprocessor.shortestEdge
            ) { frames, images, _ in
                let (pixels, _) = checker.preprocessor(images)
                let results = try checker.check(pixels)
                try requireFinite(
                    results.flatMap { $0.conceptScores + $0.specialScores }, "concept scores", frames: frames,
                    file: path)
                for (frame, result) in zip(frames, results) {
                    let score = result.conceptScores.max() ?? -1
                    if best.map({ score > $0.score }) ?? true { best = (score, frame, result.badConcepts) }
                    if result.hasNSFWConcept {
                        flagged.append(frame)
                        if evidence.count < settings.scoring.evidenceFrames {
                            let concept = result.badConcepts.max {
                                result.conceptScores[$0] < result.conceptScores[$1]
                            }!
                            evidence.append(
                                EvidenceReport(
                                    frameIndex: frame.index, timestamp: frame.timestamp, score: score, global: score,
                                    local: score,
                                    matchedRule: MatchedRule(
                                        id: "concept-\(concept)", text: "safety checker concept \(concept)",
                                        similarity: result.conceptScores[concept]),
                                    regions: []))
                        }
                    }
                }
                done += frames.count
                progress(done)
                return settings.earlyExit && flagged.count >= settings.scoring.minFlaggedFrames
            }
            let verdict = flagged.count >= settings.scoring.minFlaggedFrames
            let segments = VideoAggregator.mergeSegments(flagged.map { $0.interval[0]...$0.interval[1] })
            let policy = PolicyVerdict(
                id: "sexual", name: "Sexual", verdict: verdict, score: best?.score, threshold: 0, calibrated: true,
                flaggedFrames: flagged.count, segments: segments.map { [$0.lowerBound, $0.upperBound] },
                evidence: verdict || settings.explainAll ? evidence : [], overrides: [],
                explanation: verdict
                    ? "Sexual flagged by the Stable Diffusion safety checker at "
                        + flagged.prefix(3).map { String(format: "%.3f s", $0.timestamp) }.joined(separator: ", ")
                    : nil)
            return ScanReport(
                path: path,
                engine: EngineInfo(
                    version: engineVersion, classifier: "sd-safety-checker", model: bundle.folder,
                    modelSHA256: bundle.sha256, policySet: "sd-safety-checker", policyVersion: "diffusers",
                    policySHA256: "none", kernel: settings.compute.kernel.rawValue,
                    settings: engineSettings(settings, variant: "none", scoring: false)),
                media: walk.section(path: path),
                policies: [policy], pruning: PruningReport())
        } catch {
            throw EngineError(wrapping: error, file: source.path)
        }
    }
}
