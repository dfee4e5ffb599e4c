import Foundation
import Policy
import Vision

/// The on-disk cache for model hashes and encoded policies: `$GUARDRAIL_CACHE`, else
/// `$XDG_CACHE_HOME/guardrail`, else `~/.cache/guardrail`. Every file is written to a temporary
/// name and renamed, so concurrent writers and crashes never leave a half-written entry.
public struct EngineCache: Sendable {
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    /// The default cache folder for `environment`.
    public static func defaultFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let folder = environment["GUARDRAIL_CACHE"], !folder.isEmpty { return folder }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/guardrail" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/guardrail"
    }

    /// SHA-256 of a model folder (``ModelHash``), remembered in this cache.
    public func modelSHA256(folder model: String) throws -> String {
        try ModelHash.sha256(folder: model, cacheFolder: folder + "/models")
    }

    /// The encoded policies for this model and policy file, if cached.
    public func policies(key: String, set: PolicySet) -> EncodedPolicySet? {
        let path = policyPath(key)
        guard FileManager.default.fileExists(atPath: path), let tensors = try? SafeTensors.read(path: path),
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

    /// Stores encoded policies under `key`.
    public func store(_ encoded: EncodedPolicySet, key: String) throws {
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
        try FileManager.default.createDirectory(atPath: folder + "/policies", withIntermediateDirectories: true)
        try SafeTensorsWriter.write(entries, metadata: ["key": key], to: policyPath(key))
    }

    private func policyPath(_ key: String) -> String { folder + "/policies/" + key + ".safetensors" }

}
