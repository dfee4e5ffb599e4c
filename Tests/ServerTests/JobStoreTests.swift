import Foundation
import GRDB
import Logging
import PostgresNIO
import Server
import TestSupport
import Testing

/// The two job stores, one suite: one taker per job, one result per attempt, leases, retries and
/// dead letters, nothing lost at restart, migrations. Here on SQLite; ``PostgresJobStoreTests`` runs
/// the same tests on PostgreSQL.
@Suite struct JobStoreTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static let postgresURL = ProcessInfo.processInfo.environment["GUARDRAIL_TEST_POSTGRES"]

    /// A fresh store of `kind` (its own SQLite file or PostgreSQL database), the way to open it
    /// again, and its clean-up.
    struct Fresh {
        var store: any JobStore
        var reopen: () async throws -> any JobStore
        var location: String
    }

    static func fresh(_ kind: Kind) async throws -> Fresh? {
        switch kind {
        case .sqlite:
            let folder = NSTemporaryDirectory() + "guardrail-jobs-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/jobs.sqlite"
            return Fresh(
                store: try SQLiteJobStore(path: path), reopen: { try SQLiteJobStore(path: path) }, location: path)
        case .postgres:
            guard let url = try await Self.database() else { return nil }
            return Fresh(
                store: try await PostgresJobStore(url: url), reopen: { try await PostgresJobStore(url: url) },
                location: url)
        }
    }

    /// A new empty database on the test server; nil (with an issue under CI) without one.
    static func database() async throws -> String? {
        guard let base = postgresURL else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("GUARDRAIL_TEST_POSTGRES is not set: .ci/run starts PostgreSQL for these tests")
            }
            return nil
        }
        return try await ScratchDatabase.create(on: base)
    }

    static func job(_ id: String, at seconds: Double, callback: String? = nil) -> Job {
        Job(
            id: id, upload: "uploads/\(id)", filename: "\(id).mp4", callbackURL: callback,
            createdAt: Date(timeIntervalSince1970: seconds))
    }

    @Test(arguments: [Kind.sqlite]) func claimFinishAndRestart(_ kind: Kind) async throws {
        guard let fresh = try await Self.fresh(kind) else { return }
        let store = fresh.store
        try await store.insert(Self.job("b", at: 2))
        try await store.insert(Self.job("a", at: 1, callback: "http://127.0.0.1/hook"))
        #expect(try await store.queuedCount() == 2)
        let first = try #require(try await store.claim(worker: "w1", lease: 60))
        #expect(first.id == "a" && first.state == .running && first.attempts == 1 && first.worker == "w1")
        #expect(try await store.heartbeat("a", attempt: 1, framesDone: 7, lease: 60))
        #expect(try await store.job("a")?.framesDone == 7)
        // A restart of the only server queues the running job again; the old run can no longer finish it.
        #expect(try await store.requeueRunning() == 1)
        #expect(try await store.job("a")?.state == .queued)
        let again = try #require(try await store.claim(worker: "w2", lease: 60))
        #expect(again.id == "a" && again.attempts == 2)
        #expect(!(try await store.heartbeat("a", attempt: 1, framesDone: 9, lease: 60)))
        #expect(
            !(try await store.finish(
                "a", attempt: 1, state: .succeeded, framesDone: 3, result: Data("{}".utf8), error: nil)))
        #expect(
            try await store.finish(
                "a", attempt: 2, state: .succeeded, framesDone: 3, result: Data("{}".utf8), error: nil))
        // Recorded once: the same attempt cannot finish it again, differently or not.
        #expect(!(try await store.finish("a", attempt: 2, state: .failed, framesDone: 3, result: nil, error: "x")))
        let done = try #require(try await store.job("a"))
        #expect(done.state == .succeeded && done.framesDone == 3 && done.result == Data("{}".utf8))
        // Its callback became due with the result, in the same transaction, and is taken once.
        #expect(done.callbackState == .pending)
        #expect(try await store.takeDueCallbacks(now: Date(), lease: 60).map(\.id) == ["a"])
        #expect(try await store.takeDueCallbacks(now: Date(), lease: 60).isEmpty)
        try await store.callbackAttempted("a", state: .pending, attempts: 1, due: Date().addingTimeInterval(60))
        #expect(try await store.takeDueCallbacks(now: Date(), lease: 60).isEmpty)
        try await store.callbackAttempted("a", state: .delivered, attempts: 2, due: nil)
        try await store.callbackAttempted("a", state: .pending, attempts: 3, due: Date())
        #expect(try await store.job("a")?.callbackState == .delivered)
        #expect(try await store.job("a")?.callbackAttempts == 2)
        // Opening the store again finds everything.
        let reopened = try await fresh.reopen()
        let stored = try #require(try await reopened.job("a"))
        #expect(stored.state == .succeeded && stored.result == done.result && stored.attempts == 2)
        #expect(stored.callbackState == .delivered && stored.callbackAttempts == 2 && stored.callbackDue == nil)
        #expect(try await reopened.claim(worker: "w3", lease: 60)?.id == "b")
        #expect(try await reopened.counts() == [.succeeded: 1, .running: 1])
    }

    @Test(arguments: [Kind.sqlite]) func cancellationAndRetention(_ kind: Kind) async throws {
        guard let store = try await Self.fresh(kind)?.store else { return }
        try await store.insert(Self.job("q", at: 1, callback: "http://127.0.0.1/hook"))
        try await store.insert(Self.job("r", at: 2))
        let running = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(try await store.cancel("q")?.state == .running)
        #expect(!(try await store.heartbeat("q", attempt: running.attempts, framesDone: 1, lease: 60)))
        #expect(
            !(try await store.finish(
                "q", attempt: running.attempts, state: .succeeded, framesDone: 1, result: nil, error: nil)))
        let cancelled = try #require(try await store.job("q"))
        #expect(cancelled.state == .cancelled && cancelled.callbackState == .none)
        #expect(try await store.cancel("nothing") == nil)
        #expect(try await store.uploads() == ["uploads/q", "uploads/r"])
        // Only finished jobs past the cut-off go, and only of the states asked for.
        #expect(try await store.expire(before: Date().addingTimeInterval(-60)).isEmpty)
        #expect(try await store.expire(before: Date().addingTimeInterval(1), states: [.failed]).isEmpty)
        #expect(try await store.expire(before: Date().addingTimeInterval(1)).map(\.id) == ["q"])
        #expect(try await store.job("q") == nil)
        #expect(try await store.job("r")?.state == .queued)
        #expect(try await store.list(state: nil, limit: 10).map(\.id) == ["r"])
    }

    /// A worker that stops renewing its lease loses the job to the next claim; at the cap the job is
    /// dead with the reason, and its callback is due.
    @Test(arguments: [Kind.sqlite]) func expiredLeasesAndDeadLetters(_ kind: Kind) async throws {
        guard let store = try await Self.fresh(kind)?.store else { return }
        try await store.insert(Self.job("j", at: 1, callback: "http://127.0.0.1/hook"))
        try await store.insert(Self.job("alive", at: 2))
        _ = try #require(try await store.claim(worker: "dies", lease: 1))
        _ = try #require(try await store.claim(worker: "lives", lease: 3600))
        try await Task.sleep(for: .milliseconds(1300))
        #expect(try await store.reapExpired(maxAttempts: 2) == (1, 0))
        let second = try #require(try await store.claim(worker: "w2", lease: 1))
        #expect(second.attempts == 2 && second.worker == "w2")
        // The first worker, back from the dead, cannot touch the job.
        #expect(!(try await store.heartbeat("j", attempt: 1, framesDone: 5, lease: 60)))
        #expect(!(try await store.finish("j", attempt: 1, state: .succeeded, framesDone: 5, result: nil, error: nil)))
        try await Task.sleep(for: .milliseconds(1300))
        #expect(try await store.reapExpired(maxAttempts: 2) == (0, 1))
        #expect(try await store.job("alive")?.state == .running)  // its lease holds
        let dead = try #require(try await store.job("j"))
        #expect(dead.state == .dead && dead.finishedAt != nil && dead.callbackState == .pending)
        let reason = try #require(dead.error.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) })
        #expect((reason as? [String: String])?["type"] == "lease_expired")
        #expect((reason as? [String: String])?["message"]?.contains("w2") == true)
        #expect(!(try await store.finish("j", attempt: 2, state: .succeeded, framesDone: 5, result: nil, error: nil)))
        // An operator queues it again from scratch.
        #expect(try await store.requeue("j")?.state == .dead)
        let retried = try #require(try await store.job("j"))
        #expect(retried.state == .queued && retried.attempts == 0 && retried.error == nil)
        #expect(retried.callbackState == .waiting && retried.callbackAttempts == 0)
        #expect(try await store.requeue("j")?.state == .queued)  // not final: unchanged
    }

    /// Transient failures queue the job again after its back-off, until the cap. (No test waits
    /// for a clock: a loaded machine would make it flaky.)
    @Test(arguments: [Kind.sqlite]) func retriesWithACap(_ kind: Kind) async throws {
        guard let store = try await Self.fresh(kind)?.store else { return }
        let reason = #"{"type":"io","message":"read failed"}"#
        // Backing off: queued, but not taken before its time.
        try await store.insert(Self.job("later", at: 1))
        let first = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(try await store.retry("later", attempt: 1, error: reason, delay: 3600, maxAttempts: 2) == .queued)
        #expect(try await store.retry("later", attempt: 1, error: "again", delay: 0, maxAttempts: 2) == nil)
        let waiting = try #require(try await store.job("later"))
        #expect(waiting.state == .queued && waiting.error == reason && first.attempts == 1)
        #expect(abs((waiting.availableAt?.timeIntervalSinceNow ?? 0) - 3600) < 120)
        #expect(try await store.claim(worker: "w", lease: 60) == nil)
        // Without a delay it is taken again at once; at the cap it is dead, with the last reason.
        try await store.insert(Self.job("now", at: 2))
        _ = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(try await store.retry("now", attempt: 1, error: reason, delay: 0, maxAttempts: 2) == .queued)
        let second = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(second.id == "now" && second.attempts == 2)
        #expect(try await store.retry("now", attempt: 2, error: reason, delay: 0, maxAttempts: 2) == .dead)
        let dead = try #require(try await store.job("now"))
        #expect(dead.state == .dead && dead.error == reason && dead.finishedAt != nil)
        #expect(try await store.counts() == [.dead: 1, .queued: 1])
    }

    /// An idle worker waiting for work wakes when a job is queued (PostgreSQL: through NOTIFY, from
    /// another connection), not when its wait runs out. (Other suites' scans can keep this process's
    /// tasks from running for many seconds, so no bound here is tighter than the wait's own.)
    @Test(arguments: [Kind.sqlite]) func insertsWakeWaitingWorkers(_ kind: Kind) async throws {
        guard let fresh = try await Self.fresh(kind) else { return }
        let (writer, waiter) = (fresh.store, kind == .sqlite ? fresh.store : try await fresh.reopen())
        let wait = 600.0
        let waited = try await withThrowingTaskGroup(of: Double?.self) { group in
            group.addTask {
                let start = Date()
                await waiter.waitForJobs(seconds: wait)
                return Date().timeIntervalSince(start)
            }
            // Until the waiter wakes: it may start waiting (its LISTEN, too) after the first insert.
            group.addTask {
                for i in 0..<Int(wait) {
                    try await writer.insert(Self.job("wake-\(i)", at: Double(i)))
                    try await Task.sleep(for: .seconds(1))
                }
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        #expect(try #require(waited) < wait / 2)
    }

    /// 8 workers racing for 500 jobs: each job is taken once and finished once.
    @Test(arguments: [Kind.sqlite]) func concurrentClaimsNeverShareAJob(_ kind: Kind) async throws {
        guard let fresh = try await Self.fresh(kind) else { return }
        let count = 500
        for i in 0..<count { try await fresh.store.insert(Self.job(String(format: "job-%03d", i), at: Double(i))) }
        // Each worker opens its own store (its own connections), as separate processes would.
        var stores: [any JobStore] = []
        for _ in 0..<8 { stores.append(try await fresh.reopen()) }
        let taken = try await withThrowingTaskGroup(of: [String].self) { group in
            for (w, store) in stores.enumerated() {
                group.addTask {
                    var mine: [String] = []
                    while let job = try await store.claim(worker: "w\(w)", lease: 60) {
                        mine.append(job.id)
                        #expect(
                            try await store.finish(
                                job.id, attempt: job.attempts, state: .succeeded, framesDone: 1, result: nil,
                                error: nil))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        let all = taken.flatMap { $0 }
        #expect(all.count == count && Set(all).count == count)
        #expect(taken.filter { !$0.isEmpty }.count > 1, "the workers should share the load")
        #expect(try await fresh.store.counts() == [.succeeded: count])
    }

    /// A store written by the previous schema opens, migrates and keeps its jobs; an empty one gets
    /// every version.
    @Test(arguments: [Kind.sqlite]) func migrations(_ kind: Kind) async throws {
        let v1 = """
            INSERT INTO %@ (id, state, upload, filename, created_at, updated_at, attempts, frames_done, callback_state)
            VALUES ('old', 'queued', '/srv/data/uploads/old', 'old.mp4', 1, 1, 0, 0, 'none')
            """
        switch kind {
        case .sqlite:
            let fresh = try #require(try await Self.fresh(.sqlite))
            #expect(try await (fresh.store as! SQLiteJobStore).appliedMigrations() == ["jobs-v1", "jobs-v2"])
            let path = NSTemporaryDirectory() + "guardrail-jobs-v1-\(UInt32.random(in: 0...UInt32.max)).sqlite"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let old = try SQLiteJobStore(path: path, schema: "jobs-v1")
            #expect(try await old.appliedMigrations() == ["jobs-v1"])
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: String(format: v1, "jobs")) }
            let migrated = try SQLiteJobStore(path: path)
            #expect(try await migrated.appliedMigrations() == ["jobs-v1", "jobs-v2"])
            try await expectOldJobClaimable(migrated)
        case .postgres:
            guard let url = try await Self.database() else { return }
            let old = try await PostgresJobStore(url: url, schema: 1)
            #expect(try await old.appliedVersions() == [1])
            try await ScratchDatabase.withClient(url) { client in
                try await client.query(PostgresQuery(unsafeSQL: String(format: v1, "guardrail_jobs")))
            }
            let migrated = try await PostgresJobStore(url: url)
            #expect(try await migrated.appliedVersions() == [1, 2])
            try await expectOldJobClaimable(migrated)
            // A database from a newer guardrail is refused, not rewritten.
            try await ScratchDatabase.withClient(url) { client in
                try await client.query("INSERT INTO guardrail_schema (version) VALUES (99)")
            }
            await #expect(throws: (any Error).self) { try await PostgresJobStore(url: url) }
        }
    }

    func expectOldJobClaimable(_ store: any JobStore) async throws {
        let job = try #require(try await store.job("old"))
        #expect(job.upload == "/srv/data/uploads/old" && job.state == .queued && job.worker == nil)
        #expect(try await store.claim(worker: "w", lease: 60)?.id == "old")
    }
}

/// ``JobStoreTests`` on PostgreSQL, when `GUARDRAIL_TEST_POSTGRES` names a server (`.ci/run` starts
/// one); reported as skipped without one, and under CI its absence is a failure.
@Suite(
    .enabled(
        if: JobStoreTests.postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil,
        "GUARDRAIL_TEST_POSTGRES names no PostgreSQL server"))
struct PostgresJobStoreTests {
    @Test func claimFinishAndRestart() async throws { try await JobStoreTests().claimFinishAndRestart(.postgres) }

    @Test func cancellationAndRetention() async throws { try await JobStoreTests().cancellationAndRetention(.postgres) }

    @Test func expiredLeasesAndDeadLetters() async throws {
        try await JobStoreTests().expiredLeasesAndDeadLetters(.postgres)
    }

    @Test func retriesWithACap() async throws { try await JobStoreTests().retriesWithACap(.postgres) }

    @Test func insertsWakeWaitingWorkers() async throws {
        try await JobStoreTests().insertsWakeWaitingWorkers(.postgres)
    }

    @Test func concurrentClaimsNeverShareAJob() async throws {
        try await JobStoreTests().concurrentClaimsNeverShareAJob(.postgres)
    }

    @Test func migrations() async throws { try await JobStoreTests().migrations(.postgres) }
}
