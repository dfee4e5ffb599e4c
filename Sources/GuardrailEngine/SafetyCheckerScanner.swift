import Foundation
import Media
import Policy
import Vision

/// The second classifier path: diffusers' Stable Diffusion safety checker on every sampled frame,
/// reported as a `Sexual` policy (UnsafeBench's "SD_Filter") so it can be compared with the
/// policy engine on the same media.
public final class SafetyCheckerScanner: @unchecked Sendable {
    public let folder: String
    public let checker: StableDiffusionSafetyChecker
    public let modelSHA256: String
    public let settings: ScanSettings

    public init(model reference: String, settings: ScanSettings, cache: EngineCache?) throws {
        folder = try ModelLocator.resolve(reference)
        checker = try StableDiffusionSafetyChecker(folder: folder)
        modelSHA256 = try cache?.modelSHA256(folder: folder) ?? "not computed (no cache)"
        self.settings = settings
    }

    public func scan(_ path: String, progress: (Int) -> Void = { _ in }) throws -> ScanReport {
        var flagged: [FrameInfo] = []
        var best: (score: Float, frame: FrameInfo, concepts: [Int])?
        var evidence: [EvidenceReport] = []
        var done = 0
        let walk = try walkFrames(
            path: path, sampling: settings.sampling, limits: settings.limits, batch: settings.batch,
            shortestSide: checker.preprocessor.shortestEdge
        ) { frames, images in
            let (pixels, _) = checker.preprocessor(images)
            for (frame, result) in zip(frames, try checker.check(pixels)) {
                let score = result.conceptScores.max() ?? -1
                if best.map({ score > $0.score }) ?? true { best = (score, frame, result.badConcepts) }
                if result.hasNSFWConcept {
                    flagged.append(frame)
                    if evidence.count < settings.scoring.evidenceFrames {
                        let concept = result.badConcepts.max { result.conceptScores[$0] < result.conceptScores[$1] }!
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
                version: engineVersion, classifier: "sd-safety-checker", model: folder, modelSHA256: modelSHA256,
                policySet: "sd-safety-checker", policyVersion: "diffusers", policySHA256: "none",
                settings: engineSettings(settings, variant: "none", scoring: false)),
            media: MediaSection(
                path: path, kind: walk.kind.rawValue, durationSeconds: walk.duration, framesSampled: walk.frames,
                framesSkipped: walk.skipped, earlyExit: walk.stoppedEarly),
            policies: [policy], pruning: PruningReport())
    }
}
