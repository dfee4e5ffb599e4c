import Foundation

/// Everything `guardrail serve` is started with, besides the models.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Uploads, the job database and temporary files live here.
    public var dataDir: String
    /// Scans running at once (each on its own thread, sharing one loaded model).
    public var workers = 1
    /// The shared jobs database (`postgres://…`); nil: the SQLite file in the data dir, which this
    /// server alone uses.
    public var jobsDatabase: String?
    /// Video job workers this process runs (`serve` with SQLite: `workers`; an API node on a jobs
    /// database: none unless asked).
    public var videoWorkers = 1
    /// Whether this process answers the API (`serve`), or only `/healthz`, `/readyz` and `/metrics`
    /// (`worker`).
    public var serveAPI = true
    /// Whether this process sends callbacks and sweeps expired jobs (API nodes; not `worker`).
    public var housekeeping = true
    /// Seconds a claimed job is leased for; heartbeats renew it every third of that, and a job whose
    /// lease runs out (its worker died) is queued again.
    public var lease: Double = 30
    /// Attempts (claims) a job gets before it is dead.
    public var maxAttempts = 3
    /// Seconds before a job whose attempt failed transiently runs again (doubling per attempt).
    public var retryDelay: Double = 5
    /// This machine's name, read once per process (every request's temporary file is under it).
    static let hostName = ProcessInfo.processInfo.hostName
    /// This process in the jobs table's `worker` column.
    public var nodeName = "\(ServerConfiguration.hostName):\(getpid())"
    /// The largest request body, in bytes.
    public var maxBody = 200 * 1024 * 1024
    /// Requests waiting for a worker, and queued video jobs, beyond which requests get `429`.
    public var maxQueue = 64
    /// Bearer tokens accepted (none: no authentication).
    public var authTokens: [String] = []
    /// Hosts (`host` or `host:port`) callbacks may be sent to; none: callbacks are refused.
    public var callbackAllow: [String] = []
    /// The key callbacks are signed with.
    public var callbackSecret: [UInt8] = []
    /// Callback attempts before giving up, and the first retry's delay (doubling each time).
    public var callbackAttempts = 8
    public var callbackBackoff: Double = 1
    /// Seconds finished jobs, their uploads and results are kept.
    public var retention: Double = 24 * 3600
    /// Seconds a synchronous request may wait for a worker.
    public var requestTimeout: Double = 60
    /// Seconds running jobs get to finish after SIGTERM; the rest stay queued for the next start.
    public var shutdownGrace: Double = 30

    public init(dataDir: String) { self.dataDir = dataDir }

    var uploads: String { dataDir + "/uploads" }
    /// Uploads are stored relative to the data dir, so that nodes mounting a shared volume at
    /// different paths find them.
    func file(_ upload: String) -> String { Job.file(upload, in: dataDir) }
    /// Request bodies being scanned: per host when nodes share the data dir, so that a node's start
    /// clears only its own.
    var temporary: String {
        dataDir + "/tmp" + (jobsDatabase == nil ? "" : "/" + Self.hostName)
    }
    var database: String { dataDir + "/jobs.sqlite" }
}

/// Parses a byte size as the command line takes it: `200MB`, `512KiB`, `1G`, `1000`.
public func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [
        ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
    ]
    let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
    for (suffix, factor) in units where upper.hasSuffix(suffix) {
        guard let value = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0
        else { return nil }
        return Int(value * Double(factor))
    }
    return Int(upper).flatMap { $0 >= 0 ? $0 : nil }
}

/// Parses a duration: `90`, `90s`, `15m`, `24h`, `7d`; seconds.
public func parseDuration(_ text: String) -> Double? {
    let factors: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    let trimmed = text.lowercased().trimmingCharacters(in: .whitespaces)
    if let last = trimmed.last, let factor = factors[last] {
        return Double(trimmed.dropLast()).flatMap { $0 >= 0 ? $0 * factor : nil }
    }
    return Double(trimmed).flatMap { $0 >= 0 ? $0 : nil }
}
