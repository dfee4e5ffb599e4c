import Foundation
import Logging
import PostgresNIO

/// The ``JobStore`` for many API servers and workers on one queue: PostgreSQL. A claim is one
/// `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)`, so concurrent workers never take the
/// same row and never wait for each other; leases are timed by the database's clock, so workers'
/// clocks do not matter; an insert sends `NOTIFY guardrail_jobs`, which idle workers `LISTEN` for
/// (they poll as well, in case a notification is lost with a connection).
public final class PostgresJobStore: JobStore {
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let listener: Task<Void, Never>
    private let doorbell = Doorbell()
    private let logger: Logger

    /// The channel inserts notify.
    static let channel = "guardrail_jobs"
    /// The database's clock, in Unix seconds (every lease and timestamp the store sets).
    private static let now = "extract(epoch from clock_timestamp())"

    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=disable|prefer|require`)
    /// and creates or migrates the schema (``migrations``) up to `schema` (default: the latest).
    public init(
        url: String, schema: Int? = nil, connectTimeout: Double = 15,
        logger: Logger = Logger(label: "guardrail.jobs-db")
    ) async throws {
        let client = PostgresClient(configuration: try Self.configuration(url), backgroundLogger: logger)
        self.client = client
        self.logger = logger
        // Queries wait for run() to start; waiting for the task to begin keeps them from warning so.
        var run: Task<Void, Never>?
        await withCheckedContinuation { started in
            run = Task {
                started.resume()
                await client.run()
            }
        }
        running = run!
        let doorbell = self.doorbell
        listener = Task {
            // Reconnects after a lost connection; the workers' polling covers the gap.
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            for try await _ in notifications { await doorbell.ring() }
                        }
                    }
                } catch {
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        do {
            // The pool retries a connection it cannot make forever: a wrong URL must fail the start.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.migrate(upTo: schema ?? Self.migrations.count) }
                group.addTask {
                    try await Task.sleep(for: .seconds(connectTimeout))
                    throw JobStoreError(
                        "no answer from the jobs database \(Self.redacted(url)) in \(Int(connectTimeout)) s")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Stops the listener and the connection pool.
    public func close() {
        listener.cancel()
        running.cancel()
    }

    /// `url` without its password, for messages.
    public static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "***"
        return parts.string ?? url
    }

    /// The client configuration a `postgres://` URL names.
    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql",
            let host = parts.host, !host.isEmpty
        else {
            throw JobStoreError(
                "--jobs-db takes postgres://user[:password]@host[:port]/database, not '\(Self.redacted(url))'")
        }
        let mode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        default: throw JobStoreError("sslmode is disable, prefer or require, not '\(mode)'")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres", password: parts.password,
            database: parts.path.count > 1 ? String(parts.path.dropFirst()) : nil, tls: tls)
        configuration.options.maximumConnections = 8
        return configuration
    }

    // MARK: Schema

    /// The schema's versions: each a list of statements, run in one transaction with the version
    /// recorded in `guardrail_schema`. Version 2 added leases, retries' back-off and the worker.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE guardrail_jobs (
                id TEXT PRIMARY KEY, state TEXT NOT NULL, upload TEXT NOT NULL, filename TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                finished_at DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0,
                frames_done INTEGER NOT NULL DEFAULT 0, result BYTEA, error TEXT, callback_url TEXT,
                callback_state TEXT NOT NULL, callback_attempts INTEGER NOT NULL DEFAULT 0,
                callback_due DOUBLE PRECISION)
            """,
            "CREATE INDEX guardrail_jobs_queue ON guardrail_jobs (state, created_at)",
            "CREATE INDEX guardrail_jobs_callbacks ON guardrail_jobs (callback_state, callback_due)",
        ],
        [
            "ALTER TABLE guardrail_jobs ADD COLUMN worker TEXT",
            "ALTER TABLE guardrail_jobs ADD COLUMN lease_until DOUBLE PRECISION",
            "ALTER TABLE guardrail_jobs ADD COLUMN available_at DOUBLE PRECISION NOT NULL DEFAULT 0",
            "CREATE INDEX guardrail_jobs_leases ON guardrail_jobs (lease_until) WHERE state = 'running'",
        ],
    ]

    /// Brings the schema to `version`. Nodes starting together take turns on an advisory lock.
    private func migrate(upTo version: Int) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(7245001)", logger: logger)
            do {
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS guardrail_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger)
                var current = 0
                for try await value in try await connection.query(
                    "SELECT coalesce(max(version), 0) FROM guardrail_schema", logger: logger
                ).decode(Int.self) {
                    current = value
                }
                guard current <= Self.migrations.count else {
                    throw JobStoreError(
                        "the jobs database has schema version \(current), newer than this guardrail's \(Self.migrations.count)"
                    )
                }
                for next in current..<min(version, Self.migrations.count) {
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in Self.migrations[next] {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO guardrail_schema (version) VALUES (\(next + 1))", logger: logger)
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7245001)", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7245001)", logger: logger)
        }
    }

    /// The schema versions recorded, oldest first.
    public func appliedVersions() async throws -> [Int] {
        var versions: [Int] = []
        for try await version in try await client.query(
            "SELECT version FROM guardrail_schema ORDER BY version", logger: logger
        ).decode(Int.self) {
            versions.append(version)
        }
        return versions
    }

    /// Drops the store's tables (tests).
    public func dropSchema() async throws {
        try await client.query("DROP TABLE IF EXISTS guardrail_jobs", logger: logger)
        try await client.query("DROP TABLE IF EXISTS guardrail_schema", logger: logger)
    }

    // MARK: Rows

    private static let columns =
        "id, state, upload, filename, created_at, updated_at, finished_at, attempts, frames_done, result, error, worker, lease_until, available_at, callback_url, callback_state, callback_attempts, callback_due"

    private static func job(_ row: PostgresRow) throws -> Job {
        let cells = row.makeRandomAccess()
        func date(_ column: String) throws -> Date? {
            try cells[column].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        }
        return Job(
            id: try cells["id"].decode(String.self),
            state: JobState(rawValue: try cells["state"].decode(String.self)) ?? .failed,
            upload: try cells["upload"].decode(String.self), filename: try cells["filename"].decode(String.self),
            createdAt: try date("created_at")!, updatedAt: try date("updated_at")!, finishedAt: try date("finished_at"),
            attempts: try cells["attempts"].decode(Int.self), framesDone: try cells["frames_done"].decode(Int.self),
            result: try cells["result"].decode(Data?.self), error: try cells["error"].decode(String?.self),
            worker: try cells["worker"].decode(String?.self), leaseUntil: try date("lease_until"),
            availableAt: try date("available_at"), callbackURL: try cells["callback_url"].decode(String?.self),
            callbackState: CallbackState(rawValue: try cells["callback_state"].decode(String.self)) ?? .none,
            callbackAttempts: try cells["callback_attempts"].decode(Int.self), callbackDue: try date("callback_due"))
    }

    private func jobs(_ query: PostgresQuery) async throws -> [Job] {
        var jobs: [Job] = []
        for try await row in try await client.query(query, logger: logger) { jobs.append(try Self.job(row)) }
        return jobs
    }

    private func count(_ query: PostgresQuery) async throws -> Int {
        var total = 0
        for try await _ in try await client.query(query, logger: logger) { total += 1 }
        return total
    }

    // MARK: Transitions

    public func insert(_ job: Job) async throws {
        let (created, updated) = (job.createdAt.timeIntervalSince1970, job.updatedAt.timeIntervalSince1970)
        let (finished, lease) = (job.finishedAt?.timeIntervalSince1970, job.leaseUntil?.timeIntervalSince1970)
        let (available, due) = (job.availableAt?.timeIntervalSince1970 ?? 0, job.callbackDue?.timeIntervalSince1970)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO guardrail_jobs (\(unescaped: Self.columns)) VALUES (\(job.id), \(job.state.rawValue),
                    \(job.upload), \(job.filename), \(created), \(updated), \(finished), \(job.attempts),
                    \(job.framesDone), \(job.result), \(job.error), \(job.worker), \(lease), \(available),
                    \(job.callbackURL), \(job.callbackState.rawValue), \(job.callbackAttempts), \(due))
                """, logger: logger)
            try await connection.query("SELECT pg_notify(\(Self.channel), \(job.id))", logger: logger)
        }
    }

    public func job(_ id: String) async throws -> Job? {
        try await jobs("SELECT \(unescaped: Self.columns) FROM guardrail_jobs WHERE id = \(id)").first
    }

    public func claim(worker: String, lease: Double) async throws -> Job? {
        try await jobs(
            """
            UPDATE guardrail_jobs SET state = 'running', attempts = attempts + 1, frames_done = 0, worker = \(worker),
                lease_until = \(unescaped: Self.now) + \(lease), updated_at = \(unescaped: Self.now)
            WHERE id = (SELECT id FROM guardrail_jobs WHERE state = 'queued' AND available_at <= \(unescaped: Self.now)
                ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """
        ).first
    }

    public func heartbeat(_ id: String, attempt: Int, framesDone: Int, lease: Double) async throws -> Bool {
        try await count(
            """
            UPDATE guardrail_jobs SET frames_done = \(framesDone), lease_until = \(unescaped: Self.now) + \(lease),
                updated_at = \(unescaped: Self.now)
            WHERE id = \(id) AND state = 'running' AND attempts = \(attempt) RETURNING id
            """) == 1
    }

    public func finish(
        _ id: String, attempt: Int, state: JobState, framesDone: Int, result: Data?, error: String?
    ) async throws -> Bool {
        // The callback, if any, becomes due in the same statement: it cannot be lost or doubled.
        try await count(
            """
            UPDATE guardrail_jobs SET state = \(state.rawValue), frames_done = \(framesDone), result = \(result),
                error = \(error), finished_at = \(unescaped: Self.now), updated_at = \(unescaped: Self.now),
                lease_until = NULL,
                callback_state = CASE callback_state WHEN 'waiting' THEN 'pending' ELSE callback_state END,
                callback_due = CASE callback_state WHEN 'waiting' THEN \(unescaped: Self.now) ELSE callback_due END
            WHERE id = \(id) AND state = 'running' AND attempts = \(attempt) RETURNING id
            """) == 1
    }

    public func retry(_ id: String, attempt: Int, error: String, delay: Double, maxAttempts: Int) async throws
        -> JobState?
    {
        let dead = "attempts >= \(maxAttempts)"
        var state: JobState?
        for try await name in try await client.query(
            """
            UPDATE guardrail_jobs SET state = CASE WHEN \(unescaped: dead) THEN 'dead' ELSE 'queued' END,
                error = \(error), lease_until = NULL, available_at = \(unescaped: Self.now) + \(delay),
                updated_at = \(unescaped: Self.now),
                finished_at = CASE WHEN \(unescaped: dead) THEN \(unescaped: Self.now) ELSE NULL END,
                callback_state = CASE WHEN \(unescaped: dead) AND callback_state = 'waiting' THEN 'pending'
                    ELSE callback_state END,
                callback_due = CASE WHEN \(unescaped: dead) AND callback_state = 'waiting' THEN \(unescaped: Self.now)
                    ELSE callback_due END
            WHERE id = \(id) AND state = 'running' AND attempts = \(attempt) RETURNING state
            """, logger: logger
        ).decode(String.self) {
            state = JobState(rawValue: name)
        }
        return state
    }

    public func reapExpired(maxAttempts: Int) async throws -> (requeued: Int, dead: Int) {
        let expired = "state = 'running' AND lease_until < \(Self.now)"
        let dead = try await count(
            """
            UPDATE guardrail_jobs SET state = 'dead', finished_at = \(unescaped: Self.now),
                updated_at = \(unescaped: Self.now), lease_until = NULL,
                error = json_build_object('type', 'lease_expired', 'message',
                    'the worker ' || coalesce(worker, '?') || ' stopped on attempt ' || attempts || ' of '
                    || \(String(maxAttempts)))::text,
                callback_state = CASE callback_state WHEN 'waiting' THEN 'pending' ELSE callback_state END,
                callback_due = CASE callback_state WHEN 'waiting' THEN \(unescaped: Self.now) ELSE callback_due END
            WHERE \(unescaped: expired) AND attempts >= \(maxAttempts) RETURNING id
            """)
        let requeued = try await count(
            """
            UPDATE guardrail_jobs SET state = 'queued', lease_until = NULL, updated_at = \(unescaped: Self.now)
            WHERE \(unescaped: expired) RETURNING id
            """)
        if requeued > 0 { try await client.query("SELECT pg_notify(\(Self.channel), 'requeued')", logger: logger) }
        return (requeued, dead)
    }

    public func cancel(_ id: String) async throws -> Job? {
        // The row as it was: the outer SELECT reads the snapshot from before the UPDATE.
        try await jobs(
            """
            WITH changed AS (
                UPDATE guardrail_jobs SET state = 'cancelled', finished_at = \(unescaped: Self.now),
                    updated_at = \(unescaped: Self.now), lease_until = NULL,
                    callback_state = CASE callback_state WHEN 'waiting' THEN 'none' ELSE callback_state END
                WHERE id = \(id) AND state IN ('queued', 'running') RETURNING id)
            SELECT \(unescaped: Self.columns) FROM guardrail_jobs WHERE id = \(id)
            """
        ).first
    }

    public func requeueRunning() async throws -> Int {
        try await count(
            """
            UPDATE guardrail_jobs SET state = 'queued', lease_until = NULL, updated_at = \(unescaped: Self.now)
            WHERE state = 'running' RETURNING id
            """)
    }

    public func requeue(_ id: String) async throws -> Job? {
        let job = try await jobs(
            """
            WITH changed AS (
                UPDATE guardrail_jobs SET state = 'queued', attempts = 0, frames_done = 0, result = NULL, error = NULL,
                    finished_at = NULL, available_at = 0, updated_at = \(unescaped: Self.now),
                    callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'waiting' END,
                    callback_attempts = 0, callback_due = NULL
                WHERE id = \(id) AND state NOT IN ('queued', 'running') RETURNING id)
            SELECT \(unescaped: Self.columns) FROM guardrail_jobs WHERE id = \(id)
            """
        ).first
        if job?.state.isFinal == true { try await client.query("SELECT pg_notify(\(Self.channel), \(id))") }
        return job
    }

    public func queuedCount() async throws -> Int {
        var total = 0
        for try await n in try await client.query(
            "SELECT count(*)::bigint FROM guardrail_jobs WHERE state = 'queued'", logger: logger
        ).decode(Int.self) {
            total = n
        }
        return total
    }

    public func counts() async throws -> [JobState: Int] {
        var counts: [JobState: Int] = [:]
        for try await (state, n) in try await client.query(
            "SELECT state, count(*)::bigint FROM guardrail_jobs GROUP BY state", logger: logger
        ).decode((String, Int).self) {
            if let state = JobState(rawValue: state) { counts[state] = n }
        }
        return counts
    }

    public func list(state: JobState?, limit: Int) async throws -> [Job] {
        try await jobs(
            """
            SELECT \(unescaped: Self.columns) FROM guardrail_jobs WHERE \(state?.rawValue)::text IS NULL OR state = \(state?.rawValue)::text
            ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """)
    }

    public func takeDueCallbacks(now: Date, lease: Double) async throws -> [Job] {
        let at = now.timeIntervalSince1970
        return try await jobs(
            """
            UPDATE guardrail_jobs SET callback_due = \(at + lease)
            WHERE id IN (SELECT id FROM guardrail_jobs WHERE callback_state = 'pending' AND callback_due <= \(at)
                ORDER BY callback_due LIMIT 64 FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """)
    }

    public func callbackAttempted(_ id: String, state: CallbackState, attempts: Int, due: Date?) async throws {
        try await client.query(
            """
            UPDATE guardrail_jobs SET callback_state = \(state.rawValue), callback_attempts = \(attempts),
                callback_due = \(due?.timeIntervalSince1970)::double precision
            WHERE id = \(id) AND callback_state = 'pending'
            """, logger: logger)
    }

    public func expire(before: Date, states: Set<JobState>) async throws -> [Job] {
        let names = states.filter(\.isFinal).map(\.rawValue).sorted()
        guard !names.isEmpty else { return [] }
        // A job whose callback is still being retried stays until it is delivered or abandoned.
        return try await jobs(
            """
            DELETE FROM guardrail_jobs
            WHERE state = ANY(\(names)) AND finished_at < \(before.timeIntervalSince1970) AND callback_state != 'pending'
            RETURNING \(unescaped: Self.columns)
            """)
    }

    public func uploads() async throws -> Set<String> {
        var uploads: Set<String> = []
        for try await upload in try await client.query("SELECT upload FROM guardrail_jobs", logger: logger).decode(
            String.self)
        {
            uploads.insert(upload)
        }
        return uploads
    }

    public func waitForJobs(seconds: Double) async { await doorbell.wait(seconds: seconds) }
}

/// A job store that cannot be opened or used as configured.
public struct JobStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
