import Foundation
import GRDB

/// The default ``JobStore``: one SQLite file in the data dir, in WAL mode (readers never wait for
/// the writer), every transition a single conditional `UPDATE`.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool

    /// Opens (creating) `path` and its schema.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("jobs-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY, state TEXT NOT NULL, upload TEXT NOT NULL, filename TEXT NOT NULL,
                        created_at DOUBLE NOT NULL, updated_at DOUBLE NOT NULL, finished_at DOUBLE,
                        attempts INTEGER NOT NULL DEFAULT 0, frames_done INTEGER NOT NULL DEFAULT 0,
                        result BLOB, error TEXT, callback_url TEXT, callback_state TEXT NOT NULL,
                        callback_attempts INTEGER NOT NULL DEFAULT 0, callback_due DOUBLE);
                    CREATE INDEX jobs_queue ON jobs(state, created_at);
                    CREATE INDEX jobs_callbacks ON jobs(callback_state, callback_due);
                    """)
        }
        try migrator.migrate(pool)
    }

    private static let columns =
        "id, state, upload, filename, created_at, updated_at, finished_at, attempts, frames_done, result, error, callback_url, callback_state, callback_attempts, callback_due"

    private static func job(_ row: Row) -> Job {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return Job(
            id: row["id"], state: JobState(rawValue: row["state"]) ?? .failed, upload: row["upload"],
            filename: row["filename"], createdAt: date("created_at")!, updatedAt: date("updated_at")!,
            finishedAt: date("finished_at"), attempts: row["attempts"], framesDone: row["frames_done"],
            result: row["result"], error: row["error"], callbackURL: row["callback_url"],
            callbackState: CallbackState(rawValue: row["callback_state"]) ?? .none,
            callbackAttempts: row["callback_attempts"], callbackDue: date("callback_due"))
    }

    private static var now: Double { Date().timeIntervalSince1970 }

    public func insert(_ job: Job) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO jobs (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    job.id, job.state.rawValue, job.upload, job.filename, job.createdAt.timeIntervalSince1970,
                    job.updatedAt.timeIntervalSince1970, job.finishedAt?.timeIntervalSince1970, job.attempts,
                    job.framesDone, job.result, job.error, job.callbackURL, job.callbackState.rawValue,
                    job.callbackAttempts, job.callbackDue?.timeIntervalSince1970,
                ])
        }
    }

    public func job(_ id: String) async throws -> Job? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func claim() async throws -> Job? {
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT \(Self.columns) FROM jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1")
            else { return nil }
            var job = Self.job(row)
            try db.execute(
                sql:
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, frames_done = 0, updated_at = ? WHERE id = ? AND state = 'queued'",
                arguments: [Self.now, job.id])
            job.state = .running
            job.attempts += 1
            job.framesDone = 0
            return job
        }
    }

    public func progress(_ id: String, framesDone: Int) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE jobs SET frames_done = ?, updated_at = ? WHERE id = ? AND state = 'running'",
                arguments: [framesDone, Self.now, id])
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
                        callback_state = CASE callback_state WHEN 'waiting' THEN 'pending' ELSE callback_state END,
                        callback_due = CASE callback_state WHEN 'waiting' THEN ? ELSE callback_due END
                    WHERE id = ? AND state = 'running' AND attempts = ?
                    """,
                arguments: [state.rawValue, framesDone, result, error, now, now, now, id, attempt])
            return db.changesCount == 1
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
                        UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?,
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
                sql: "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'", arguments: [Self.now])
            return db.changesCount
        }
    }

    public func queuedCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE state = 'queued'") ?? 0 }
    }

    public func dueCallbacks(now: Date) async throws -> [Job] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT \(Self.columns) FROM jobs WHERE callback_state = 'pending' AND callback_due <= ? ORDER BY callback_due",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.job)
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

    public func expire(before: Date) async throws -> [Job] {
        try await pool.write { db in
            let cutoff = before.timeIntervalSince1970
            // A job whose callback is still being retried stays until it is delivered or abandoned.
            let condition =
                "state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ? AND callback_state != 'pending'"
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
}
