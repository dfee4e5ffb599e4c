import ArgumentParser
import AsyncHTTPClient
import Compute
import Foundation
import GuardrailEngine
import Logging
import NIOCore
import PostgresNIO
import RepositoryFiles
import Server
import Vision

struct QueueBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Video jobs through PostgreSQL with 1, 2 and 4 worker processes, against guardrail scan --jobs N.",
        discussion: """
            Creates a database of its own on the --jobs-db server (dropped at the end), starts a `guardrail serve \
            --jobs-db` API node and N single-thread `guardrail worker` processes, uploads --clips copies of a \
            generated 720p clip and times them from the first upload to the last result; the reference is the \
            same files scanned in this process as `guardrail scan --jobs N --threads 1` does, in the same run. \
            It also times the store's own work per job (insert, claim, heartbeats, finish) with no scan, and \
            prints what 1,000 uploads a minute would take.
            """
    )

    @Option(
        help: "A PostgreSQL server (postgres://user@host:port/db?sslmode=disable); default $GUARDRAIL_TEST_POSTGRES.")
    var jobsDb: String?

    @Option(help: "CLIP model folder; default: a full-size ViT-B/32 with random weights, written for the run.")
    var model: String?

    @Option(help: "Keep the random checkpoint in this folder (reused when it exists).")
    var checkpoint: String?

    @Option(help: "Jobs per level.")
    var clips = 8

    @Option(help: "Clip length in seconds (720p30 H.264, sampled every second).")
    var seconds = 10

    @Option(help: "Worker counts, comma-separated.")
    var workers = "1,2,4"

    func run() async throws {
        guard let server = jobsDb ?? ProcessInfo.processInfo.environment["GUARDRAIL_TEST_POSTGRES"] else {
            throw ValidationError("give --jobs-db (or GUARDRAIL_TEST_POSTGRES): see scripts/test_postgres.sh")
        }
        let levels = workers.split(separator: ",").compactMap { Int($0) }
        let folder = NSTemporaryDirectory() + "guardrail-queue-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try benchmarkModel(self.model, checkpoint: checkpoint, folder: folder)
        let clip = folder + "/clip.mp4"
        try generateClip(clip, seconds: seconds, height: 720)
        let body = Array(try Data(contentsOf: URL(fileURLWithPath: clip)))

        var settings = ScanSettings()
        settings.detectorModel = nil
        settings.compute = ComputeConfiguration(threads: 1)
        let engine = try GuardrailEngine(
            model: model, policies: PolicyPacks.unsafeBench, settings: settings, cache: nil)
        let copies = (0..<clips).map { folder + "/copy\($0).mp4" }
        for copy in copies { try FileManager.default.copyItem(atPath: clip, toPath: copy) }
        _ = engine.scan(path: clip)  // packs the tower once, outside the timings
        var reference: [Int: Double] = [:]
        for level in levels.sorted() {
            reference[level] = Double(clips) / time { engine.scan(files: copies, jobs: level) { _ in } }
        }

        let database = try await ScratchDatabase.create(on: server, prefix: "guardrail_bench")
        do {
            try await measure(database: database, model: model, folder: folder, body: body, reference: reference)
        } catch {
            try? await ScratchDatabase.drop(database)
            throw error
        }
        try await ScratchDatabase.drop(database)
    }

    /// The queue's levels against `reference` (jobs/s of `scan --jobs N`), and the capacity estimate.
    func measure(database: String, model: String, folder: String, body: [UInt8], reference: [Int: Double])
        async throws
    {
        let levels = reference.keys.sorted()
        // One job's time on one single-thread worker.
        let jobSeconds = Double(levels[0]) / reference[levels[0]]!
        let storeCost = try await Self.storeCostPerJob(database, jobSeconds: jobSeconds)

        let data = folder + "/data"
        let common = [
            "--data-dir", data, "--jobs-db", database, "--model", model, "--threads", "1", "--no-detector",
        ]
        let (api, apiPort) = try launchGuardrail(["serve", "--port", "0", "--text-encoder", "none"] + common)
        defer { api.terminate() }
        let store = try await PostgresJobStore(url: database)
        print(
            String(
                format: "one job: a %d s 720p clip, %d frames; the store's own work per job: %.2f ms", seconds, seconds,
                storeCost * 1000))
        print("workers  queue jobs/s  scan --jobs N jobs/s  queue/scan  per-job overhead (of a job's time)")
        var done = 0
        for level in levels {
            var nodes: [Process] = []
            defer { for node in nodes { node.terminate() } }
            for _ in 0..<level {
                let (node, port) = try launchGuardrail(["worker", "--port", "0"] + common)
                nodes.append(node)
                try await Self.waitReady(port)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            for i in 0..<clips {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(apiPort)/v1/videos?filename=clip\(i).mp4")
                request.method = .POST
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                guard response.status.code == 202 else { throw ValidationError("upload: HTTP \(response.status.code)") }
            }
            done += clips
            while true {
                let counts = try await store.counts()
                if counts[.succeeded, default: 0] >= done { break }
                if counts[.failed, default: 0] + counts[.dead, default: 0] > 0 {
                    throw ValidationError("a job failed: see guardrail jobs list --jobs-db \(database)")
                }
                try await Task.sleep(for: .milliseconds(250))  // seldom: the cores are the workers'
            }
            let rate = Double(clips) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            let scan = reference[level]!
            // What a job costs beyond its scan, at this level's throughput.
            let overhead = Double(level) / rate - Double(level) / scan
            print(
                String(
                    format: "%7d  %12.3f  %20.3f  %9.2fx  %+.0f ms (%+.1f %%)", level, rate, scan, rate / scan,
                    overhead * 1000, overhead / (Double(level) / scan) * 100))
        }
        store.close()
        let perWorkerPerMinute = 60 / jobSeconds
        let needed = Int((1000 / perWorkerPerMinute).rounded(.up))
        print(
            String(
                format:
                    "1,000 uploads/min of this clip: %.1f jobs/min per single-thread worker → %d workers (cores); "
                    + "the store's work is %.1f %% of a job, so one PostgreSQL handles it: about %d statements/s "
                    + "and 2 connections per worker process plus 3 per API node",
                perWorkerPerMinute, needed, storeCost / jobSeconds * 100,
                Int(1000.0 / 60 * Self.statementsPerJob(jobSeconds))))
    }

    /// Statements one job costs the database: insert and notify, claim, a heartbeat every 250 ms
    /// while its progress moves, finish, and a client's poll.
    static func statementsPerJob(_ jobSeconds: Double) -> Double { 2 + 1 + jobSeconds / 0.25 + 1 + 1 }

    /// Times insert, claim, a heartbeat per 250 ms of a job, and finish, with no scan in between.
    static func storeCostPerJob(_ url: String, jobSeconds: Double) async throws -> Double {
        let store = try await PostgresJobStore(url: url)
        defer { store.close() }
        let beats = max(1, Int(jobSeconds / 0.25))
        let rounds = 100
        let start = DispatchTime.now().uptimeNanoseconds
        for i in 0..<rounds {
            let id = UUID().uuidString.lowercased()
            try await store.insert(Job(id: id, upload: "uploads/\(id)", filename: "bench\(i).mp4", callbackURL: nil))
            guard let job = try await store.claim(worker: "bench", lease: 30) else { throw ValidationError("no claim") }
            for beat in 0..<beats {
                _ = try await store.heartbeat(id, attempt: job.attempts, framesDone: beat, lease: 30)
            }
            _ = try await store.finish(
                id, attempt: job.attempts, state: .succeeded, framesDone: beats, result: Data(), error: nil)
        }
        let cost = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(rounds)
        _ = try await store.expire(before: Date().addingTimeInterval(60))
        return cost
    }

    static func waitReady(_ port: Int) async throws {
        for _ in 0..<600 {
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5))
            if response?.status.code == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValidationError("a worker never became ready")
    }
}
