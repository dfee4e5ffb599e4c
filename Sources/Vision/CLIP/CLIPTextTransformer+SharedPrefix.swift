import Compute

/// Keys and values of the first positions of a sequence, per layer, `[positions, hidden]` each.
struct KeyValueCache {
    var positions: Int
    var keys: [[Float]]
    var values: [[Float]]
}

extension CLIPTextTransformer {
    /// The prompt's hidden states and the pooled embeddings of the prompt with each content token
    /// replaced by `maskID` in turn (SAFREE's masked re-encodings), computed with a shared prefix.
    ///
    /// Under the causal mask, positions before a replaced token are the prompt's own, so each masked
    /// sequence reuses the prompt's keys and values there and computes only from the replaced token
    /// on: about half the work of re-encoding every sequence whole, with the same result.
    /// `ids` are the 77 padded ids; content tokens are positions `1...contentCount`, the end token
    /// follows them.
    public func encodeWithMaskedTokens(_ ids: [Int], contentCount n: Int, maskID: Int) throws(VisionError)
        -> (lastHiddenState: Tensor, maskedPooled: Tensor)
    {
        let length = n + 2
        guard ids.count <= config.maxPositionEmbeddings, length <= ids.count, n >= 0 else {
            throw VisionError.invalidInput("\(n) content tokens do not fit \(ids.count) ids")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw VisionError.invalidInput("token id \(bad) is outside the vocabulary of \(config.vocabSize)")
        }
        var cache = KeyValueCache(positions: length, keys: [], values: [])
        let hidden = run([(start: 0, ids: ids)], cache: nil, record: &cache)
        let d = config.hiddenSize
        let full = Tensor(zeros: [1, ids.count, d])
        finalLayerNorm(hidden, rows: ids.count, into: full.storage.pointer)
        hidden.deallocate()
        let pooled = Tensor(zeros: [n, d])
        guard n > 0 else { return (full, pooled) }
        let suffixes = (0..<n).map { i -> (start: Int, ids: [Int]) in
            (start: i + 1, ids: [maskID] + Array(ids[(i + 2)..<length]))
        }
        var unused = KeyValueCache(positions: 0, keys: [], values: [])
        let variants = run(suffixes, cache: cache, record: &unused)
        defer { variants.deallocate() }
        // The pooled row is each sequence's end token: the last row of its suffix.
        var row = 0
        for (i, suffix) in suffixes.enumerated() {
            row += suffix.ids.count
            finalLayerNorm(variants + (row - 1) * d, rows: 1, into: pooled.storage.pointer + i * d)
        }
        return (full, pooled)
    }

    /// Runs token runs that continue `cache`'s prefix (each run starts at position `start`, which is
    /// at most the cached length) through the encoder, without the final layer norm; records the
    /// first `record.positions` keys and values of the first run. Rows of all runs are stacked.
    private func run(
        _ runs: [(start: Int, ids: [Int])], cache: KeyValueCache?, record: inout KeyValueCache
    ) -> UnsafeMutablePointer<Float> {
        let d = config.hiddenSize
        let rows = runs.reduce(0) { $0 + $1.ids.count }
        let longest = runs.map { $0.start + $0.ids.count }.max() ?? 0
        let x = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        var offsets: [Int] = []
        var row = 0
        for run in runs {
            offsets.append(row)
            embed(run.ids, from: run.start, into: x + row * d)
            row += run.ids.count
        }
        let ws = workspaces.take(rows: rows)
        defer { workspaces.give(ws) }
        let keys = UnsafeMutablePointer<Float>.allocate(capacity: longest * d)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: longest * d)
        defer {
            keys.deallocate()
            values.deallocate()
        }
        for (l, layer) in layers.enumerated() {
            layer.forward(x, rows: rows, workspace: ws) { ws in
                if record.positions > 0 {
                    record.keys.append(Array(UnsafeBufferPointer(start: ws.key, count: record.positions * d)))
                    record.values.append(Array(UnsafeBufferPointer(start: ws.value, count: record.positions * d)))
                }
                for (r, run) in runs.enumerated() {
                    // Keys and values seen by this run: the cached prefix, then its own rows.
                    let prefix = run.start
                    let count = run.ids.count
                    if prefix > 0, let cache {
                        cache.keys[l].withUnsafeBufferPointer { keys.update(from: $0.baseAddress!, count: prefix * d) }
                        cache.values[l].withUnsafeBufferPointer {
                            values.update(from: $0.baseAddress!, count: prefix * d)
                        }
                    }
                    (keys + prefix * d).update(from: ws.key + offsets[r] * d, count: count * d)
                    (values + prefix * d).update(from: ws.value + offsets[r] * d, count: count * d)
                    layer.selfAttn.attend(
                        query: ws.query + offsets[r] * d, queryStride: 0, queries: count, key: keys, value: values,
                        keyStride: 0, keys: prefix + count, batch: 1, causal: true, offset: prefix,
                        into: ws.context + offsets[r] * d, scratch: ws.attention)
                }
            }
        }
        return x
    }
}
