import Compute
import GuardrailCore
import Vision

/// How far a tensor is from its reference: the worst element and the smallest row cosine.
public struct TensorComparison: CustomStringConvertible, Sendable {
    public var maxAbsDiff: Float
    public var worstIndex: Int
    /// Largest absolute value of the reference, the scale tolerances are relative to.
    public var scale: Float
    /// The smallest cosine similarity between corresponding rows (last dimension).
    public var minRowCosine: Double

    /// Compares two tensors of the same shape element by element and row by row.
    public init(_ actual: Tensor, _ expected: Tensor) {
        precondition(actual.shape == expected.shape, "shapes differ: \(actual.shape) vs \(expected.shape)")
        let a = actual.scalars
        let e = expected.scalars
        var worst: Float = 0
        var index = 0
        var scale: Float = 0
        for i in a.indices {
            let d = abs(a[i] - e[i])
            scale = max(scale, abs(e[i]))
            if d > worst || d.isNaN {
                worst = d
                index = i
            }
        }
        let width = expected.shape.last ?? 1
        var cosine = 1.0
        for row in stride(from: 0, to: a.count, by: max(width, 1)) {
            let end = min(row + width, a.count)
            let (x, y) = (Array(a[row..<end]), Array(e[row..<end]))
            // A zero row has no direction: it does not count (Vectors.cosine gives 0 for it).
            if x.contains(where: { $0 != 0 }) && y.contains(where: { $0 != 0 }) {
                cosine = min(cosine, Vectors.cosine(x, y))
            }
        }
        maxAbsDiff = worst
        worstIndex = index
        self.scale = scale
        minRowCosine = cosine
    }

    /// Max abs difference relative to the reference's largest magnitude.
    public var relative: Float { maxAbsDiff / max(scale, 1e-12) }

    public var description: String {
        "max abs diff \(maxAbsDiff) at element \(worstIndex) (scale \(scale), relative \(relative)), min row cosine \(minRowCosine)"
    }
}
