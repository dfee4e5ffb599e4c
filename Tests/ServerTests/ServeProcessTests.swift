import AsyncHTTPClient
import Compute
import Crypto
import Foundation
import GuardrailCore
import GuardrailEngine
import Hummingbird
import Media
import NIOCore
import Server
import TestSupport
import Testing
import Vision

/// Records the callbacks it receives; answers the first with 503 so the server has to retry.
actor CallbackReceiver {
    struct Call {
        var body: [UInt8]
        var signature: String
        var status: Int
    }

    private(set) var calls: [Call] = []

    func receive(body: [UInt8], signature: String) -> Int {
        let status = calls.isEmpty ? 503 : 200
        calls.append(Call(body: body, signature: signature, status: status))
        return status
    }

    /// The job ids of the accepted (2xx) deliveries.
    var delivered: [String] {
        calls.filter { $0.status == 200 }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any])?["id"] as? String
        }
    }
}

/// The real `guardrail serve` on a loopback port: a video job to completion, a second one killed
/// with SIGKILL mid-scan and finished exactly once after a restart, signed callbacks with a retry,
/// bearer tokens, and a graceful SIGTERM.
@Suite(.serialized) struct ServeProcessTests {
    static let secret = "callback-secret-for-tests-0123456789"
    static let token = "process-test-token"

    @Test func signatures() {
        let body = Array(#"{"id":"x"}"#.utf8)
        let header = CallbackSignature.sign(body, secret: Array(Self.secret.utf8), timestamp: 1_700_000_000)
        // Independently: HMAC-SHA256 over "<t>.<body>", hex.
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("1700000000.".utf8) + body, using: SymmetricKey(data: Array(Self.secret.utf8)))
        #expect(header == "t=1700000000,v1=" + mac.map { String(format: "%02x", $0) }.joined())
        let secret = Array(Self.secret.utf8)
        #expect(CallbackSignature.verify(header, body: body, secret: secret, now: 1_700_000_100))
        #expect(!CallbackSignature.verify(header, body: body + [0x20], secret: secret, now: 1_700_000_100))
        #expect(!CallbackSignature.verify(header, body: body, secret: Array("other".utf8), now: 1_700_000_100))
        #expect(!CallbackSignature.verify(header, body: body, secret: secret, now: 1_700_001_000))
        #expect(!CallbackSignature.verify("t=1700000000", body: body, secret: secret, now: 1_700_000_000))
    }

    final class Server: @unchecked Sendable {
        let process = Process()
        let port: Int

