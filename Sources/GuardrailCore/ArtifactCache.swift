import Foundation

/// The engine's version, reported with every result and part of every cache key.
public let engineVersion = "0.1.0"

/// What an artifact was computed from: its kind and every input or setting that changes its
/// bytes. Two keys are the same entry only when all of these are equal; the engine version is
/// always part of it, so an upgrade never reads an older engine's artifacts.
public struct ArtifactKey: Sendable, Hashable, CustomStringConvertible {
    /// The artifact's kind, also its folder in the cache (`policies`, `concepts`, `model-hashes`).
    public var kind: String
    /// Inputs and settings by name.
    public var parts: [String: String]

    public init(kind: String, parts: [String: String]) {
        precondition(!kind.isEmpty && !kind.contains("/"), "an artifact kind is one folder name")
        self.kind = kind
        self.parts = parts
    }

    /// `kind|engine=…|name=value|…` with names sorted: what the entry name is a hash of.
    public var description: String {
        var all = parts
        all["engine"] = engineVersion
        return ([kind] + all.keys.sorted().map { "\($0)=\(all[$0]!)" }).joined(separator: "|")
    }

    /// The entry's file name stem: SHA-256 of ``description``.
    public var digest: String { ContentHash.hex(description) }
}

/// A folder of derived artifacts (model hashes, encoded policies, concept embeddings) keyed by
/// ``ArtifactKey``, written atomically and kept under a size bound by evicting the least
/// recently used entries. Concurrent processes may share it: entries are immutable once
/// renamed into place, and a reader that loses an entry to eviction simply recomputes it.
public struct ArtifactCache: Sendable {
    /// The cache folder.
    public let folder: String
    /// Total bytes kept; the least recently used entries go when a store passes it.
    public let maxBytes: Int64

    /// A cache in `folder` holding at most `maxBytes` (default 2 GiB).
    public init(folder: String, maxBytes: Int64 = 2 << 30) {
        precondition(maxBytes > 0, "a cache needs room")
        self.folder = folder
        self.maxBytes = maxBytes
    }

    /// `$GUARDRAIL_CACHE`, else `$XDG_CACHE_HOME/guardrail`, else `~/.cache/guardrail`.
    public static func defaultFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let folder = environment["GUARDRAIL_CACHE"], !folder.isEmpty { return folder }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/guardrail" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/guardrail"
    }

    /// Where the entry for `key` lives (whether or not it exists).
    public func path(for key: ArtifactKey, extension ext: String) -> String {
        "\(folder)/\(key.kind)/\(key.digest).\(ext)"
    }

    /// The entry's path when it exists, marked as used now.
    public func lookup(_ key: ArtifactKey, extension ext: String) -> String? {
        let path = path(for: key, extension: ext)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: path)
        return path
    }

    /// Writes the entry for `key` atomically through `body`, then evicts older entries while the
    /// cache is over its bound. Returns the entry's path.
    @discardableResult
    public func store(_ key: ArtifactKey, extension ext: String, _ body: (FileHandle) throws -> Void)
        throws(CoreError) -> String
    {
        let path = path(for: key, extension: ext)
        try AtomicFile.write(to: path, body)
        evict(keeping: path)
        return path
    }

    /// ``store(_:extension:_:)`` for bytes in memory.
    @discardableResult
    public func store(_ key: ArtifactKey, extension ext: String, data: Data) throws(CoreError) -> String {
        try store(key, extension: ext) { $0.write(data) }
    }

    /// Removes least recently used entries until the total is within ``maxBytes``; never `keeping`.
    func evict(keeping: String) {
        let fm = FileManager.default
        var entries: [(path: String, size: Int64, used: Date)] = []
        for kind in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: folder + "/" + kind)) ?? []
            where !name.contains(".partial-") {
                let path = folder + "/" + kind + "/" + name
                guard let attributes = try? fm.attributesOfItem(atPath: path),
                    attributes[.type] as? FileAttributeType == .typeRegular
                else { continue }
                entries.append(
                    (
                        path, (attributes[.size] as? NSNumber)?.int64Value ?? 0,
                        attributes[.modificationDate] as? Date ?? .distantPast
                    ))
            }
        }
        var total = entries.reduce(0) { $0 + $1.size }
        for entry in entries.sorted(by: { ($0.used, $0.path) < ($1.used, $1.path) }) where total > maxBytes {
            guard entry.path != keeping else { continue }
            if (try? fm.removeItem(atPath: entry.path)) != nil { total -= entry.size }
        }
    }
}
