import Compute

/// `text_model`: token and position embeddings, the causal encoder, `final_layer_norm`, and
/// pooling at the end-of-text position.
public final class CLIPTextTransformer: Sendable {
    public let config: CLIPTextConfiguration
    let tokenEmbedding: Tensor
    let positionEmbedding: Tensor
    let layers: [CLIPEncoderLayer]
    let finalLayerNorm: LayerNorm
    let workspaces: WorkspaceCache

    /// `prefix` is the tower's key prefix including its dot (`vision_model.`), or empty for
    /// checkpoints that store the tower at the top level.
    init(loading store: WeightStore, prefix: String, config: CLIPTextConfiguration) throws(VisionError) {
        self.config = config
        let d = config.hiddenSize
        tokenEmbedding = try store.take("\(prefix)embeddings.token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try store.take(
            "\(prefix)embeddings.position_embedding.weight", shape: [config.maxPositionEmbeddings, d])
        store.ignore("\(prefix)embeddings.position_ids")
        layers = try loadEncoderLayers(
            store, prefix: "\(prefix)encoder", count: config.numHiddenLayers, width: d,
            intermediate: config.intermediateSize, heads: config.numAttentionHeads, activation: config.hiddenAct,
            eps: config.layerNormEps)
        finalLayerNorm = try LayerNorm(
            loading: store, prefix: "\(prefix)final_layer_norm", width: d, eps: config.layerNormEps)
        workspaces = WorkspaceCache(width: d, intermediate: config.intermediateSize, compute: store.compute)
    }

    /// `embeddings`: token plus position embedding for `ids` at positions `start…`, one row each.
    func embed(_ ids: some Collection<Int>, from start: Int, into rows: UnsafeMutablePointer<Float>) {
        let d = config.hiddenSize
        for (j, id) in ids.enumerated() {
            add(
                tokenEmbedding.pointer + id * d, positionEmbedding.pointer + (start + j) * d, into: rows + j * d,
                count: d)
        }
    }

    struct Output {
        /// `[batch, length, hidden]` after `final_layer_norm` (Stable Diffusion's `prompt_embeds`).
        var lastHiddenState: Tensor
        /// `[batch, hidden]`, the row at the pooling position.
        var pooled: Tensor
        /// The pooling position of each sequence.
        var poolingPositions: [Int]
    }

    /// The pooling position, as `transformers` chooses it: OpenAI configs (`eos_token_id == 2`)
    /// take the argmax of the ids (the end token has the largest id); others take the first
    /// position holding `eos_token_id` (0 when there is none).
    func poolingPosition(_ ids: [Int]) -> Int {
        if config.eosTokenId == 2 {
            return ids.indices.max { ids[$0] < ids[$1] || (ids[$0] == ids[$1] && $0 > $1) } ?? 0
        }
        return ids.firstIndex(of: config.eosTokenId) ?? 0
    }

    /// With `hiddenStates` false only the pooled rows are wanted: the causal mask means no position
    /// sees a later one, so the sequences are cut after the last pooling position, an exact saving
    /// (about 3.5× for a 20-token prompt padded to 77), and `lastHiddenState` covers only that prefix.
    func forward(_ ids: [[Int]], hiddenStates: Bool = true) throws(VisionError) -> Output {
        guard let fullLength = ids.first?.count, fullLength > 0, ids.allSatisfy({ $0.count == fullLength }) else {
            throw VisionError.invalidInput("token sequences must be non-empty and of equal length")
        }
        guard fullLength <= config.maxPositionEmbeddings else {
            throw VisionError.invalidInput(
                "\(fullLength) tokens exceed max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        if let bad = ids.joined().first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw VisionError.invalidInput("token id \(bad) is outside the vocabulary of \(config.vocabSize)")
        }
        let positions = ids.map(poolingPosition)
        let length = hiddenStates ? fullLength : (positions.max() ?? 0) + 1
        let batch = ids.count
        let d = config.hiddenSize
        let rows = batch * length
        let hidden = Tensor(zeros: [batch, length, d])
        let x = hidden.storage.pointer
        for (b, sequence) in ids.enumerated() {
            embed(sequence.prefix(length), from: 0, into: x + b * length * d)
        }
        let ws = workspaces.take(rows: rows)
        defer { workspaces.give(ws) }
        for layer in layers { layer(x, batch: batch, tokens: length, causal: true, workspace: ws) }
        finalLayerNorm(x, rows: rows, into: x)
        let pooled = Tensor(zeros: [batch, d])
        for (b, position) in positions.enumerated() {
            (pooled.storage.pointer + b * d).update(from: x + (b * length + position) * d, count: d)
        }
        return Output(lastHiddenState: hidden, pooled: pooled, poolingPositions: positions)
    }
}