        init(_ arguments: [String], command: String = "serve") throws {
            process.executableURL = URL(fileURLWithPath: Fixtures.guardrailExecutable)
            process.arguments = [command] + arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            var text = ""
            let deadline = Date().addingTimeInterval(60)
            while !text.contains("\n"), Date() < deadline {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            guard
                let line = text.split(separator: "\n").first(where: { $0.contains("listening on http://127.0.0.1:") }),
                let port = Int(line.split(separator: ":").last ?? "")
            else {
                process.terminate()
                throw VisionLikeError("the server did not say where it listens: \(text)")
            }
            self.port = port
        }

        func kill(_ signal: Int32) -> Int32 {
            Foundation.kill(process.processIdentifier, signal)
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    struct VisionLikeError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Requests to a server process, with its bearer token.
    struct ServeClient {
        let token: String

        func call(_ port: Int, _ method: String, _ path: String, body: [UInt8]? = nil, token: String?? = .none)
            async throws -> (Int, [String: Any])
        {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method == "POST" ? .POST : .GET
            if let bearer = token ?? self.token {
                request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
            }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let data = try await response.body.collect(upTo: 1 << 26)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any]) ?? [:]
            return (Int(response.status.code), object)
        }

        func poll(_ port: Int, _ id: String, until done: ([String: Any]) -> Bool) async throws -> [String: Any] {
            for _ in 0..<3000 {
                let (_, job) = try await call(port, "GET", "/v1/videos/\(id)")
                if done(job) { return job }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw VisionLikeError("job \(id) never got there")
        }

        /// Uploads `body` to `path` until a job is seen running with progress, and returns it with the
        /// jobs that ended before they were seen so (other suites' scans can keep this process from
        /// polling for seconds, long enough for a job to end).
        func uploadUntilRunning(_ port: Int, path: String = "/v1/videos", body: [UInt8]) async throws
            -> (running: String, ended: [String])
        {
            var ended: [String] = []
            for _ in 0..<5 {
                let (_, job) = try await call(port, "POST", path, body: body)
                let id = try #require(job["id"] as? String)
                if try await pollUntilProgress(port, id)["status"] as? String == "running" { return (id, ended) }
                ended.append(id)
            }
            throw VisionLikeError("every job ended before it was seen running: \(ended)")
        }

        /// Polls until the job has made progress (or ended, which the caller then sees).
        func pollUntilProgress(_ port: Int, _ id: String) async throws -> [String: Any] {
            try await poll(port, id) {
                ($0["progress"] as? [String: Any])?["frames_done"] as? Int ?? 0 > 0
                    || !["queued", "running"].contains($0["status"] as? String ?? "")
            }
        }
    }

    static let long = Fixtures.path("server/long1080.mp4")

    /// The model and scan options, as `serve` and `worker` take them.
    static let scanning = [
        "--model", Fixtures.path("models/clip-b16-tiny"), "--policy", Fixtures.path("policies/test-policies.json"),
        "--every", "0.01s", "--max-frames", "1000", "--threads", "1", "--no-detector",
    ]

    static func arguments(_ folder: String) -> [String] {
        ["--port", "0", "--data-dir", folder + "/data", "--text-encoder", "none"] + scanning
    }

    /// A cluster on one PostgreSQL queue: an API node and a worker; the worker is killed with
    /// SIGKILL mid-job, and a second worker finishes the job once its lease has expired.
    @Test func clusterWorkerKilledMidJobIsFinishedByAnother() async throws {
        guard let url = try await JobStoreTests.database() else { return }
        let folder = NSTemporaryDirectory() + "guardrail-cluster-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let shared = ["--port", "0", "--data-dir", folder + "/data", "--jobs-db", url]
        let api = try Server(shared + ["--text-encoder", "none"] + Self.scanning)
        let worker = ["--lease", "5"] + shared + Self.scanning
        let first = try Server(worker, command: "worker")
        let http = ServeClient(token: "")
        let long = Array(try Data(contentsOf: URL(fileURLWithPath: Self.long)))
        let id = try await http.uploadUntilRunning(api.port, body: long).running
        #expect(first.kill(SIGKILL) == SIGKILL)
        let second = try Server(worker, command: "worker")
        let done = try await http.poll(api.port, id) { $0["status"] as? String == "succeeded" }
        #expect(done["attempts"] as? Int == 2)
        let frames = ((done["result"] as? [String: Any])?["video"] as? [String: Any])?["frames_sampled"] as? [Any]
        #expect(frames?.count == (done["progress"] as? [String: Any])?["frames_done"] as? Int)
        // The second worker found the lease expired, and says so in its metrics.
        let metrics = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(second.port)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        #expect(text.contains("guardrail_job_lease_expiries_total 1"))
        // The API node does not scan jobs itself, and both stop gracefully.
        #expect(second.kill(SIGTERM) == 0)
        #expect(api.kill(SIGTERM) == 0)
    }

    /// SIGTERM while a job runs and the grace is short: the server stops at once, exit status 0,
    /// and the job runs again, whole, at the next start.
    @Test func gracefulShutdownLeavesTheJobForTheNextStart() async throws {
        let folder = NSTemporaryDirectory() + "guardrail-serve-term-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let arguments = Self.arguments(folder) + ["--shutdown-grace", "0.2"]
        let http = ServeClient(token: "")
        let first = try Server(arguments)
        let long = Array(try Data(contentsOf: URL(fileURLWithPath: Self.long)))
        let id = try await http.uploadUntilRunning(first.port, body: long).running
        let start = Date()
        #expect(first.kill(SIGTERM) == 0)
        #expect(Date().timeIntervalSince(start) < 5)
        let second = try Server(arguments)
        let done = try await http.poll(second.port, id) { $0["status"] as? String == "succeeded" }
        #expect(done["attempts"] as? Int == 2)
        #expect(second.kill(SIGTERM) == 0)
    }

    @Test func jobsSurviveSIGKILL() async throws {
        let folder = NSTemporaryDirectory() + "guardrail-serve-e2e-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.secret.write(toFile: folder + "/secret", atomically: true, encoding: .utf8)
        try (Self.token + "\n").write(toFile: folder + "/tokens", atomically: true, encoding: .utf8)

        // The callback receiver: a Hummingbird server of the test's own on loopback.
        let receiver = CallbackReceiver()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 24)
            let status = await receiver.receive(
                body: Array(buffer: body), signature: request.headers[.init(CallbackSignature.header)!] ?? "")
            return Response(status: .init(code: status))
        }
        let listening = AsyncStream<Int>.makeStream()
        let hook = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { listening.continuation.yield($0.localAddress?.port ?? 0) })
        let hookTask = Task { try await hook.runService() }
        defer { hookTask.cancel() }
        var ports = listening.stream.makeAsyncIterator()
        let hookPort = try #require(await ports.next())

