import Foundation
import GuardrailCore

/// A rule as reported in evidence.
public struct MatchedRule: Sendable, Hashable, Encodable {
    public var id: String
    public var text: String
    public var similarity: Float

    public init(id: String, text: String, similarity: Float) {
        self.id = id
        self.text = text
        self.similarity = similarity
    }
}

/// The allowed rule that exempted a frame.
public struct OverrideReport: Sendable, Hashable, Encodable {
    public var frameIndex: Int
    public var timestamp: Double
    public var allowedRuleID: String
    public var text: String

    enum CodingKeys: String, CodingKey {
        case frameIndex = "frame_index"
        case timestamp = "timestamp_s"
        case allowedRuleID = "allowed_rule_id"
        case text
    }
}

/// A patch region in the original (displayed) frame's pixels.
public struct RegionReport: Sendable, Hashable, Encodable {
    public var token: Int
    /// `[x0, y0, x1, y1]`.
    public var box: [Double]
    public var relevance: Float
}

/// Why a frame counts for a policy (SafeWatch §6.7).
public struct EvidenceReport: Sendable, Hashable, Encodable {
    public var frameIndex: Int
    public var timestamp: Double
    public var score: Float
    public var global: Float
    public var local: Float
    public var matchedRule: MatchedRule
    public var regions: [RegionReport]

    public init(
        frameIndex: Int, timestamp: Double, score: Float, global: Float, local: Float, matchedRule: MatchedRule,
        regions: [RegionReport]
    ) {
        self.frameIndex = frameIndex
        self.timestamp = timestamp
        self.score = score
        self.global = global
        self.local = local
        self.matchedRule = matchedRule
        self.regions = regions
    }

    enum CodingKeys: String, CodingKey {
        case frameIndex = "frame_index"
        case timestamp = "timestamp_s"
        case score, global, local
        case matchedRule = "matched_rule"
        case regions
    }
}

/// An object a detector found in a frame (a detector rule's evidence).
public struct DetectionEvidence: Sendable, Hashable, Encodable {
    public var frameIndex: Int
    public var timestamp: Double
    public var model: String
    public var label: String
    public var score: Float
    /// `[x, y, width, height]` in the displayed frame's pixels.
    public var box: [Int]

    public init(frameIndex: Int, timestamp: Double, model: String, label: String, score: Float, box: [Int]) {
        self.frameIndex = frameIndex
        self.timestamp = timestamp
        self.model = model
        self.label = label
        self.score = score
        self.box = box
    }

    enum CodingKeys: String, CodingKey {
        case frameIndex = "frame_index"
        case timestamp = "timestamp_s"
        case model, label, score, box
    }
}

/// One policy's outcome over a whole image or video.
public struct PolicyVerdict: Sendable, Hashable, Encodable {
    public var id: String
    public var name: String
    /// true/false with a calibrated threshold; nil (JSON null) when uncalibrated.
    @NullEncodable public var verdict: Bool?
    /// `S_p`: the best score over frames that no allowed rule exempted; nil when all were exempted.
    @NullEncodable public var score: Float?
    @NullEncodable public var threshold: Float?
    public var calibrated: Bool
    public var flaggedFrames: Int
    /// Merged `[start_s, end_s]` spans of flagged frames.
    public var segments: [[Double]]
    public var evidence: [EvidenceReport]
    public var overrides: [OverrideReport]
    /// A sentence built only from the facts above.
    @NullEncodable public var explanation: String?
    /// For a policy with a detector rule that ran: the best matching detections (absent otherwise).
    public var detections: [DetectionEvidence]?

    public init(
        id: String, name: String, verdict: Bool?, score: Float?, threshold: Float?, calibrated: Bool,
        flaggedFrames: Int,
        segments: [[Double]], evidence: [EvidenceReport], overrides: [OverrideReport], explanation: String?
    ) {
        self.id = id
        self.name = name
        self.verdict = verdict
        self.score = score
        self.threshold = threshold
        self.calibrated = calibrated
        self.flaggedFrames = flaggedFrames
        self.segments = segments
        self.evidence = evidence
        self.overrides = overrides
        self.explanation = explanation
    }

