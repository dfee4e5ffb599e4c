import Foundation
import GuardrailCore
import Policy
import Vision

/// Encodes policy rules with a CLIP text tower: one chunk per rule (or per ≤ 75-token piece of a
/// long rule), each its own sequence with positions from 0 — no cross-policy attention, no position
/// bias — all chunks of all policies in one batch, aggregated with equal weight in canonical order.
public struct PolicyEncoder {
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    /// Tokens of a piece between the start and end tokens.
    public static let pieceBudget = 75

    public init(model: CLIPModel, tokenizer: CLIPTokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// A rule's token pieces (without start and end tokens): at most 75 tokens each, cut after a
    /// token that ends a word, or at 75 when one word is longer than that (§3.3).
    public func pieces(_ text: String) -> [[Int]] { Self.pieces(text, tokenizer: tokenizer) }

    /// ``pieces(_:)`` with any tokenizer (for `guardrail policy check`).
    public static func pieces(_ text: String, tokenizer: CLIPTokenizer) -> [[Int]] {
        let tokens = Array(tokenizer.encode(text).dropFirst().dropLast())
        var pieces: [[Int]] = []
        var start = 0
        while start < tokens.count {
            var end = min(start + Self.pieceBudget, tokens.count)
            if end < tokens.count, let cut = (start..<end).last(where: { tokenizer.endsWord(tokens[$0]) }) {
                end = cut + 1
            }
            pieces.append(Array(tokens[start..<end]))
            start = end
        }
        return pieces.isEmpty ? [[]] : pieces
    }

    /// Encodes every rule of `set`.
    public func encode(_ set: PolicySet) throws(VisionError) -> EncodedPolicySet {
        // The batch is built in a canonical order (policy id, kind, rule text, rule id, piece), so
        // any reordering of the file gives the very same GEMMs and therefore the same bits.
        var items: [(key: [String], ids: [Int], owner: (policy: Int, allowed: Bool, rule: Int))] = []
        for (p, policy) in set.policies.enumerated() {
            for (kind, rules) in [(false, policy.blocked), (true, policy.allowed)] {
                for (r, rule) in rules.enumerated() {
                    for (index, piece) in pieces(rule.text).enumerated() {
                        var ids = [tokenizer.startToken] + piece + [tokenizer.endToken]
                        ids += [Int](repeating: tokenizer.padToken, count: tokenizer.contextLength - ids.count)
                        let key = [
                            policy.id, kind ? "allowed" : "blocked", rule.text, rule.id, String(format: "%06d", index),
                        ]
                        items.append((key, ids, (p, kind, r)))
                    }
                }
            }
        }
        items.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let sequences = items.map(\.ids)
        let owners = items.map(\.owner)
        let encoding = try model.encodeTexts(sequences, hiddenStates: false)
        guard let embeds = encoding.textEmbeds else {
            throw VisionError.invalidInput(
                "\(model.folder) has no text_projection: policies need a CLIP model with both towers")
        }
        let d = embeds.shape[1]
        let rows = embeds.scalars
        var sums: [String: [Float]] = [:]
        var pieceCounts: [String: Int] = [:]
        for (i, owner) in owners.enumerated() {
            let key = "\(owner.policy)/\(owner.allowed)/\(owner.rule)"
            // Pieces are summed in piece order, each unit length first.
            let piece = Vectors.normalized(Array(rows[(i * d)..<((i + 1) * d)]))
            sums[key] = Vectors.add(sums[key] ?? [Float](repeating: 0, count: d), piece)
            pieceCounts[key, default: 0] += 1
        }
        var result = EncodedPolicySet(dimension: d, prototypes: [], allowedPrototypes: [], blocked: [], allowed: [])
        for (p, policy) in set.policies.enumerated() {
            func rules(_ list: [PolicyRule], allowed: Bool) -> [EncodedRule] {
                list.enumerated().map { r, rule in
                    let key = "\(p)/\(allowed)/\(r)"
                    return EncodedRule(rule: rule, embedding: Vectors.normalized(sums[key]!), pieces: pieceCounts[key]!)
                }
            }
            let blocked = rules(policy.blocked, allowed: false)
            let allowed = rules(policy.allowed, allowed: true)
            result.blocked.append(blocked)
            result.allowed.append(allowed)
            result.prototypes.append(Self.prototype(blocked, dimension: d))
            result.allowedPrototypes.append(allowed.isEmpty ? nil : Self.prototype(allowed, dimension: d))
        }
        return result
    }

    /// `normalize(Σ ĉ_m)` summed in canonical order (rule text, then id), so file order changes no bit.
    static func prototype(_ rules: [EncodedRule], dimension: Int) -> [Float] {
        let ordered = rules.sorted { ($0.rule.text, $0.rule.id) < ($1.rule.text, $1.rule.id) }
        return Vectors.normalized(
            ordered.reduce([Float](repeating: 0, count: dimension)) { Vectors.add($0, $1.embedding) })
    }
}

/// A policy as `guardrail policy check` lists it: its rules with their token counts and the
/// pieces the encoder cuts them into (nil without a tokenizer).
public struct PolicySummary: Sendable, Encodable {
    public struct Rule: Sendable, Encodable {
        public var id: String
        /// `blocked` or `allowed`.
        public var kind: String
        public var text: String
        public var tokens: Int?
        public var pieces: Int?
    }

    public var id: String
    public var name: String
    public var threshold: Float?
    public var rules: [Rule]

    /// Every policy of `set`, rules in file order, blocked before allowed.
    public static func summaries(of set: PolicySet, tokenizer: CLIPTokenizer?) -> [PolicySummary] {
        set.policies.map { policy in
            PolicySummary(
                id: policy.id, name: policy.name, threshold: policy.threshold?.value,
                rules: [("blocked", policy.blocked), ("allowed", policy.allowed)].flatMap { kind, rules in
                    rules.map { rule in
                        Rule(
                            id: rule.id, kind: kind, text: rule.text,
                            tokens: tokenizer.map { $0.encode(rule.text).count - 2 },
                            pieces: tokenizer.map { PolicyEncoder.pieces(rule.text, tokenizer: $0).count })
                    }
                })
        }
    }
}
