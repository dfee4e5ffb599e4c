import Compute
import Foundation

/// A PyTorch `nn.Linear`: `weight` `[out, in]` (packed for the kernel at load), optional `bias` `[out]`.
struct Linear {
    let weight: LinearWeight
    let bias: Tensor?
    var inFeatures: Int { weight.inFeatures }
    var outFeatures: Int { weight.outFeatures }

    init(loading store: WeightStore, prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true)
        throws(VisionError)
    {
        weight = try store.linearWeight("\(prefix).weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try store.take("\(prefix).bias", shape: [outFeatures]) : nil
    }

    /// `x[…, in]` projected to `[…, out]` (a new tensor): the joint-space projections of both towers.
    func project(_ x: Tensor) -> Tensor {
        let out = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        self(x.pointer, rows: x.count / inFeatures, into: out.storage.pointer)
        return out
    }

    /// `out[rows, out] = x[rows, in] · weightᵀ + bias`, then `activation`; or `out += …` when
    /// `accumulate` (a residual connection).
    func callAsFunction(
        _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool = false,
        activation: Activation? = nil
    ) {
        weight.apply(
            x, lda: inFeatures, rows: rows, bias: bias?.pointer, into: out, ldc: outFeatures, accumulate: accumulate,
            activation: activation)
    }
}

/// A PyTorch `nn.LayerNorm` over the last dimension.
struct LayerNorm {
    let weight: Tensor
    let bias: Tensor
    let eps: Float
    let compute: ComputeConfiguration

    init(loading store: WeightStore, prefix: String, width: Int, eps: Float) throws(VisionError) {
        weight = try store.take("\(prefix).weight", shape: [width])
        bias = try store.take("\(prefix).bias", shape: [width])
        self.eps = eps
        compute = store.compute
    }

    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        layerNorm(
            x, rows: rows, width: weight.count, weight: weight.pointer, bias: bias.pointer, eps: eps, out: out,
            compute: compute)
    }
}

/// Scratch memory for forward passes of an encoder over up to `rows` rows (`batch × tokens`),
/// reused by every layer. `hidden` also serves before the first layer (the vision tower's im2col
/// patches), so it holds at least `minimumHidden` floats; `side` holds rows updated apart from the
/// rest (the class tokens of a last layer run for them only); `attention` has one scratch per
/// worker, sized by the first pass that needs it.
final class Workspace {
    let rows: Int
    let normed: UnsafeMutablePointer<Float>
    let query: UnsafeMutablePointer<Float>
    let key: UnsafeMutablePointer<Float>
    let value: UnsafeMutablePointer<Float>
    let context: UnsafeMutablePointer<Float>
    let side: UnsafeMutablePointer<Float>
    let hidden: UnsafeMutablePointer<Float>
    let hiddenCapacity: Int
    let attention: [AttentionScratch]
    private let base: UnsafeMutablePointer<Float>

    init(rows: Int, width: Int, intermediate: Int, minimumHidden: Int = 0, compute: ComputeConfiguration) {
        self.rows = rows
        hiddenCapacity = max(rows * max(intermediate, width), minimumHidden)
        base = .allocate(capacity: 6 * rows * width + hiddenCapacity)
        normed = base
        query = base + rows * width
        key = base + 2 * rows * width
        value = base + 3 * rows * width
        context = base + 4 * rows * width
        side = base + 5 * rows * width
        hidden = base + 6 * rows * width
        attention = (0..<compute.threads).map { _ in AttentionScratch(isa: compute.isa) }
    }

    deinit { base.deallocate() }
}

/// The workspaces of one encoder, kept between forward passes so that steady-state passes touch
/// no fresh pages (a batch-8 ViT-B pass needs about 17 MB; faulting it in anew cost a few percent).
/// Thread-safe: a pass takes a free workspace with room enough, or makes one, and gives it back.
final class WorkspaceCache: @unchecked Sendable {
    private let width: Int
    private let intermediate: Int
    private let compute: ComputeConfiguration
    private let lock = NSLock()
    private var free: [Workspace] = []
    /// Workspaces kept when idle; more concurrent passes allocate their own.
    private let keep = 2

    init(width: Int, intermediate: Int, compute: ComputeConfiguration) {
        self.width = width
        self.intermediate = intermediate
        self.compute = compute
    }

