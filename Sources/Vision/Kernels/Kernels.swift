import Foundation

// Element-wise and row-wise kernels over raw buffers: free functions, no allocation, no closures
// in the loops. Rows are contiguous; `rows × width` elements.

/// `x[r, :] += bias` for every row.
func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>) {
    for r in 0..<rows {
        let row = x + r * width
        for i in 0..<width { row[i] += bias[i] }
    }
}

/// `x += y`, element-wise over `count` elements.
func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}

/// LayerNorm over the last dimension, as PyTorch computes it (biased variance, eps inside the
/// square root), written to `out` (which may be `x`).
func layerNorm(
    _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    eps: Float, out: UnsafeMutablePointer<Float>
) {
    let n = Float(width)
    for r in 0..<rows {
        let row = x + r * width
        let dst = out + r * width
        var sum: Float = 0
        for i in 0..<width { sum += row[i] }
        let mean = sum / n
        var squares: Float = 0
        for i in 0..<width {
            let d = row[i] - mean
            squares += d * d
        }
        let inverse = 1 / (squares / n + eps).squareRoot()
        for i in 0..<width { dst[i] = (row[i] - mean) * inverse * weight[i] + bias[i] }
    }
}

/// The activations CLIP checkpoints name in `hidden_act`.
public enum Activation: String, Sendable, Codable {
    /// `x · sigmoid(1.702 x)`, OpenAI CLIP's.
    case quickGELU = "quick_gelu"
    /// The exact (erf) GELU.
    case gelu
    /// The tanh approximation of GELU.
    case geluTanh = "gelu_pytorch_tanh"

    /// Applies the activation in place (exposed for the kernel tests).
    public func applyForTesting(_ x: UnsafeMutablePointer<Float>, count: Int) { apply(x, count: count) }

    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .quickGELU:
            for i in 0..<count { x[i] = x[i] / (1 + expf(-1.702 * x[i])) }
        case .gelu:
            for i in 0..<count { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.707_106_77)) }
        case .geluTanh:
            for i in 0..<count {
                let v = x[i]
                x[i] = 0.5 * v * (1 + tanhf(0.797_884_56 * (v + 0.044_715 * v * v * v)))
            }
        }
    }
}

/// Softmax over each row of `rows × width`, max-subtracted; with `causal`, row `i` only attends to
/// columns `0...offset + i` (the rest become 0), `offset` being the number of cached keys before
/// the rows' own.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, causal: Bool, offset: Int = 0) {
    for r in 0..<rows {
        let row = x + r * width
        let visible = causal ? min(offset + r + 1, width) : width
        var maximum = -Float.infinity
        for i in 0..<visible { maximum = max(maximum, row[i]) }
        var sum: Float = 0
        for i in 0..<visible {
            let e = expf(row[i] - maximum)
            row[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<visible { row[i] *= inverse }
        for i in visible..<width { row[i] = 0 }
    }
}

/// Scales each row to unit L2 norm (PyTorch `F.normalize`, eps 1e-12).
func normalizeRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let row = x + r * width
        var squares: Float = 0
        for i in 0..<width { squares += row[i] * row[i] }
        let inverse = 1 / max(squares.squareRoot(), 1e-12)
        for i in 0..<width { row[i] *= inverse }
    }
}
