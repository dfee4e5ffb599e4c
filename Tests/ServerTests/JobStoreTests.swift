import Foundation
import Server
import Testing

/// The SQLite store's transitions: one taker per job, one finish per run, nothing lost at restart.
@Suite struct JobStoreTests {
    static func store() throws -> (SQLiteJobStore, String) {
        let folder = NSTemporaryDirectory() + "guardrail-jobs-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return (try SQLiteJobStore(path: folder + "/jobs.sqlite"), folder)
    }

    static func job(_ id: String, at seconds: Double, callback: String? = nil) -> Job {
        Job(
            id: id, upload: "/uploads/\(id)", filename: "\(id).mp4", callbackURL: callback,
            createdAt: Date(timeIntervalSince1970: seconds))
    }

    @Test func claimFinishAndRestart() async throws {
        let (store, folder) = try Self.store()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await store.insert(Self.job("b", at: 2))
        try await store.insert(Self.job("a", at: 1, callback: "http://127.0.0.1/hook"))
        #expect(try await store.queuedCount() == 2)
        let first = try #require(try await store.claim())
        #expect(first.id == "a" && first.state == .running && first.attempts == 1)
        #expect(try await store.progress("a", framesDone: 7))
        #expect(try await store.job("a")?.framesDone == 7)
        // A restart queues the running job again; the old run can no longer finish it.
        #expect(try await store.requeueRunning() == 1)
        #expect(try await store.job("a")?.state == .queued)
        let again = try #require(try await store.claim())
        #expect(again.id == "a" && again.attempts == 2)
        #expect(
            !(try await store.finish(
                "a", attempt: 1, state: .succeeded, framesDone: 3, result: Data("{}".utf8), error: nil)))
        #expect(
            try await store.finish(
                "a", attempt: 2, state: .succeeded, framesDone: 3, result: Data("{}".utf8), error: nil))
        #expect(!(try await store.finish("a", attempt: 2, state: .failed, framesDone: 3, result: nil, error: "x")))
        let done = try #require(try await store.job("a"))
        #expect(done.state == .succeeded && done.framesDone == 3 && done.result == Data("{}".utf8))
        // Its callback became due with the result, in the same transaction.
        #expect(done.callbackState == .pending)
        #expect(try await store.dueCallbacks(now: Date()).map(\.id) == ["a"])
        try await store.callbackAttempted("a", state: .pending, attempts: 1, due: Date().addingTimeInterval(60))
        #expect(try await store.dueCallbacks(now: Date()).isEmpty)
        try await store.callbackAttempted("a", state: .delivered, attempts: 2, due: nil)
        try await store.callbackAttempted("a", state: .pending, attempts: 3, due: Date())
        #expect(try await store.job("a")?.callbackState == .delivered)
        #expect(try await store.job("a")?.callbackAttempts == 2)
        // Reopening the file finds everything.
        let reopened = try SQLiteJobStore(path: folder + "/jobs.sqlite")
        #expect(
            try await reopened.job("a")
                == done.with {
                    $0.callbackState = .delivered
                    $0.callbackAttempts = 2
                    $0.callbackDue = nil
                })
        #expect(try await reopened.claim()?.id == "b")
    }

    @Test func cancellationAndRetention() async throws {
        let (store, folder) = try Self.store()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await store.insert(Self.job("q", at: 1, callback: "http://127.0.0.1/hook"))
        try await store.insert(Self.job("r", at: 2))
        let running = try #require(try await store.claim())
        #expect(try await store.cancel("q")?.state == .running)
        #expect(!(try await store.progress("q", framesDone: 1)))
        #expect(
            !(try await store.finish(
                "q", attempt: running.attempts, state: .succeeded, framesDone: 1, result: nil, error: nil)))
        let cancelled = try #require(try await store.job("q"))
        #expect(cancelled.state == .cancelled && cancelled.callbackState == .none)
        #expect(try await store.cancel("nothing") == nil)
        #expect(try await store.uploads() == ["/uploads/q", "/uploads/r"])
        // Only finished jobs past the cut-off go.
        #expect(try await store.expire(before: Date().addingTimeInterval(-60)).isEmpty)
        #expect(try await store.expire(before: Date().addingTimeInterval(1)).map(\.id) == ["q"])
        #expect(try await store.job("q") == nil)
        #expect(try await store.job("r")?.state == .queued)
    }
}

extension Job {
    func with(_ change: (inout Job) -> Void) -> Job {
        var copy = self
        change(&copy)
        return copy
    }
}
