import CKernels
import Foundation

// Element-wise and row-wise kernels over raw buffers: free functions, no allocation, no closures
// in the loops. Rows are contiguous; `rows × width` elements.

/// `x += y`, element-wise over `count` elements.
package func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}

/// `out = a + b`, element-wise over `count` elements (embedding rows: token or patch plus position).
package func add(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int
) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}

/// LayerNorm over the last dimension, as PyTorch computes it (biased variance, eps inside the
/// square root), written to `out` (which may be `x`); rows are split between `compute`'s workers.
package func layerNorm(
    _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    eps: Float, out: UnsafeMutablePointer<Float>, compute: ComputeConfiguration
) {
    compute.parallel(rows) { part in
        let offset = part.lowerBound * width
        gr_layer_norm(x + offset, part.count, width, weight, bias, eps, out + offset, compute.isa)
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
    /// `x · sigmoid(x)` (YOLO's activation; `silu` in transformers).
    case silu
    /// `1 / (1 + e^-x)`.
    case sigmoid

    /// Applies the activation in place on `compute`'s kernel path.
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int, compute: ComputeConfiguration) {
        apply(x, count: count, isa: compute.isa)
    }

    /// Applies the activation in place with the C kernels for instruction set `isa` (`GR_ISA_…`).
    package func apply(_ x: UnsafeMutablePointer<Float>, count: Int, isa: Int32) {
        switch self {
        case .quickGELU:
            gr_quick_gelu(x, count, isa)
        case .gelu:
            gr_gelu(x, count, isa)
        case .silu:
            gr_silu(x, count, isa)
        case .sigmoid:
            gr_sigmoid(x, count, isa)
        case .geluTanh:
            for i in 0..<count {
                let v = x[i]
                x[i] = 0.5 * v * (1 + tanhf(0.797_884_56 * (v + 0.044_715 * v * v * v)))
            }
        }
    }
}

/// `e^x` in place over `count` elements, on `compute`'s kernel path (the vector kernels agree with
/// `expf` to within a few ulps).
public func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, compute: ComputeConfiguration) {
    gr_exp(x, count, compute.isa)
}

/// Softmax over an axis of a tensor in place: `length` values `stride` floats apart, for each of
/// `count` consecutive positions from `x` (max-subtracted, exponentiated, divided by the sum), on
/// `compute`'s kernel path.
public func softmaxColumns(
    _ x: UnsafeMutablePointer<Float>, length: Int, stride: Int, count: Int, compute: ComputeConfiguration
) {
    gr_softmax_columns(x, length, stride, count, compute.isa)
}

/// Softmax of `scale · x` over each row of `rows × width`, max-subtracted; with `causal`, row `i`
/// only attends to columns `0...offset + i` (the rest become 0), `offset` being the number of
/// cached keys before the rows' own; with the C kernel for instruction set `isa` (`GR_ISA_…`).
package func softmaxRows(
    _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, scale: Float = 1, causal: Bool, offset: Int = 0,
    isa: Int32
) {
    gr_softmax_rows(x, rows, width, scale, causal ? 1 : 0, offset, isa)
}

/// Scratch for ``attentionHead(queries:keys:headWidth:query:key:value:ld:causal:offset:into:scratch:)``
/// on one kernel path, owning its memory and growing when a pass needs more; the head runs on the
/// path the scratch was made for. A workspace keeps one per worker, so the layer loop allocates
/// nothing once the first pass has sized them.
package final class AttentionScratch {
    /// The instruction set of the packed kernel (`GR_ISA_…`), `GR_ISA_PORTABLE` for BLAS.
    package let isa: Int32
    package var packed: Bool { isa != GR_ISA_PORTABLE }
    package private(set) var pointer: UnsafeMutablePointer<Float>
    private var capacity: Int

    package init(isa: Int32) {
        self.isa = isa
        capacity = 0
        pointer = .allocate(capacity: 0)
    }

    /// Makes room for one head of `queries` × `keys` with `headWidth`-wide rows.
    package func reserve(queries: Int, keys: Int, headWidth: Int) {
        let needed = packed ? gr_attention_scratch(queries, keys, headWidth) : queries * keys
        guard needed > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: needed)
        capacity = needed
    }

    deinit { pointer.deallocate() }
}

/// One head of scaled dot-product attention, `context = softmax(q kᵀ / √headWidth) v` (causal as
/// in ``softmaxRows(_:rows:width:scale:causal:offset:)``): `q`, `context` have `queries` rows,
/// `key`, `value` have `keys` rows, all `ld` apart. The packed kernel or BLAS, as `scratch` was made.
package func attentionHead(
    queries: Int, keys: Int, headWidth: Int, query: UnsafePointer<Float>, key: UnsafePointer<Float>,
    value: UnsafePointer<Float>, ld: Int, causal: Bool, offset: Int = 0, into context: UnsafeMutablePointer<Float>,
    scratch: AttentionScratch
) {
    let scale = 1 / Float(headWidth).squareRoot()
    scratch.reserve(queries: queries, keys: keys, headWidth: headWidth)
    if scratch.packed {
        gr_attention(
            queries, keys, headWidth, query, ld, key, value, ld, scale, causal ? 1 : 0, offset, context, ld,
            scratch.pointer, scratch.isa)
        return
    }
    let scores = scratch.pointer
    GEMM.strided(
        query, lda: ld, key, ldb: ld, into: scores, ldc: keys, m: queries, n: keys, k: headWidth, transposeB: true)
    softmaxRows(scores, rows: queries, width: keys, scale: scale, causal: causal, offset: offset, isa: GR_ISA_PORTABLE)
    GEMM.strided(
        scores, lda: keys, value, ldb: ld, into: context, ldc: ld, m: queries, n: headWidth, k: keys,
        transposeB: false)
}

/// Scales each row to unit L2 norm (PyTorch `F.normalize`, eps 1e-12).
package func normalizeRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let row = x + r * width
        var squares: Float = 0
        for i in 0..<width { squares += row[i] * row[i] }
        let inverse = 1 / max(squares.squareRoot(), 1e-12)
        for i in 0..<width { row[i] *= inverse }
    }
}
