import Foundation
import GuardrailCore
import Vision

/// SAFREE's settings (spec `safree.md` §5, §7, §10 defaults).
public struct SAFREESettings: Sendable, Hashable, Codable {
    /// α: a token is a trigger when its distance reaches `(1 + α)` times the others' mean.
    public var alpha = 0.01
    /// `up_t` (γ): the largest number of steps the sanitized embeddings can cover.
    public var upT = 10.0
    /// k and t₀ of the self-validating sigmoid: 2.5 and 5.333, or 3.5 and 5.5 for `artists-*` sets.
    public var steepness = 2.5
    public var midpoint = 5.333
    /// Also project the end-of-text and padding rows (spec E7; off in the reference).
    public var projectEOSAndPadding = false

    public init() {}

    /// The defaults for a concept set: the artist constants for `artists-*` sets.
    public init(conceptSet name: String) {
        if name.hasPrefix("artists-") {
            steepness = 3.5
            midpoint = 5.5
        }
    }

    enum CodingKeys: String, CodingKey {
        case alpha
        case upT = "up_t"
        case steepness = "k"
        case midpoint = "t0"
        case projectEOSAndPadding = "project_eos_and_padding"
    }

    /// `t' = round(up_t · σ(2k(10β − t₀)))`, half to even, in Double.
    public func tPrime(beta: Double) -> Int {
        let sigmoid = 1 / (1 + exp(-2 * steepness * (10 * beta - midpoint)))
        return Int((upT * sigmoid).rounded(.toNearestOrEven))
    }
}

/// What SAFREE did to one prompt.
public struct SAFREEResult: Sendable {
    /// `E_safe`: rows of the input, trigger rows replaced by their projection.
    public var sanitized: [[Float]]
    /// Sequence positions whose rows were replaced.
    public var triggerPositions: [Int]
    /// `d_i` per content token.
    public var distances: [Double]
    /// `(1 + α) μ_{−i}` per content token.
    public var thresholds: [Double]
    /// β and t′ of the self-validating filter (t′ = −1 when skipped).
    public var beta: Double
    public var tPrime: Int
    /// One content token: the leave-one-out mean is undefined and the token is flagged (spec E3).
    public var looUndefined: Bool
    /// Why SAFREE was not applied (`empty_prompt`), if it was not.
    public var skipped: String?
}

/// SAFREE on one prompt (spec §5–§7): `embeddings` are the prompt's per-position hidden states
/// (BOS, `contentCount` tokens, EOS, padding), `masked` the pooled embeddings of the prompt with each
/// content token replaced in turn, `toxic` the concept subspace.
public func applySAFREE(
    embeddings: [[Float]], contentCount n: Int, masked: [[Double]], toxic: Subspace, settings: SAFREESettings
) -> SAFREEResult {
    precondition(masked.count == n && embeddings.count >= n + 2, "one masked embedding per content token")
    guard n > 0 else {
        return SAFREEResult(
            sanitized: embeddings, triggerPositions: [], distances: [], thresholds: [], beta: 0, tPrime: -1,
            looUndefined: false, skipped: "empty_prompt")
    }
    let distances = masked.map { Vectors.norm(toxic.reject($0)) }
    let total = distances.reduce(0, +)
    let thresholds = distances.map { (1 + settings.alpha) * (n > 1 ? (total - $0) / Double(n - 1) : .nan) }
    // "Kept" is the strict comparison, so NaN (one token) and equality count as triggers.
    let triggers = (0..<n).filter { !(distances[$0] < thresholds[$0]) }
    let span = Subspace(spanning: masked, dimension: toxic.dimension)
    func projected(_ row: [Float]) -> [Double] { toxic.reject(span.project(row.map(Double.init))) }
    var sanitized = embeddings
    var replace = triggers.map { $0 + 1 }
    if settings.projectEOSAndPadding { replace += Array((n + 1)..<embeddings.count) }
    for p in replace { sanitized[p] = projected(embeddings[p]).map(Float.init) }
    // Self-validating filter over BOS, the content tokens and EOS (padding excluded).
    let cosines = (0...(n + 1)).map { p -> Double in
        let e = embeddings[p].map(Double.init)
        let q = projected(embeddings[p])
        let denominator = Vectors.norm(e) * Vectors.norm(q)
        return denominator < 1e-8 ? 0 : zip(e, q).reduce(0) { $0 + $1.0 * $1.1 } / denominator
    }
    let beta = 1 - cosines.reduce(0, +) / Double(cosines.count)
    return SAFREEResult(
        sanitized: sanitized, triggerPositions: replace, distances: distances, thresholds: thresholds, beta: beta,
        tPrime: settings.tPrime(beta: beta), looUndefined: n == 1, skipped: nil)
}
