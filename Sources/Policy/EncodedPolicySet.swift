/// A rule's unit embedding `ĉ` in the joint space.
public struct EncodedRule: Sendable, Hashable {
    public var rule: PolicyRule
    public var embedding: [Float]
    /// How many ≤ 75-token pieces the rule was cut into.
    public var pieces: Int

    public init(rule: PolicyRule, embedding: [Float], pieces: Int) {
        self.rule = rule
        self.embedding = embedding
        self.pieces = pieces
    }
}

/// A policy set in the joint space (SafeWatch §3): per policy the blocked prototype `u_p`, the
/// allowed prototype `a_p` (if any) and every rule embedding, for relevance, scoring and evidence.
public struct EncodedPolicySet: Sendable, Hashable {
    public var dimension: Int
    /// `u_p` per policy, in the set's order.
    public var prototypes: [[Float]]
    /// `a_p` per policy, nil without allowed rules.
    public var allowedPrototypes: [[Float]?]
    public var blocked: [[EncodedRule]]
    public var allowed: [[EncodedRule]]

    public init(
        dimension: Int, prototypes: [[Float]], allowedPrototypes: [[Float]?], blocked: [[EncodedRule]],
        allowed: [[EncodedRule]]
    ) {
        self.dimension = dimension
        self.prototypes = prototypes
        self.allowedPrototypes = allowedPrototypes
        self.blocked = blocked
        self.allowed = allowed
    }
}
