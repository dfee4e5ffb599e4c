import Compute
import Foundation
import GuardrailCore
import Policy
import Vision

/// Encoded policies in the artifact cache, keyed by everything that changes their bits: the
/// model's and tokenizer's content hashes, the policy file's hash, the kernel path and the engine
/// version (part of every ``ArtifactKey``).
struct PolicyEncodingCache {
    let cache: ArtifactCache
    let key: ArtifactKey

    init(cache: ArtifactCache, model: ModelBundle, policies: PolicySet, compute: ComputeConfiguration) {
        self.cache = cache
        key = ArtifactKey(
            kind: "policies",
            parts: [
                "model": model.sha256, "tokenizer": model.tokenizerSHA256 ?? "none", "policies": policies.sha256,
                "compute": compute.resultKey, "piece_budget": String(PolicyEncoder.pieceBudget),
            ])
    }

    /// The encoded policies, if cached and of the set's shape.
    func load(_ set: PolicySet) -> EncodedPolicySet? {
        guard let path = cache.lookup(key, extension: "safetensors"), let tensors = try? SafeTensors.read(path: path),
            let prototypes = tensors["prototypes"], prototypes.shape.count == 2,
            prototypes.shape[0] == set.policies.count
        else { return nil }
        let d = prototypes.shape[1]
        func rows(_ name: String, _ count: Int) -> [[Float]]? {
            if count == 0 { return [] }
            guard let t = tensors[name], t.shape == [count, d] else { return nil }
            return t.rows
        }
        guard let units = rows("prototypes", set.policies.count) else { return nil }
        var encoded = EncodedPolicySet(dimension: d, prototypes: units, allowedPrototypes: [], blocked: [], allowed: [])
        for (p, policy) in set.policies.enumerated() {
            guard let blocked = rows("blocked.\(p)", policy.blocked.count),
                let allowed = rows("allowed.\(p)", policy.allowed.count),
                let pieces = tensors["pieces.\(p)"]?.scalars,
                pieces.count == policy.blocked.count + policy.allowed.count
            else { return nil }
            encoded.blocked.append(
                zip(policy.blocked, blocked).enumerated().map {
                    EncodedRule(rule: $1.0, embedding: $1.1, pieces: Int(pieces[$0]))
                })
            encoded.allowed.append(
                zip(policy.allowed, allowed).enumerated().map {
                    EncodedRule(rule: $1.0, embedding: $1.1, pieces: Int(pieces[policy.blocked.count + $0]))
                })
            encoded.allowedPrototypes.append(
                policy.allowed.isEmpty ? nil : rows("allowed_prototype.\(p)", 1)?.first)
            if !policy.allowed.isEmpty && encoded.allowedPrototypes[p] == nil { return nil }
        }
        return encoded
    }

    /// Stores encoded policies (the entry's metadata records its key).
    func store(_ encoded: EncodedPolicySet) throws(CoreError) {
        let d = encoded.dimension
        var entries: [String: SafeTensorsWriter.Entry] = [:]
        func entry(_ rows: [[Float]]) -> SafeTensorsWriter.Entry {
            .init(Tensor(shape: [rows.count, d], scalars: rows.flatMap { $0 }))
        }
        entries["prototypes"] = entry(encoded.prototypes)
        for p in encoded.prototypes.indices {
            if !encoded.blocked[p].isEmpty { entries["blocked.\(p)"] = entry(encoded.blocked[p].map(\.embedding)) }
            if !encoded.allowed[p].isEmpty { entries["allowed.\(p)"] = entry(encoded.allowed[p].map(\.embedding)) }
            if let a = encoded.allowedPrototypes[p] { entries["allowed_prototype.\(p)"] = entry([a]) }
            let pieces = (encoded.blocked[p] + encoded.allowed[p]).map { Float($0.pieces) }
            entries["pieces.\(p)"] = .init(Tensor(shape: [pieces.count], scalars: pieces))
        }
        let bytes = SafeTensorsWriter.encode(entries, metadata: ["key": key.description])
        try cache.store(key, extension: "safetensors", data: Data(bytes))
    }
}
