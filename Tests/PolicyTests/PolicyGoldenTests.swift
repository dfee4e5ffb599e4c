import Foundation
import GuardrailEngine
import Policy
import TestSupport
import Testing
import Vision

/// The whole policy pipeline on still images against an independent PyTorch implementation of
/// the spec (`scripts/gen_policy_goldens.py`): scores within 1e-4, every discrete outcome identical.
@Suite struct PolicyGoldenTests {
    struct Golden: Decodable {
        struct Entry: Decodable {
            var score: Double
            var global: Double
            var local: Double
            var selected: [Int]
            var override: String?
            var verdict: Bool
            var matchedRule: String
            var matchedSimilarity: Double
            var boxes: [[Double]]
        }

        var pieces: [String: Int]
        var images: [String: [String: Entry]]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/policy/images.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Golden.self, from: data)
    }()

    static func engine(explainAll: Bool = true) throws -> GuardrailEngine {
        var settings = ScanSettings()
        settings.explainAll = explainAll
        settings.scoring.evidenceFrames = 1
        return try GuardrailEngine(
            model: Fixtures.path("models/clip-b16-tiny"), policies: Fixtures.path("policies/test-policies.json"),
            settings: settings, cache: nil)
    }

    @Test func imagesMatchTheReference() throws {
        let engine = try Self.engine()
        for (name, expected) in Self.golden.images.sorted(by: { $0.key < $1.key }) {
            let report = try engine.scan(path: Fixtures.path("images/\(name)")).get()
            for policy in report.policies {
                let e = try #require(expected[policy.id])
                let label = "\(name) \(policy.id)"
                #expect(policy.verdict == e.verdict, "\(label) verdict")
                #expect(policy.overrides.first?.allowedRuleID == e.override, "\(label) override")
                if e.override == nil {
                    let score = try #require(policy.score)
                    #expect(abs(Double(score) - e.score) < 1e-4, "\(label) score \(score) vs \(e.score)")
                    let evidence = try #require(policy.evidence.first)
                    #expect(
                        abs(Double(evidence.global) - e.global) < 1e-4 && abs(Double(evidence.local) - e.local) < 1e-4)
                    #expect(evidence.regions.map(\.token) == e.selected, "\(label) kept tokens")
                    #expect(evidence.matchedRule.id == e.matchedRule, "\(label) matched rule")
                    #expect(abs(Double(evidence.matchedRule.similarity) - e.matchedSimilarity) < 1e-4)
                    for (box, reference) in zip(evidence.regions.map(\.box), e.boxes) {
                        #expect(
                            zip(box, reference).allSatisfy { abs($0 - $1) < 1e-6 },
                            "\(label) box \(box) vs \(reference)")
                    }
                } else {
                    #expect(policy.score == nil)
                }
            }
        }
    }

    @Test func longRulesAreCutIntoPiecesAtWordEnds() throws {
        let engine = try Self.engine()
        let rules = engine.encoded.blocked.flatMap { $0 } + engine.encoded.allowed.flatMap { $0 }
        for rule in rules {
            #expect(rule.pieces == Self.golden.pieces[rule.rule.text], "\(rule.rule.id)")
        }
        #expect(rules.contains { $0.pieces == 3 })
    }
}
