import Foundation
import Logging
import Synchronization
import Yams

/// The loaded models, filled once loading finishes (requests that need them get `503` until then).
final class LoadedModels: Sendable {
    private let loaded = Mutex<Moderator?>(nil)
    private let failed = Mutex<String?>(nil)

    var moderator: Moderator? { loaded.withLock { $0 } }
    var failure: String? { failed.withLock { $0 } }

    func set(_ moderator: Moderator) { loaded.withLock { $0 = moderator } }
    func fail(_ reason: String) { failed.withLock { $0 = reason } }

    /// The moderator, or the `503` that says why there is none yet.
    func ready() throws(APIError) -> Moderator {
        if let moderator { return moderator }
        throw APIError(
            .serviceUnavailable, "not_ready",
            failure.map { "the model failed to load: \($0)" } ?? "the model is loading",
            retryAfter: failure == nil ? 2 : nil)
    }
}

/// What every route and the job service share.
final class ServerState: Sendable {
    let configuration: ServerConfiguration
    let store: any JobStore
    let slots: ScanSlots
    let models = LoadedModels()
    let metrics: ServerMetrics
    let callbacks: CallbackSender
    let callbackPolicy: CallbackPolicy
    let logger: Logger
    /// The OpenAPI document as JSON, for `GET /openapi.json`.
    let openAPI: [UInt8]

    init(configuration: ServerConfiguration, store: any JobStore, metrics: ServerMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.metrics = metrics
        self.logger = logger
        slots = ScanSlots(capacity: configuration.workers, maxWaiting: configuration.maxQueue)
        callbacks = CallbackSender(store: store, configuration: configuration, logger: logger)
        callbackPolicy = CallbackPolicy(allowed: configuration.callbackAllow)
        openAPI = try OpenAPIDocument.json()
    }

    /// Removes finished jobs past the retention with their uploads, and upload files no job refers
    /// to that are older than `orphanAge` seconds (at the start of a server alone on its data dir
    /// 0: an upload a crash cut off before its job was stored; otherwise an hour, since a file
    /// arrives before its job is stored, on this node or another sharing the volume).
    func expire(orphanAge: Double = 3600) async {
        do {
            _ = try await store.purge(
                before: Date().addingTimeInterval(-configuration.retention), dataDir: configuration.dataDir)
            removeFiles(
                in: configuration.uploads, modifiedBefore: Date().addingTimeInterval(-orphanAge),
                except: Set(try await store.uploads().map(configuration.file)))
        } catch {
            logger.error("retention sweep failed: \(error)")
        }
    }
}

/// Removes the files in `folder` last modified at or before `cutoff`, but for the paths in `keep`.
func removeFiles(in folder: String, modifiedBefore cutoff: Date, except keep: Set<String> = []) {
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] {
        let path = folder + "/" + name
        let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
        if !keep.contains(path), modified <= cutoff { try? fm.removeItem(atPath: path) }
    }
}

/// `openapi.yaml` (the API's contract, shipped with the server) as JSON.
public enum OpenAPIDocument {
    public static func yaml() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw APIError(.internalServerError, "internal", "openapi.yaml is missing from the server's resources")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The document parsed, with every key a string (YAML reads `200:` as a number).
    public static func object() throws -> Any {
        func strings(_ value: Any) -> Any {
            if let dictionary = value as? [AnyHashable: Any] {
                var out: [String: Any] = [:]
                for (key, item) in dictionary { out["\(key.base)"] = strings(item) }
                return out
            }
            if let array = value as? [Any] { return array.map(strings) }
            return value
        }
        return strings(try Yams.load(yaml: try yaml()) ?? [:])
    }

    static func json() throws -> [UInt8] {
        Array(
            try JSONSerialization.data(withJSONObject: try object(), options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