    enum CodingKeys: String, CodingKey {
        case id, name, verdict, score, threshold, calibrated, segments, evidence, overrides, explanation, detections
        case flaggedFrames = "flagged_frames"
    }

}

/// Token pruning statistics (SafeWatch §5.3).
public struct PruningReport: Sendable, Hashable, Encodable {
    public init() {}

    public var tokensTotal = 0
    public var keptPerPolicy = 0
    public var unionKept = 0
    public var reduction: Double { tokensTotal == 0 ? 0 : 1 - Double(unionKept) / Double(tokensTotal) }

    enum CodingKeys: String, CodingKey {
        case tokensTotal = "tokens_total"
        case keptPerPolicy = "kept_per_policy"
        case unionKept = "union_kept"
        case reduction
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokensTotal, forKey: .tokensTotal)
        try c.encode(keptPerPolicy, forKey: .keptPerPolicy)
        try c.encode(unionKept, forKey: .unionKept)
        try c.encode(reduction, forKey: .reduction)
    }
}

/// Collects frame scores and produces per-policy verdicts, segments and evidence (§6.6–§6.7).
/// Keeps only a few evidence candidates per policy, so memory does not grow with the video.
public struct VideoAggregator {
    public let policies: PolicySet
    public let encoded: EncodedPolicySet
    /// θ per policy; nil = uncalibrated.
    public let thresholds: [Float?]
    public let settings: ScoringSettings
    /// Evidence for every policy, not only flagged ones.
    public let explainAll: Bool
    public private(set) var pruning = PruningReport()

    private struct Candidate {
        var evidence: EvidenceReport
    }

    /// Whether detections are added (``add(detections:frame:timestamp:interval:)``) for policies
    /// with a detector rule; without, those policies are scored by their CLIP rules alone.
    public let detectorActive: Bool

    private var best: [(score: Float, frame: Int)?]
    private var flagged: [Int]
    private var clipFlaggedFrames: [Set<Int>]
    private var detectorFrames: [Set<Int>]
    private var detectorIntervals: [[ClosedRange<Double>]]
    private var detectorTop: [[DetectionEvidence]]
    private var intervals: [[ClosedRange<Double>]]
    private var flaggedTop: [[Candidate]]
    private var overallTop: [[Candidate]]
    private var overrides: [[OverrideReport]]

    public init(
        policies: PolicySet, encoded: EncodedPolicySet, thresholds: [Float?], settings: ScoringSettings,
        explainAll: Bool, detectorActive: Bool = false
    ) {
        precondition(thresholds.count == policies.policies.count, "one threshold slot per policy")
        self.detectorActive = detectorActive
        self.policies = policies
        self.encoded = encoded
        self.thresholds = thresholds
        self.settings = settings
        self.explainAll = explainAll
        let count = policies.policies.count
        best = Array(repeating: nil, count: count)
        flagged = Array(repeating: 0, count: count)
        intervals = Array(repeating: [], count: count)
        flaggedTop = Array(repeating: [], count: count)
        overallTop = Array(repeating: [], count: count)
        overrides = Array(repeating: [], count: count)
        clipFlaggedFrames = Array(repeating: [], count: count)
        detectorFrames = Array(repeating: [], count: count)
        detectorIntervals = Array(repeating: [], count: count)
        detectorTop = Array(repeating: [], count: count)
    }

    /// Whether policy `p`'s detector rule takes part.
    private func detects(_ p: Int) -> Bool { detectorActive && policies.policies[p].detect != nil }

