/// Small vector helpers for embeddings held as arrays (hot paths use the kernels instead).
public enum Vectors {
    /// `v / max(‖v‖, 1e-12)`, PyTorch's `F.normalize`.
    public static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let inverse = 1 / max(norm, 1e-12)
        return v.map { $0 * inverse }
    }

    /// `Σ aᵢ bᵢ` in Float, in index order.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "dot of vectors of different lengths")
        var sum: Float = 0
        for i in a.indices { sum += a[i] * b[i] }
        return sum
    }

    /// Element-wise sum.
    public static func add(_ a: [Float], _ b: [Float]) -> [Float] {
        precondition(a.count == b.count, "sum of vectors of different lengths")
        return zip(a, b).map { $0 + $1 }
    }

    /// Cosine similarity accumulated in Double; 0 when either vector is zero.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "cosine of vectors of different lengths")
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
    }

    /// Euclidean norm in Double.
    public static func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}
