import Foundation
import GuardrailCore

/// The constants of SafeWatch §5–§6, recorded in every report.
public struct ScoringSettings: Sendable, Hashable, Codable {
    /// ρ: share of patch tokens kept per policy and frame (`k = max(1, ceil(ρ·N))`).
    public var keepRatio: Float = 0.10
    /// τ: softmax temperature over the kept tokens' relevances.
    public var temperature: Float = 0.01
    /// λ: weight of the global score against the local, pruned-token score.
    public var lambda: Float = 0.5
    /// δ: margin by which an allowed rule must beat the blocked ones to exempt a frame.
    public var delta: Float = 0.02
    /// Frames that must be flagged for a policy's verdict to be true.
    public var minFlaggedFrames = 1
    /// E: evidence frames per policy.
    public var evidenceFrames = 3
    /// R: evidence regions per evidence frame.
    public var evidenceRegions = 5

    public init() {}

    enum CodingKeys: String, CodingKey {
        case keepRatio = "rho"
        case temperature = "tau"
        case lambda, delta
        case minFlaggedFrames = "min_flagged_frames"
        case evidenceFrames = "evidence_frames"
        case evidenceRegions = "evidence_regions"
    }
}

/// One frame in the joint space: the unit global embedding `g` and unit patch embeddings `z_j`
/// (row-major over the `grid × grid` patches), with what is needed to map patches to pixels.
public struct FrameFeatures: Sendable {
    public var index: Int
    public var timestamp: Double
    /// The span of the video this frame stands for.
    public var interval: ClosedRange<Double>
    public var global: [Float]
    /// `N × D`, `N = grid²`.
    public var patches: [Float]
    public var grid: Int
    public var patchSize: Int
    public var transform: PreprocessTransform

    public init(
        index: Int, timestamp: Double, interval: ClosedRange<Double>, global: [Float], patches: [Float], grid: Int,
        patchSize: Int, transform: PreprocessTransform
    ) {
        self.index = index
        self.timestamp = timestamp
        self.interval = interval
        self.global = global
        self.patches = patches
        self.grid = grid
        self.patchSize = patchSize
        self.transform = transform
    }
}

/// A policy's score on one frame (§6.4).
public struct FrameScore: Sendable {
    /// `s = λγ + (1 − λ)ℓ`.
    public var score: Float
    /// γ: `g · u_p`.
    public var global: Float
    /// ℓ: `v · u_p`, the pooled kept tokens.
    public var local: Float
    /// Kept token indices, most relevant first (ties: smaller index first).
    public var selected: [Int]
    /// Their relevances `z_j · u_p`, same order.
    public var relevances: [Float]
    /// v: the softmax-pooled kept tokens, unit length.
    public var pooled: [Float]
    /// The allowed rule that exempts this frame, if any.
    public var override: Int?
}

/// Scores every policy on one frame.
public func scoreFrame(_ frame: FrameFeatures, policies: EncodedPolicySet, settings: ScoringSettings) -> [FrameScore] {
    let d = policies.dimension
    let n = frame.patches.count / d
    precondition(n * d == frame.patches.count && frame.global.count == d, "frame features do not match the policies")
    let k = max(1, Int((settings.keepRatio * Float(n)).rounded(.up)))
    return policies.prototypes.indices.map { p in
        let u = policies.prototypes[p]
        var relevance = [Float](repeating: 0, count: n)
        frame.patches.withUnsafeBufferPointer { z in
            for j in 0..<n {
                var sum: Float = 0
                for i in 0..<d { sum += z[j * d + i] * u[i] }
                relevance[j] = sum
            }
        }
        let selected = topIndices(relevance, count: k)
        let top = relevance[selected[0]]
        let weights = selected.map { expf((relevance[$0] - top) / settings.temperature) }
        let total = weights.reduce(0, +)
        var pooled = [Float](repeating: 0, count: d)
        for (w, j) in zip(weights, selected) {
            let weight = w / total
            for i in 0..<d { pooled[i] += weight * frame.patches[j * d + i] }
        }
        pooled = Vectors.normalized(pooled)
        let local = Vectors.dot(pooled, u)
        let global = Vectors.dot(frame.global, u)
        var override: Int?
        let allowed = policies.allowed[p]
        if !allowed.isEmpty {
            let bestAllowed = allowed.indices.max {
                Vectors.dot(frame.global, allowed[$0].embedding) < Vectors.dot(frame.global, allowed[$1].embedding)
            }!
            let blockedMax = policies.blocked[p].map { Vectors.dot(frame.global, $0.embedding) }.max() ?? -.infinity
            if Vectors.dot(frame.global, allowed[bestAllowed].embedding) > blockedMax + settings.delta {
                override = bestAllowed
            }
        }
        return FrameScore(
            score: settings.lambda * global + (1 - settings.lambda) * local, global: global, local: local,
            selected: selected, relevances: selected.map { relevance[$0] }, pooled: pooled, override: override)
    }
}

/// The indices of the `count` largest values, largest first; ties keep the smaller index first.
func topIndices(_ values: [Float], count: Int) -> [Int] {
    let order = values.indices.sorted { (a: Int, b: Int) -> Bool in
        values[a] != values[b] ? values[a] > values[b] : a < b
    }
    return Array(order.prefix(count))
}
