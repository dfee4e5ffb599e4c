import Compute

/// An orthonormal basis `U` (`dimension × rank`, column-major, Float64) of the span of some
/// vectors, found by a thin SVD (LAPACK `dgesdd`) keeping singular values above
/// `max(dimension, count) · ε · σ_max` — the pseudo-inverse's rule, so rank-deficient input (repeated
/// vectors) is handled and no Gram matrix is ever inverted.
public struct Subspace: Sendable, Hashable {
    public let dimension: Int
    /// Columns of `U`, each `dimension` long.
    public let basis: [[Double]]
    /// The singular values kept.
    public let singularValues: [Double]

    public var rank: Int { basis.count }

    /// The span of `vectors` (each of length `dimension`).
    public init(spanning vectors: [[Double]], dimension: Int) {
        precondition(vectors.allSatisfy { $0.count == dimension }, "vectors must have the subspace's dimension")
        self.dimension = dimension
        guard !vectors.isEmpty else {
            basis = []
            singularValues = []
            return
        }
        let (u, s) = LAPACK.thinSVD(columnMajor: vectors.flatMap { $0 }, rows: dimension, columns: vectors.count)
        let tolerance = Double(max(dimension, vectors.count)) * Double.ulpOfOne * (s.first ?? 0)
        let rank = s.prefix { $0 > tolerance }.count
        basis = (0..<rank).map { Array(u[($0 * dimension)..<(($0 + 1) * dimension)]) }
        singularValues = Array(s.prefix(rank))
    }

    /// `P x = U (Uᵀ x)`: the component of `x` inside the subspace.
    public func project(_ x: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: dimension)
        for column in basis {
            var coefficient = 0.0
            for i in 0..<dimension { coefficient += column[i] * x[i] }
            for i in 0..<dimension { out[i] += coefficient * column[i] }
        }
        return out
    }

    /// `(I − P) x`: the component of `x` orthogonal to the subspace.
    public func reject(_ x: [Double]) -> [Double] {
        let inside = project(x)
        return (0..<dimension).map { x[$0] - inside[$0] }
    }
}
