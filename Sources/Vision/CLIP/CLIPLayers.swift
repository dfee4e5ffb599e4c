/// A PyTorch `nn.Linear`: `weight` `[out, in]` in checkpoint layout, optional `bias` `[out]`.
struct Linear {
    let weight: Tensor
    let bias: Tensor?
    let inFeatures: Int
    let outFeatures: Int

    init(loading store: WeightStore, prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true)
        throws(VisionError)
    {
        weight = try store.take("\(prefix).weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try store.take("\(prefix).bias", shape: [outFeatures]) : nil
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// `out[rows, out] = x[rows, in] · weightᵀ + bias`.
    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        GEMM.strided(
            x, lda: inFeatures, weight.pointer, ldb: inFeatures, into: out, ldc: outFeatures, m: rows, n: outFeatures,
            k: inFeatures, transposeB: true)
        if let bias { addBias(out, rows: rows, width: outFeatures, bias: bias.pointer) }
    }
}

/// A PyTorch `nn.LayerNorm` over the last dimension.
struct LayerNorm {
    let weight: Tensor
    let bias: Tensor
    let eps: Float

    init(loading store: WeightStore, prefix: String, width: Int, eps: Float) throws(VisionError) {
        weight = try store.take("\(prefix).weight", shape: [width])
        bias = try store.take("\(prefix).bias", shape: [width])
        self.eps = eps
    }

    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        layerNorm(x, rows: rows, width: weight.count, weight: weight.pointer, bias: bias.pointer, eps: eps, out: out)
    }
}

/// Scratch memory for one forward pass of an encoder over `rows = batch × tokens` rows, allocated
/// once per call and reused by every layer.
final class Workspace {
    let normed: UnsafeMutablePointer<Float>
    let query: UnsafeMutablePointer<Float>
    let key: UnsafeMutablePointer<Float>
    let value: UnsafeMutablePointer<Float>
    let context: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float>
    let hidden: UnsafeMutablePointer<Float>
    private let base: UnsafeMutablePointer<Float>

    init(rows: Int, tokens: Int, width: Int, intermediate: Int) {
        let sizes = [
            rows * width, rows * width, rows * width, rows * width, rows * width, tokens * tokens,
            rows * max(intermediate, width),
        ]
        base = .allocate(capacity: sizes.reduce(0, +))
        var offsets: [Int] = []
        var offset = 0
        for size in sizes {
            offsets.append(offset)
            offset += size
        }
        normed = base + offsets[0]
        query = base + offsets[1]
        key = base + offsets[2]
        value = base + offsets[3]
        context = base + offsets[4]
        scores = base + offsets[5]
        hidden = base + offsets[6]
    }

    deinit { base.deallocate() }
}

/// `self_attn` of a CLIP encoder layer: q/k/v/out projections, multi-head scaled dot product.
struct CLIPAttention {
    let qProj: Linear
    let kProj: Linear
    let vProj: Linear
    let outProj: Linear
    let heads: Int

    init(loading store: WeightStore, prefix: String, width: Int, heads: Int) throws(VisionError) {
        qProj = try Linear(loading: store, prefix: "\(prefix).q_proj", in: width, out: width)
        kProj = try Linear(loading: store, prefix: "\(prefix).k_proj", in: width, out: width)
        vProj = try Linear(loading: store, prefix: "\(prefix).v_proj", in: width, out: width)
        outProj = try Linear(loading: store, prefix: "\(prefix).out_proj", in: width, out: width)
        self.heads = heads
    }