    /// A free workspace with room for `rows` rows and `minimumHidden` floats of `hidden`, or a new
    /// one; hand it back with ``give(_:)``.
    func take(rows: Int, minimumHidden: Int = 0) -> Workspace {
        let cached: Workspace? = lock.withLock {
            guard let index = free.firstIndex(where: { $0.rows >= rows && $0.hiddenCapacity >= minimumHidden })
            else { return nil }
            return free.remove(at: index)
        }
        return cached
            ?? Workspace(
                rows: rows, width: width, intermediate: intermediate, minimumHidden: minimumHidden, compute: compute)
    }

    /// Returns a workspace for later passes; the smallest goes when more than `keep` are idle.
    func give(_ workspace: Workspace) {
        lock.withLock {
            free.append(workspace)
            if free.count > keep {
                free.sort { $0.rows > $1.rows }
                free.removeLast()
            }
        }
    }
}

/// `self_attn` of a CLIP encoder layer: q/k/v/out projections, multi-head scaled dot product.
struct CLIPAttention {
    let qProj: Linear
    let kProj: Linear
    let vProj: Linear
    let outProj: Linear
    let heads: Int
    let compute: ComputeConfiguration

    init(loading store: WeightStore, prefix: String, width: Int, heads: Int) throws(VisionError) {
        qProj = try Linear(loading: store, prefix: "\(prefix).q_proj", in: width, out: width)
        kProj = try Linear(loading: store, prefix: "\(prefix).k_proj", in: width, out: width)
        vProj = try Linear(loading: store, prefix: "\(prefix).v_proj", in: width, out: width)
        outProj = try Linear(loading: store, prefix: "\(prefix).out_proj", in: width, out: width)
        self.heads = heads
        compute = store.compute
    }

    /// Scaled dot-product attention of every head for `batch` sequences: sequence `b`'s `queries`
    /// rows start at `query + b · queryStride` and its `keys` key and value rows at `b · keyStride`;
    /// rows within a sequence are one hidden width apart, and the context goes where the queries
    /// are. With `causal`, query `i` sees keys `0...offset + i` (`offset` keys precede the queries'
    /// own). The (sequence, head) pairs are split between the workers, each with its own `scratch`.
    func attend(
        query: UnsafePointer<Float>, queryStride: Int, queries: Int, key: UnsafePointer<Float>,
        value: UnsafePointer<Float>, keyStride: Int, keys: Int, batch: Int, causal: Bool, offset: Int = 0,
        into context: UnsafeMutablePointer<Float>, scratch: [AttentionScratch]
    ) {
        let width = qProj.outFeatures
        let headWidth = width / heads
        compute.parallel(batch * heads) { part, pairs in
            let scratch = scratch[part]
            for pair in pairs {
                let (b, column) = (pair / heads, pair % heads * headWidth)
                let q = b * queryStride + column
                let kv = b * keyStride + column
                attentionHead(
                    queries: queries, keys: keys, headWidth: headWidth, query: query + q, key: key + kv,
                    value: value + kv, ld: width, causal: causal, offset: offset, into: context + q, scratch: scratch)
            }
        }
    }
}

/// `mlp` of a CLIP encoder layer: `fc2(act(fc1(x)))`.
struct CLIPMLP {
    let fc1: Linear
    let fc2: Linear
    let activation: Activation

    init(loading store: WeightStore, prefix: String, width: Int, intermediate: Int, activation: Activation)
        throws(VisionError)
    {
        fc1 = try Linear(loading: store, prefix: "\(prefix).fc1", in: width, out: intermediate)
        fc2 = try Linear(loading: store, prefix: "\(prefix).fc2", in: intermediate, out: width)
        self.activation = activation
    }

    /// `out = fc2(act(fc1(x)))`, or `out += …` when `accumulate` (the residual).
    func callAsFunction(
        _ x: UnsafePointer<Float>, rows: Int, workspace ws: Workspace, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool = false
    ) {
        fc1(x, rows: rows, into: ws.hidden, activation: activation)
        fc2(ws.hidden, rows: rows, into: out, accumulate: accumulate)
    }
}

/// `encoder.layers.N`: pre-norm attention and MLP, each with a residual connection.
struct CLIPEncoderLayer {
    let layerNorm1: LayerNorm
    let selfAttn: CLIPAttention
    let layerNorm2: LayerNorm
    let mlp: CLIPMLP

    init(
        loading store: WeightStore, prefix: String, width: Int, intermediate: Int, heads: Int, activation: Activation,
        eps: Float
    ) throws(VisionError) {
        layerNorm1 = try LayerNorm(loading: store, prefix: "\(prefix).layer_norm1", width: width, eps: eps)
        selfAttn = try CLIPAttention(loading: store, prefix: "\(prefix).self_attn", width: width, heads: heads)
        layerNorm2 = try LayerNorm(loading: store, prefix: "\(prefix).layer_norm2", width: width, eps: eps)
        mlp = try CLIPMLP(
            loading: store, prefix: "\(prefix).mlp", width: width, intermediate: intermediate, activation: activation)
    }