        let arguments =
            Self.arguments(folder) + [
                "--callback-allow", "127.0.0.1:\(hookPort)", "--callback-secret-file", folder + "/secret",
                "--auth-token-file", folder + "/tokens",
            ]
        let http = ServeClient(token: Self.token)
        let callback = "?callback_url=http://127.0.0.1:\(hookPort)/hook"
        let short = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/h264_bframes.mp4"))))
        let long = Array(try Data(contentsOf: URL(fileURLWithPath: Self.long)))

        let first = try Server(arguments)
        #expect(try await http.call(first.port, "GET", "/metrics", token: .some(nil)).0 == 401)
        let (status1, job1) = try await http.call(
            first.port, "POST", "/v1/videos\(callback)&filename=short.mp4", body: short)
        #expect(status1 == 202)
        let id1 = try #require(job1["id"] as? String)
        let done1 = try await http.poll(first.port, id1) { $0["status"] as? String == "succeeded" }
        #expect(done1["attempts"] as? Int == 1)
        // Its callback is retried after the receiver's 503 and delivered before the kill below (a
        // crash between a POST and its record would send it again: webhooks are at least once).
        _ = try await http.poll(first.port, id1) {
            ($0["callback"] as? [String: Any])?["state"] as? String == "delivered"
        }

        // The second job is killed once it has made progress (jobs that end first are checked too).
        let (id2, ended) = try await http.uploadUntilRunning(
            first.port, path: "/v1/videos\(callback)&filename=long.mp4", body: long)
        #expect(first.kill(SIGKILL) == SIGKILL)

        let second = try Server(arguments)
        let done2 = try await http.poll(second.port, id2) { $0["status"] as? String == "succeeded" }
        #expect(done2["attempts"] as? Int == 2)
        // The first job is untouched by the restart.
        let (_, again1) = try await http.call(second.port, "GET", "/v1/videos/\(id1)")
        #expect(again1["attempts"] as? Int == 1)
        #expect(
            NSDictionary(dictionary: again1["result"] as? [String: Any] ?? [:])
                == NSDictionary(dictionary: done1["result"] as? [String: Any] ?? [:]))

        // The result is the library's scan of the same file with the same settings.
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: .every(seconds: 0.01), maxFrames: 1000)
        // As the server's --threads 1: OpenBLAS's sums depend on the thread count.
        settings.compute = ComputeConfiguration(threads: 1)
        let engine = try GuardrailEngine(
            model: Fixtures.path("models/clip-b16-tiny"), policies: Fixtures.path("policies/test-policies.json"),
            settings: settings, cache: nil)
        let report = try engine.scan(path: Self.long).get()
        let result = try #require(done2["result"] as? [String: Any])
        let frames = (result["video"] as? [String: Any])?["frames_sampled"] as? [Any]
        #expect(frames?.count == report.media.framesSampled.count)
        let scores = try #require(result["category_scores"] as? [String: Any])
        for (name, score) in report.categoryScores {
            let served = (scores[name] as? NSNumber)?.floatValue
            #expect(served == score, "\(name)")
        }

        // Each job's callback arrives exactly once (the first after a retry), signed.
        _ = try await http.poll(second.port, id2) {
            ($0["callback"] as? [String: Any])?["state"] as? String == "delivered"
        }
        for id in ended {
            _ = try await http.poll(second.port, id) {
                ($0["callback"] as? [String: Any])?["state"] as? String == "delivered"
            }
        }
        try await Task.sleep(for: .seconds(1))
        let delivered = await receiver.delivered
        #expect(delivered.sorted() == ([id1, id2] + ended).sorted(), "\(delivered)")
        let calls = await receiver.calls
        #expect(calls.first?.status == 503)
        for call in calls {
            #expect(
                CallbackSignature.verify(
                    call.signature, body: call.body, secret: Array(Self.secret.utf8),
                    now: Int(Date().timeIntervalSince1970)))
            let document = try JSONSerialization.jsonObject(with: Data(call.body)) as? [String: Any]
            #expect(document?["status"] as? String == "succeeded")
        }
        // SIGTERM: a graceful stop.
        #expect(second.kill(SIGTERM) == 0)
    }
}