    /// Adds one frame's detections (label, score, box in the displayed frame) for the policies
    /// with a detector rule: a detection of one of a policy's labels at its `min_score` flags the frame.
    public mutating func add(
        detections: [(label: String, score: Float, box: [Int])], frame: Int, timestamp: Double,
        interval: ClosedRange<Double>
    ) {
        for (p, policy) in policies.policies.enumerated() where detects(p) {
            let rule = policy.detect!
            let matching = detections.filter { rule.labels.contains($0.label) && $0.score >= rule.minScore }
            guard !matching.isEmpty else { continue }
            if detectorFrames[p].insert(frame).inserted { detectorIntervals[p].append(interval) }
            for d in matching {
                let evidence = DetectionEvidence(
                    frameIndex: frame, timestamp: timestamp, model: rule.model, label: d.label, score: d.score,
                    box: d.box)
                let position = detectorTop[p].firstIndex { d.score > $0.score } ?? detectorTop[p].count
                if position < settings.evidenceFrames {
                    detectorTop[p].insert(evidence, at: position)
                    if detectorTop[p].count > settings.evidenceFrames { detectorTop[p].removeLast() }
                }
            }
        }
    }

    /// Adds one frame's scores (from ``scoreFrame(_:policies:settings:)``).
    public mutating func add(_ frame: FrameFeatures, scores: [FrameScore]) {
        let n = frame.grid * frame.grid
        pruning.tokensTotal += n
        pruning.keptPerPolicy += scores.first?.selected.count ?? 0
        pruning.unionKept += Set(scores.flatMap(\.selected)).count
        for (p, score) in scores.enumerated() {
            if let allowedIndex = score.override {
                if overrides[p].count < settings.evidenceFrames {
                    let rule = encoded.allowed[p][allowedIndex].rule
                    overrides[p].append(
                        OverrideReport(
                            frameIndex: frame.index, timestamp: frame.timestamp, allowedRuleID: rule.id, text: rule.text
                        ))
                }
                continue
            }
            if best[p].map({ score.score > $0.score }) ?? true { best[p] = (score.score, frame.index) }
            let isFlagged = thresholds[p].map { score.score >= $0 } ?? false
            if isFlagged {
                flagged[p] += 1
                clipFlaggedFrames[p].insert(frame.index)
                intervals[p].append(frame.interval)
            }
            let candidate = Candidate(evidence: evidence(frame, score, policy: p))
            if isFlagged { Self.keepTop(&flaggedTop[p], candidate, limit: settings.evidenceFrames) }
            Self.keepTop(&overallTop[p], candidate, limit: settings.evidenceFrames)
        }
    }

    /// True when every policy has a calibrated verdict of true, which later frames cannot change.
    public var isDecided: Bool {
        thresholds.indices.allSatisfy {
            (thresholds[$0] != nil && flagged[$0] >= settings.minFlaggedFrames)
                || (detects($0) && detectorFrames[$0].count >= settings.minFlaggedFrames)
        }
    }

    /// The verdicts, in the policy set's order.
    public func verdicts() -> [PolicyVerdict] {
        policies.policies.enumerated().map { p, policy in
            let threshold = thresholds[p]
            let verdict: Bool? = threshold.map { _ in flagged[p] >= settings.minFlaggedFrames }
            let showEvidence = verdict == true || explainAll
            let candidates = verdict == true ? flaggedTop[p] : (flaggedTop[p].isEmpty ? overallTop[p] : flaggedTop[p])
            let evidence = showEvidence ? candidates.map(\.evidence) : []
            let segments = Self.merge(intervals[p])
            var explanation: String?
            if verdict == true, let top = evidence.first, let threshold {
                let times = evidence.map { "\(formatted($0.timestamp, 3)) s" }.joined(separator: ", ")
                let boxes = top.regions.prefix(3).map {
                    "[" + $0.box.map { formatted($0, 0) }.joined(separator: ", ") + "]"
                }
                explanation =
                    "\(policy.name) flagged: frames at \(times) match rule \"\(top.matchedRule.text)\" "
                    + "(score \(formatted(Double(top.score), 3)) ≥ θ \(formatted(Double(threshold), 3))); "
                    + "evidence regions: \(boxes.joined(separator: " "))"
            }
            var result = PolicyVerdict(
                id: policy.id, name: policy.name, verdict: verdict, score: best[p]?.score, threshold: threshold,
                calibrated: threshold != nil, flaggedFrames: flagged[p],
                segments: segments.map { [$0.lowerBound, $0.upperBound] },
                evidence: evidence, overrides: overrides[p], explanation: explanation)
            if detects(p) { combineDetections(into: &result, policy: p) }
            return result
        }
    }

