import Foundation
import GRDB

/// The default ``JobStore``: one SQLite file in the data dir, in WAL mode (readers never wait for
/// the writer), every transition a single conditional `UPDATE` in a write transaction (SQLite
/// has one writer at a time, so a claim needs no row locks).
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    /// Rung by inserts: this store's users are in this process.
    private let doorbell = Doorbell()

    /// The schema's migrations in order; `upTo` stops early (tests of a migration from an older file).
    static func migrator(upTo last: String? = nil) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (name, sql) in migrations {
            migrator.registerMigration(name) { db in try db.execute(sql: sql) }
            if name == last { break }
        }
        return migrator
    }

    /// Opens (creating) `path` and migrates its schema, as far as the migration named `schema`
    /// when given (tests of a migration from an older file), else to the latest.
    public init(path: String, schema: String? = nil) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator(upTo: schema).migrate(pool)
    }

    /// The migrations applied to the file, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await pool.read { db in try Self.migrator().appliedMigrations(db) }
    }

    static let migrations: [(String, String)] = [
        (
            "jobs-v1",
            """
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY, state TEXT NOT NULL, upload TEXT NOT NULL, filename TEXT NOT NULL,
                created_at DOUBLE NOT NULL, updated_at DOUBLE NOT NULL, finished_at DOUBLE,
                attempts INTEGER NOT NULL DEFAULT 0, frames_done INTEGER NOT NULL DEFAULT 0,
                result BLOB, error TEXT, callback_url TEXT, callback_state TEXT NOT NULL,
                callback_attempts INTEGER NOT NULL DEFAULT 0, callback_due DOUBLE);
            CREATE INDEX jobs_queue ON jobs(state, created_at);
            CREATE INDEX jobs_callbacks ON jobs(callback_state, callback_due);
            """
        ),
        (
            "jobs-v2",
            """
            ALTER TABLE jobs ADD COLUMN worker TEXT;
            ALTER TABLE jobs ADD COLUMN lease_until DOUBLE;
            ALTER TABLE jobs ADD COLUMN available_at DOUBLE NOT NULL DEFAULT 0;
            """
        ),
    ]

    private static let columns =
        "id, state, upload, filename, created_at, updated_at, finished_at, attempts, frames_done, result, error, worker, lease_until, available_at, callback_url, callback_state, callback_attempts, callback_due"

    private static func job(_ row: Row) -> Job {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return Job(
            id: row["id"], state: JobState(rawValue: row["state"]) ?? .failed, upload: row["upload"],
            filename: row["filename"], createdAt: date("created_at")!, updatedAt: date("updated_at")!,
            finishedAt: date("finished_at"), attempts: row["attempts"], framesDone: row["frames_done"],
            result: row["result"], error: row["error"], worker: row["worker"], leaseUntil: date("lease_until"),
            availableAt: date("available_at"), callbackURL: row["callback_url"],
            callbackState: CallbackState(rawValue: row["callback_state"]) ?? .none,
            callbackAttempts: row["callback_attempts"], callbackDue: date("callback_due"))
    }

    private static var now: Double { Date().timeIntervalSince1970 }

    public func insert(_ job: Job) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO jobs (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    job.id, job.state.rawValue, job.upload, job.filename, job.createdAt.timeIntervalSince1970,
                    job.updatedAt.timeIntervalSince1970, job.finishedAt?.timeIntervalSince1970, job.attempts,
                    job.framesDone, job.result, job.error, job.worker, job.leaseUntil?.timeIntervalSince1970,
                    job.availableAt?.timeIntervalSince1970 ?? 0, job.callbackURL, job.callbackState.rawValue,
                    job.callbackAttempts, job.callbackDue?.timeIntervalSince1970,
                ])
        }
        await doorbell.ring()
    }

    public func job(_ id: String) async throws -> Job? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func claim(worker: String, lease: Double) async throws -> Job? {
        try await pool.write { db in
            let now = Self.now
            guard
                let id = try String.fetchOne(
                    db,
                    sql:
                        "SELECT id FROM jobs WHERE state = 'queued' AND available_at <= ? ORDER BY created_at, id LIMIT 1",
                    arguments: [now])
            else { return nil }
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'running', attempts = attempts + 1, frames_done = 0, worker = ?,
                        lease_until = ?, updated_at = ? WHERE id = ?
                    """,
                arguments: [worker, now + lease, now, id])
            return try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM jobs WHERE id = ?", arguments: [id])
                .map(Self.job)
        }
    }

    public func heartbeat(_ id: String, attempt: Int, framesDone: Int, lease: Double) async throws -> Bool {
        try await pool.write { db in
            let now = Self.now
            try db.execute(
                sql: """
                    UPDATE jobs SET frames_done = ?, lease_until = ?, updated_at = ?
                    WHERE id = ? AND state = 'running' AND attempts = ?
                    """,
                arguments: [framesDone, now + lease, now, id, attempt])
            return db.changesCount == 1
        }
    }

    public func finish(
        _ id: String, attempt: Int, state: JobState, framesDone: Int, result: Data?, error: String?
    ) async throws -> Bool {
        try await pool.write { db in
            let now = Self.now
            // The callback, if any, becomes due in the same transaction: it cannot be lost or doubled.
            try db.execute(
                sql: """
                    UPDATE jobs SET state = ?, frames_done = ?, result = ?, error = ?, finished_at = ?, updated_at = ?,
                        lease_until = NULL,
                        callback_state = CASE callback_state WHEN 'waiting' THEN 'pending' ELSE callback_state END,
                        callback_due = CASE callback_state WHEN 'waiting' THEN ? ELSE callback_due END
                    WHERE id = ? AND state = 'running' AND attempts = ?
                    """,
                arguments: [state.rawValue, framesDone, result, error, now, now, now, id, attempt])
            return db.changesCount == 1
        }
    }

    public func retry(_ id: String, attempt: Int, error: String, delay: Double, maxAttempts: Int) async throws
        -> JobState?
    {
        try await pool.write { db in
            let now = Self.now
            try db.execute(
                sql: """
                    UPDATE jobs SET state = CASE WHEN attempts >= ? THEN 'dead' ELSE 'queued' END, error = ?,
                        lease_until = NULL, available_at = ?, updated_at = ?,
                        finished_at = CASE WHEN attempts >= ? THEN ? ELSE NULL END,
                        callback_state = CASE WHEN attempts >= ? AND callback_state = 'waiting' THEN 'pending'
                            ELSE callback_state END,
                        callback_due = CASE WHEN attempts >= ? AND callback_state = 'waiting' THEN ? ELSE callback_due END
                    WHERE id = ? AND state = 'running' AND attempts = ?
                    """,
                arguments: [
                    maxAttempts, error, now + delay, now, maxAttempts, now, maxAttempts, maxAttempts, now, id, attempt,
                ])
            guard db.changesCount == 1 else { return nil }
            return try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id])
                .flatMap(JobState.init(rawValue:))
        }
    }

    public func reapExpired(maxAttempts: Int) async throws -> (requeued: Int, dead: Int) {
        try await pool.write { db in
            let now = Self.now
            let expired = "state = 'running' AND lease_until < ?"
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'dead', finished_at = ?, updated_at = ?, lease_until = NULL,
                        error = json_object('type', 'lease_expired', 'message',
                            'the worker ' || coalesce(worker, '?') || ' stopped on attempt ' || attempts || ' of ' || ?),
                        callback_state = CASE callback_state WHEN 'waiting' THEN 'pending' ELSE callback_state END,
                        callback_due = CASE callback_state WHEN 'waiting' THEN ? ELSE callback_due END
                    WHERE \(expired) AND attempts >= ?
                    """,
                arguments: [now, now, maxAttempts, now, now, maxAttempts])
            let dead = db.changesCount
            try db.execute(
                sql: "UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = ? WHERE \(expired)",
                arguments: [now, now])
            return (db.changesCount, dead)
        }
    }

    public func cancel(_ id: String) async throws -> Job? {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM jobs WHERE id = ?", arguments: [id])
            else { return nil }
            let job = Self.job(row)
            if !job.state.isFinal {
                let now = Self.now
                try db.execute(
                    sql: """
                        UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_until = NULL,
                            callback_state = CASE callback_state WHEN 'waiting' THEN 'none' ELSE callback_state END
                        WHERE id = ?
                        """,
                    arguments: [now, now, id])
            }
            return job
        }
    }

    public func requeueRunning() async throws -> Int {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = ? WHERE state = 'running'",
                arguments: [Self.now])
            return db.changesCount
        }
    }

    public func requeue(_ id: String) async throws -> Job? {
        let job: Job? = try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM jobs WHERE id = ?", arguments: [id])
            else { return nil }
            let job = Self.job(row)
            if job.state.isFinal {
                try db.execute(
                    sql: """
                        UPDATE jobs SET state = 'queued', attempts = 0, frames_done = 0, result = NULL, error = NULL,
                            finished_at = NULL, available_at = 0, updated_at = ?,
                            callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'waiting' END,
                            callback_attempts = 0, callback_due = NULL
                        WHERE id = ?
                        """,
                    arguments: [Self.now, id])
            }
            return job
        }
        if job?.state.isFinal == true { await doorbell.ring() }
        return job
    }

    public func queuedCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE state = 'queued'") ?? 0 }
    }

    public func counts() async throws -> [JobState: Int] {
        try await pool.read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    public func list(state: JobState?, limit: Int) async throws -> [Job] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.columns) FROM jobs WHERE ? IS NULL OR state = ?
                    ORDER BY created_at DESC, id DESC LIMIT ?
                    """,
                arguments: [state?.rawValue, state?.rawValue, limit]
            ).map(Self.job)
        }
    }

    public func takeDueCallbacks(now: Date, lease: Double) async throws -> [Job] {
        try await pool.write { db in
            let jobs = try Row.fetchAll(
                db,
                sql:
                    "SELECT \(Self.columns) FROM jobs WHERE callback_state = 'pending' AND callback_due <= ? ORDER BY callback_due",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.job)
            for job in jobs {
                try db.execute(
                    sql: "UPDATE jobs SET callback_due = ? WHERE id = ?",
                    arguments: [now.timeIntervalSince1970 + lease, job.id])
            }
            return jobs
        }
    }

    public func callbackAttempted(_ id: String, state: CallbackState, attempts: Int, due: Date?) async throws {
        try await pool.write { db in
            try db.execute(
                sql:
                    "UPDATE jobs SET callback_state = ?, callback_attempts = ?, callback_due = ? WHERE id = ? AND callback_state = 'pending'",
                arguments: [state.rawValue, attempts, due?.timeIntervalSince1970, id])
        }
    }

    public func expire(before: Date, states: Set<JobState>) async throws -> [Job] {
        let names = states.filter(\.isFinal).map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
        guard !names.isEmpty else { return [] }
        return try await pool.write { db in
            let cutoff = before.timeIntervalSince1970
            // A job whose callback is still being retried stays until it is delivered or abandoned.
            let condition = "state IN (\(names)) AND finished_at < ? AND callback_state != 'pending'"
            let jobs = try Row.fetchAll(
                db, sql: "SELECT \(Self.columns) FROM jobs WHERE \(condition)", arguments: [cutoff]
            ).map(Self.job)
            try db.execute(sql: "DELETE FROM jobs WHERE \(condition)", arguments: [cutoff])
            return jobs
        }
    }

    public func uploads() async throws -> Set<String> {
        try await pool.read { db in Set(try String.fetchAll(db, sql: "SELECT upload FROM jobs")) }
    }

    public func waitForJobs(seconds: Double) async { await doorbell.wait(seconds: seconds) }
}