    /// Attention over `batch` sequences of `tokens` rows of `x`, written to `out` (which may be `x`,
    /// but not the workspace's query, key, value, scores or context).
    func callAsFunction(
        _ x: UnsafePointer<Float>, batch: Int, tokens: Int, causal: Bool, workspace ws: Workspace,
        into out: UnsafeMutablePointer<Float>
    ) {
        let width = qProj.outFeatures
        let rows = batch * tokens
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        qProj(x, rows: rows, into: ws.query)
        kProj(x, rows: rows, into: ws.key)
        vProj(x, rows: rows, into: ws.value)
        for b in 0..<batch {
            for h in 0..<heads {
                let offset = b * tokens * width + h * headWidth
                GEMM.strided(
                    ws.query + offset, lda: width, ws.key + offset, ldb: width, into: ws.scores, ldc: tokens,
                    m: tokens, n: tokens, k: headWidth, transposeB: true, alpha: scale)
                softmaxRows(ws.scores, rows: tokens, width: tokens, causal: causal)
                GEMM.strided(
                    ws.scores, lda: tokens, ws.value + offset, ldb: width, into: ws.context + offset, ldc: width,
                    m: tokens, n: headWidth, k: tokens, transposeB: false)
            }
        }
        outProj(ws.context, rows: rows, into: out)
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

    func callAsFunction(
        _ x: UnsafePointer<Float>, rows: Int, workspace ws: Workspace, into out: UnsafeMutablePointer<Float>
    ) {
        fc1(x, rows: rows, into: ws.hidden)
        activation.apply(ws.hidden, count: rows * fc1.outFeatures)
        fc2(ws.hidden, rows: rows, into: out)
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

    /// Updates `x` (`batch × tokens` rows) in place.
    func callAsFunction(
        _ x: UnsafeMutablePointer<Float>, batch: Int, tokens: Int, causal: Bool, workspace ws: Workspace
    ) {
        let rows = batch * tokens
        let count = rows * selfAttn.qProj.outFeatures
        layerNorm1(x, rows: rows, into: ws.normed)
        // q, k and v are computed before the output is written, so `normed` can take it.
        selfAttn(ws.normed, batch: batch, tokens: tokens, causal: causal, workspace: ws, into: ws.normed)
        addInPlace(x, ws.normed, count: count)
        layerNorm2(x, rows: rows, into: ws.normed)
        mlp(ws.normed, rows: rows, workspace: ws, into: ws.context)
        addInPlace(x, ws.context, count: count)
    }

    /// The layer for the first (class) token of each sequence only: keys and values from every
    /// token, the query, attention output and MLP for the class token; other rows are left stale.
    func classTokenOnly(_ x: UnsafeMutablePointer<Float>, batch: Int, tokens: Int, workspace ws: Workspace) {
        let rows = batch * tokens
        let d = selfAttn.qProj.outFeatures
        let heads = selfAttn.heads
        let headWidth = d / heads
        let scale = 1 / Float(headWidth).squareRoot()
        layerNorm1(x, rows: rows, into: ws.normed)
        selfAttn.kProj(ws.normed, rows: rows, into: ws.key)
        selfAttn.vProj(ws.normed, rows: rows, into: ws.value)
        var classRows = [Float](repeating: 0, count: batch * d)
        var query = [Float](repeating: 0, count: batch * d)
        var context = [Float](repeating: 0, count: batch * d)
        var update = [Float](repeating: 0, count: batch * d)
        classRows.withUnsafeMutableBufferPointer { cls in
            query.withUnsafeMutableBufferPointer { q in
                context.withUnsafeMutableBufferPointer { c in
                    update.withUnsafeMutableBufferPointer { u in
                        for b in 0..<batch {
                            (cls.baseAddress! + b * d).update(from: ws.normed + b * tokens * d, count: d)
                        }
                        selfAttn.qProj(cls.baseAddress!, rows: batch, into: q.baseAddress!)
                        for b in 0..<batch {
                            for h in 0..<heads {
                                let offset = b * tokens * d + h * headWidth
                                GEMM.strided(
                                    q.baseAddress! + b * d + h * headWidth, lda: d, ws.key + offset, ldb: d,
                                    into: ws.scores, ldc: tokens, m: 1, n: tokens, k: headWidth, transposeB: true,
                                    alpha: scale)
                                softmaxRows(ws.scores, rows: 1, width: tokens, causal: false)
                                GEMM.strided(
                                    ws.scores, lda: tokens, ws.value + offset, ldb: d,
                                    into: c.baseAddress! + b * d + h * headWidth, ldc: d, m: 1, n: headWidth, k: tokens,
                                    transposeB: false)
                            }
                        }
                        selfAttn.outProj(c.baseAddress!, rows: batch, into: u.baseAddress!)
                        for b in 0..<batch {
                            addInPlace(x + b * tokens * d, u.baseAddress! + b * d, count: d)
                            (cls.baseAddress! + b * d).update(from: x + b * tokens * d, count: d)
                        }
                        layerNorm2(cls.baseAddress!, rows: batch, into: q.baseAddress!)
                        mlp(q.baseAddress!, rows: batch, workspace: ws, into: u.baseAddress!)
                        for b in 0..<batch { addInPlace(x + b * tokens * d, u.baseAddress! + b * d, count: d) }
                    }
                }
            }
        }
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