    /// A policy with a detector rule: flagged when its CLIP verdict is, or when enough frames hold
    /// a matching detection; decided either way (the detector's scores are probabilities).
    private func combineDetections(into result: inout PolicyVerdict, policy p: Int) {
        let detected = detectorFrames[p].count >= settings.minFlaggedFrames
        let flaggedFrames = clipFlaggedFrames[p].union(detectorFrames[p])
        result.verdict = result.verdict == true || detected
        result.calibrated = true
        result.flaggedFrames = flaggedFrames.count
        result.segments = Self.merge(intervals[p] + detectorIntervals[p]).map { [$0.lowerBound, $0.upperBound] }
        result.detections = detected || explainAll ? detectorTop[p] : []
        if detected, let top = detectorTop[p].first {
            let found =
                "\(top.model) detected \(top.label) (score \(formatted(Double(top.score), 3))) at "
                + "\(formatted(top.timestamp, 3)) s, box [\(top.box.map(String.init).joined(separator: ", "))]"
            result.explanation =
                result.explanation.map { $0 + "; " + found } ?? "\(policies.policies[p].name) flagged: " + found
        }
    }

    private func evidence(_ frame: FrameFeatures, _ score: FrameScore, policy p: Int) -> EvidenceReport {
        let rules = encoded.blocked[p]
        let similarities = rules.map { Vectors.dot(score.pooled, $0.embedding) }
        let matched = topIndices(similarities, count: 1)[0]
        let regions = zip(score.selected, score.relevances).prefix(settings.evidenceRegions).map { token, relevance in
            let row = Double(token / frame.grid)
            let column = Double(token % frame.grid)
            let size = Double(frame.patchSize)
            let box = frame.transform.sourceBox(
                cropX0: column * size, cropY0: row * size, cropX1: (column + 1) * size, cropY1: (row + 1) * size)
            return RegionReport(token: token, box: [box.0, box.1, box.2, box.3], relevance: relevance)
        }
        return EvidenceReport(
            frameIndex: frame.index, timestamp: frame.timestamp, score: score.score, global: score.global,
            local: score.local,
            matchedRule: MatchedRule(
                id: rules[matched].rule.id, text: rules[matched].rule.text, similarity: similarities[matched]),
            regions: Array(regions))
    }

    /// Keeps the best `limit` candidates by score; among equal scores the earlier frame stays first.
    private static func keepTop(_ list: inout [Candidate], _ candidate: Candidate, limit: Int) {
        guard limit > 0 else { return }
        let position = list.firstIndex { candidate.evidence.score > $0.evidence.score } ?? list.count
        guard position < limit else { return }
        list.insert(candidate, at: position)
        if list.count > limit { list.removeLast() }
    }

    /// Union of intervals, touching ones merged (public form of the merge the verdicts use).
    public static func mergeSegments(_ intervals: [ClosedRange<Double>]) -> [ClosedRange<Double>] { merge(intervals) }

    /// Union of intervals, touching ones merged, in time order.
    static func merge(_ intervals: [ClosedRange<Double>]) -> [ClosedRange<Double>] {
        var merged: [ClosedRange<Double>] = []
        for interval in intervals.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, interval.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, interval.upperBound)
            } else {
                merged.append(interval)
            }
        }
        return merged
    }
}

/// `value` with `digits` decimals, locale-independent.
func formatted(_ value: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}
