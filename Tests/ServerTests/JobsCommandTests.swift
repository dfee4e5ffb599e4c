import Foundation
import Server
import TestSupport
import Testing

/// `guardrail jobs` over a data dir's SQLite store, as an operator runs it.
@Suite struct JobsCommandTests {
    static func run(_ arguments: [String]) throws -> GuardrailRun { try GuardrailRun.run(["jobs"] + arguments) }

    @Test func listShowRetryPurge() async throws {
        let folder = NSTemporaryDirectory() + "guardrail-jobs-cli-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder + "/uploads", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try SQLiteJobStore(path: folder + "/jobs.sqlite")
        for (i, id) in ["dead-one", "done-one", "waiting"].enumerated() {
            try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/uploads/" + id))
            try await store.insert(
                Job(
                    id: id, upload: "uploads/" + id, filename: id + ".mp4", callbackURL: nil,
                    createdAt: Date(timeIntervalSince1970: Double(i))))
        }
        let dying = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(
            try await store.retry(
                dying.id, attempt: 1, error: #"{"type":"io","message":"gone"}"#, delay: 0, maxAttempts: 1) == .dead)
        let finishing = try #require(try await store.claim(worker: "w", lease: 60))
        #expect(
            try await store.finish(
                finishing.id, attempt: 1, state: .succeeded, framesDone: 1, result: Data("{}".utf8), error: nil))
        let dataDir = ["--data-dir", folder]

        let list = try Self.run(["list"] + dataDir)
        #expect(list.status == 0)
        #expect(list.stdout.hasPrefix("queued 1, running 0, succeeded 1, failed 0, cancelled 0, dead 1\n"))
        #expect(
            list.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ").first } == [
                "waiting", "done-one", "dead-one",
            ])
        let dead = try Self.run(["list", "--state", "dead", "--json"] + dataDir)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(dead.stdout.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "dead-one" && object["status"] as? String == "dead")
        #expect((object["error"] as? [String: Any])?["message"] as? String == "gone")

        let show = try Self.run(["show", "done-one"] + dataDir)
        #expect(show.status == 0 && show.stdout.contains(#""status":"succeeded""#))
        #expect(try Self.run(["show", "nope"] + dataDir).status == 1)

        #expect(try Self.run(["retry", "waiting"] + dataDir).status == 1)  // not finished
        let retry = try Self.run(["retry", "dead-one"] + dataDir)
        #expect(retry.status == 0 && retry.stdout.contains("queued again (was dead after 1 attempt(s))"))
        #expect(try await store.job("dead-one")?.state == .queued)

        let purge = try Self.run(["purge", "--state", "succeeded"] + dataDir)
        #expect(purge.status == 0 && purge.stdout == "purged 1 job(s)\n")
        #expect(try await store.job("done-one") == nil)
        #expect(!FileManager.default.fileExists(atPath: folder + "/uploads/done-one"))
        #expect(FileManager.default.fileExists(atPath: folder + "/uploads/waiting"))
        #expect(try Self.run(["purge", "--state", "queued"] + dataDir).status != 0)
        #expect(try Self.run(["list", "--data-dir", folder + "/nothing"]).status == 2)
    }
}
