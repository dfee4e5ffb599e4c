import Compute

/// Which per-patch features to compute (SafeWatch §5.1).
public enum PatchEmbeddingVariant: String, Sendable, CaseIterable {
    /// MaskCLIP: the last block's value path only, better localised. The default.
    case valuePath = "value"
    /// The ordinary last-block output of each patch token.
    case plain
}

/// `vision_model`: patch embedding, class and position embeddings, `pre_layrnorm`, the encoder,
/// and `post_layernorm` on the class token. Pixels are `[batch, 3, image_size, image_size]`.
public final class CLIPVisionTransformer: Sendable {
    public let config: CLIPVisionConfiguration
    let classEmbedding: Tensor
    /// `embeddings.patch_embedding` (a stride-p convolution without bias) as a linear layer over
    /// flattened `(channel, y, x)` patches.
    let patchEmbedding: LinearWeight
    let positionEmbedding: Tensor
    let preLayrnorm: LayerNorm
    let layers: [CLIPEncoderLayer]
    let postLayernorm: LayerNorm
    let workspaces: WorkspaceCache

    /// `prefix` is the tower's key prefix including its dot (`vision_model.`), or empty for
    /// checkpoints that store the tower at the top level.
    init(loading store: WeightStore, prefix: String, config: CLIPVisionConfiguration) throws(VisionError) {
        self.config = config
        let d = config.hiddenSize
        let p = config.patchSize
        classEmbedding = try store.take("\(prefix)embeddings.class_embedding", shape: [d])
        patchEmbedding = try store.linearWeight(
            "\(prefix)embeddings.patch_embedding.weight", shape: [d, config.numChannels, p, p])
        positionEmbedding = try store.take(
            "\(prefix)embeddings.position_embedding.weight", shape: [config.gridSize * config.gridSize + 1, d])
        store.ignore("\(prefix)embeddings.position_ids")
        // Upstream spells it "pre_layrnorm".
        preLayrnorm = try LayerNorm(loading: store, prefix: "\(prefix)pre_layrnorm", width: d, eps: config.layerNormEps)
        layers = try loadEncoderLayers(
            store, prefix: "\(prefix)encoder", count: config.numHiddenLayers, width: d,
            intermediate: config.intermediateSize, heads: config.numAttentionHeads, activation: config.hiddenAct,
            eps: config.layerNormEps)
        postLayernorm = try LayerNorm(
            loading: store, prefix: "\(prefix)post_layernorm", width: d, eps: config.layerNormEps)
        workspaces = WorkspaceCache(width: d, intermediate: config.intermediateSize, compute: store.compute)
    }

    /// Tokens per image: the class token and `G²` patches.
    public var tokens: Int { config.gridSize * config.gridSize + 1 }

    struct Output {
        /// `[batch, tokens, hidden]`, the encoder output (before `post_layernorm`), when asked for.
        var lastHiddenState: Tensor?
        /// `[batch, hidden]`, `post_layernorm` of the class token.
        var pooled: Tensor
        /// `[batch, G², hidden]`, `post_layernorm` of each patch's features, when asked for.
        var patches: Tensor?
    }

    /// With `hiddenStates` false, the last layer runs for the class token only (exact: nothing else
    /// of its output is used), a twelfth less work for ViT-B.
    func forward(_ pixels: Tensor, patches variant: PatchEmbeddingVariant?, hiddenStates: Bool = true)
        throws(VisionError)
        -> Output
    {
        let c = config
        let size = c.imageSize
        guard pixels.shape.count == 4, pixels.shape[1] == 3, pixels.shape[2] == size, pixels.shape[3] == size,
            pixels.shape[0] > 0
        else {
            throw VisionError.invalidInput("pixel values must be [batch, 3, \(size), \(size)], got \(pixels.shape)")
        }
        let batch = pixels.shape[0]
        let d = c.hiddenSize
        let g = c.gridSize
        let n = g * g
        let t = n + 1
        let rows = batch * t
        let hidden = Tensor(zeros: [batch, t, d])
        let x = hidden.storage.pointer
        let ws = workspaces.take(rows: rows, minimumHidden: batch * n * 3 * c.patchSize * c.patchSize)
        defer { workspaces.give(ws) }
        embed(pixels.pointer, batch: batch, into: x, workspace: ws)
        preLayrnorm(x, rows: rows, into: x)
        for layer in layers.dropLast() { layer(x, batch: batch, tokens: t, causal: false, workspace: ws) }
        var patchFeatures: Tensor?
        if variant == .valuePath, let last = layers.last {
            // The value path reads the input of the last block, before it runs.
            let features = Tensor(zeros: [batch, n, d])
            let values = Tensor(zeros: [rows, d])
            last.valuePath(x, rows: rows, workspace: ws, into: values.storage.pointer)
            for b in 0..<batch {
                postLayernorm(values.pointer + (b * t + 1) * d, rows: n, into: features.storage.pointer + b * n * d)
            }
            patchFeatures = features
        }
        if hiddenStates || variant == .plain {
            layers.last?(x, batch: batch, tokens: t, causal: false, workspace: ws)
        } else {
            // Only the class token's output is read from here on.
            layers.last?.classTokenOnly(x, batch: batch, tokens: t, workspace: ws)
        }
        if variant == .plain {
            let features = Tensor(zeros: [batch, n, d])
            for b in 0..<batch {
                postLayernorm(x + (b * t + 1) * d, rows: n, into: features.storage.pointer + b * n * d)
            }
            patchFeatures = features
        }
        let pooled = Tensor(zeros: [batch, d])
        for b in 0..<batch { postLayernorm(x + b * t * d, rows: 1, into: pooled.storage.pointer + b * d) }
        return Output(lastHiddenState: hiddenStates ? hidden : nil, pooled: pooled, patches: patchFeatures)
    }

    /// Patch embedding as one GEMM over im2col patches, plus class and position embeddings.
    private func embed(
        _ pixels: UnsafePointer<Float>, batch: Int, into x: UnsafeMutablePointer<Float>, workspace ws: Workspace
    ) {
        let c = config
        let p = c.patchSize
        let g = c.gridSize
        let n = g * g
        let d = c.hiddenSize
        let size = c.imageSize
        let patchLength = 3 * p * p
        let columns = ws.hidden
        // Row (b, gy, gx) holds the patch in the weight's (channel, y, x) order.
        for b in 0..<batch {
            for gy in 0..<g {
                for gx in 0..<g {
                    var dst = columns + ((b * n) + gy * g + gx) * patchLength
                    for channel in 0..<3 {
                        for py in 0..<p {
                            let src = pixels + ((b * 3 + channel) * size + gy * p + py) * size + gx * p
                            dst.update(from: src, count: p)
                            dst += p
                        }
                    }
                }
            }
        }
        let embedded = ws.context
        patchEmbedding.apply(columns, lda: patchLength, rows: batch * n, bias: nil, into: embedded, ldc: d)
        let t = n + 1
        for b in 0..<batch {
            let sequence = x + b * t * d
            add(classEmbedding.pointer, positionEmbedding.pointer, into: sequence, count: d)
            for j in 0..<n {
                add(
                    embedded + (b * n + j) * d, positionEmbedding.pointer + (j + 1) * d, into: sequence + (j + 1) * d,
                    count: d)
            }
        }
    }
}
