import Foundation
import GuardrailCore
import Policy
import Testing
import Vision

/// SafeWatch spec §7, the worked example, and the selection rules around it.
@Suite struct ScoringTests {
    static func rule(_ id: String, _ v: [Float]) -> EncodedRule {
        EncodedRule(rule: PolicyRule(id: id, text: "rule \(id)"), embedding: v, pieces: 1)
    }

    static let encoded = EncodedPolicySet(
        dimension: 3, prototypes: [[1, 0, 0]], allowedPrototypes: [nil],
        blocked: [[rule("r1", [0.6, 0.8, 0]), rule("r2", [0.6, -0.8, 0])]], allowed: [[]])

    static let policySet = try! PolicySet(
        data: Data(#"{"name":"t","version":"1","policies":[{"id":"P","name":"Policy","blocked":["a","b"]}]}"#.utf8),
        path: "inline")

    static var settings: ScoringSettings {
        var s = ScoringSettings()
        s.keepRatio = 0.5
        s.temperature = 0.1
        return s
    }

    static let transform = PreprocessTransform(
        scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0, sourceWidth: 64, sourceHeight: 64)

    static func frame(_ index: Int, _ patches: [[Float]], _ global: [Float]) -> FrameFeatures {
        FrameFeatures(
            index: index, timestamp: Double(index), interval: Double(index)...Double(index + 1), global: global,
            patches: patches.flatMap { $0 }, grid: 2, patchSize: 32, transform: transform)
    }

    static let frame0 = frame(0, [[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0], [0, 0, 1]], [0.8, 0.6, 0])
    static let frame1 = frame(1, [[0, 1, 0], [0.8, 0, 0.6], [0, 0.6, 0.8], [0, 0, 1]], [0.28, 0.96, 0])

    @Test func workedExampleFrames() {
        let s0 = scoreFrame(Self.frame0, policies: Self.encoded, settings: Self.settings)[0]
        #expect(s0.selected == [0, 2])
        #expect(abs(s0.local - 0.999895) < 1e-5 && abs(s0.global - 0.8) < 1e-5 && abs(s0.score - 0.899947) < 1e-5)
        #expect(abs(s0.pooled[0] - 0.999895) < 1e-5 && abs(s0.pooled[1] - 0.014492) < 1e-5)
        let s1 = scoreFrame(Self.frame1, policies: Self.encoded, settings: Self.settings)[0]
        // Three-way tie at relevance 0 after token 1: the lowest index wins.
        #expect(s1.selected == [1, 0])
        #expect(abs(s1.local - 0.8) < 1e-5 && abs(s1.global - 0.28) < 1e-5 && abs(s1.score - 0.54) < 1e-5)
    }

    @Test func workedExampleVideo() throws {
        var aggregator = VideoAggregator(
            policies: Self.policySet, encoded: Self.encoded, thresholds: [0.7], settings: Self.settings,
            explainAll: false)
        for frame in [Self.frame0, Self.frame1] {
            aggregator.add(frame, scores: scoreFrame(frame, policies: Self.encoded, settings: Self.settings))
        }
        let verdict = try #require(aggregator.verdicts().first)
        #expect(verdict.verdict == true && abs(verdict.score! - 0.899947) < 1e-5)
        #expect(verdict.segments == [[0, 1]] && verdict.flaggedFrames == 1)
        let evidence = try #require(verdict.evidence.first)
        #expect(evidence.frameIndex == 0 && evidence.matchedRule.id == "r1")
        #expect(abs(evidence.matchedRule.similarity - 0.611530) < 1e-5)
        // Tokens 0 (row 0, col 0) and 2 (row 1, col 0) as 32-pixel boxes.
        #expect(evidence.regions.map(\.token) == [0, 2])
        #expect(evidence.regions.map(\.box) == [[0, 0, 32, 32], [0, 32, 32, 64]])
        #expect(aggregator.pruning.tokensTotal == 8 && aggregator.pruning.keptPerPolicy == 4)
        #expect(aggregator.pruning.reduction == 0.5)
        #expect(verdict.explanation?.contains("rule \"rule r1\"") == true)
    }

    @Test func uncalibratedPoliciesHaveANullVerdictButAScore() throws {
        var aggregator = VideoAggregator(
            policies: Self.policySet, encoded: Self.encoded, thresholds: [nil], settings: Self.settings,
            explainAll: false)
        aggregator.add(Self.frame0, scores: scoreFrame(Self.frame0, policies: Self.encoded, settings: Self.settings))
        let verdict = try #require(aggregator.verdicts().first)
        #expect(verdict.verdict == nil && verdict.score != nil && !verdict.calibrated && verdict.evidence.isEmpty)
        #expect(!aggregator.isDecided)
    }

    /// An allowed rule that beats every blocked rule by δ on the global embedding exempts the frame.
    @Test func allowedRulesOverride() throws {
        var encoded = Self.encoded
        encoded.allowed = [[Self.rule("a1", [0.8, 0.6, 0])]]
        encoded.allowedPrototypes = [[0.8, 0.6, 0]]
        var aggregator = VideoAggregator(
            policies: Self.policySet, encoded: encoded, thresholds: [0.7], settings: Self.settings, explainAll: false)
        let score = scoreFrame(Self.frame0, policies: encoded, settings: Self.settings)[0]
        #expect(score.override == 0)
        aggregator.add(Self.frame0, scores: [score])
        let verdict = try #require(aggregator.verdicts().first)
        #expect(verdict.verdict == false && verdict.score == nil && verdict.overrides.first?.allowedRuleID == "a1")
    }

    @Test func touchingSegmentsMerge() {
        #expect(VideoAggregator.mergeSegments([2...3, 0...1, 1...2, 5...6]) == [0...3, 5...6])
    }

    /// Boxes go back through the crop offset and the resize scale to the original frame, clipped.
    @Test func boxesMapToTheOriginalFrame() {
        let t = PreprocessTransform(
            scaleX: 0.5, scaleY: 0.5, offsetX: 16, offsetY: 0, sourceWidth: 100, sourceHeight: 64)
        let box = t.sourceBox(cropX0: 32, cropY0: 0, cropX1: 64, cropY1: 32)
        #expect(box == (96, 0, 100, 64))
    }
}