    /// Updates `x` (`batch × tokens` rows) in place; the residual additions happen in the output
    /// projections' GEMMs.
    func callAsFunction(
        _ x: UnsafeMutablePointer<Float>, batch: Int, tokens: Int, causal: Bool, workspace ws: Workspace
    ) {
        let sequence = tokens * selfAttn.qProj.outFeatures
        forward(x, rows: batch * tokens, workspace: ws) { ws in
            selfAttn.attend(
                query: ws.query, queryStride: sequence, queries: tokens, key: ws.key, value: ws.value,
                keyStride: sequence, keys: tokens, batch: batch, causal: causal, into: ws.context,
                scratch: ws.attention)
        }
    }

    /// The layer over `rows` rows of `x`, in place, with the attention step supplied: `attend`
    /// reads the workspace's query, key and value rows and writes its context rows.
    func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, workspace ws: Workspace, attend: (Workspace) -> Void) {
        layerNorm1(x, rows: rows, into: ws.normed)
        selfAttn.qProj(ws.normed, rows: rows, into: ws.query)
        selfAttn.kProj(ws.normed, rows: rows, into: ws.key)
        selfAttn.vProj(ws.normed, rows: rows, into: ws.value)
        attend(ws)
        selfAttn.outProj(ws.context, rows: rows, into: x, accumulate: true)
        layerNorm2(x, rows: rows, into: ws.normed)
        mlp(ws.normed, rows: rows, workspace: ws, into: x, accumulate: true)
    }

    /// The layer for the first (class) token of each sequence only: keys and values from every
    /// token, the query, attention output and MLP for the class token; other rows are left stale.
    func classTokenOnly(_ x: UnsafeMutablePointer<Float>, batch: Int, tokens: Int, workspace ws: Workspace) {
        let rows = batch * tokens
        let d = selfAttn.qProj.outFeatures
        layerNorm1(x, rows: rows, into: ws.normed)
        selfAttn.kProj(ws.normed, rows: rows, into: ws.key)
        selfAttn.vProj(ws.normed, rows: rows, into: ws.value)
        // The class rows of `x`, updated on the side and written back at the end.
        let classes = ws.side
        for b in 0..<batch {
            (classes + b * d).update(from: x + b * tokens * d, count: d)
            (ws.hidden + b * d).update(from: ws.normed + b * tokens * d, count: d)
        }
        selfAttn.qProj(ws.hidden, rows: batch, into: ws.query)
        selfAttn.attend(
            query: ws.query, queryStride: d, queries: 1, key: ws.key, value: ws.value, keyStride: tokens * d,
            keys: tokens, batch: batch, causal: false, into: ws.context, scratch: ws.attention)
        selfAttn.outProj(ws.context, rows: batch, into: classes, accumulate: true)
        layerNorm2(classes, rows: batch, into: ws.normed)
        mlp(ws.normed, rows: batch, workspace: ws, into: classes, accumulate: true)
        for b in 0..<batch { (x + b * tokens * d).update(from: classes + b * d, count: d) }
    }

    /// MaskCLIP's value path (SafeWatch §5.1): `out_proj(v_proj(layer_norm1(x)))`, no attention,
    /// residual or MLP.
    func valuePath(_ x: UnsafePointer<Float>, rows: Int, workspace ws: Workspace, into out: UnsafeMutablePointer<Float>)
    {
        layerNorm1(x, rows: rows, into: ws.normed)
        selfAttn.vProj(ws.normed, rows: rows, into: ws.value)
        selfAttn.outProj(ws.value, rows: rows, into: out)
    }
}

/// `encoder.layers`, loaded from `prefix.layers.0 …`.
func loadEncoderLayers(
    _ store: WeightStore, prefix: String, count: Int, width: Int, intermediate: Int, heads: Int, activation: Activation,
    eps: Float
) throws(VisionError) -> [CLIPEncoderLayer] {
    var layers: [CLIPEncoderLayer] = []
    for i in 0..<count {
        layers.append(
            try CLIPEncoderLayer(
                loading: store, prefix: "\(prefix).layers.\(i)", width: width, intermediate: intermediate, heads: heads,
                activation: activation, eps: eps))
    }
    return layers
}
