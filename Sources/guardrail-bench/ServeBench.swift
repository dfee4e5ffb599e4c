import ArgumentParser
import AsyncHTTPClient
import Compute
import Foundation
import GuardrailEngine
import Media
import NIOCore
import RepositoryFiles
import Vision

struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "POST /v1/moderations at concurrency 1, 4 and 32 against guardrail scan over the same images.",
        discussion: """
            Starts the release `guardrail serve` (beside this binary) on a loopback port with --model, sends \
            --requests raw image bodies per level from a bounded client, and prints requests/s, p50/p99 \
            latency, answers by status and the server's peak resident memory; the reference is the same \
            images scanned in this process by the engine as `guardrail scan --jobs WORKERS` runs them (same \
            threads per scan as the server), in the same run.
            """
    )

    @Option(help: "CLIP model folder; default: a full-size ViT-B/32 with random weights, written for the run.")
    var model: String?

    @Option(help: "Keep the random checkpoint in this folder (reused when it exists).")
    var checkpoint: String?

    @Option(help: "Images to post (default: the JPEG and PNG fixtures).")
    var images: String = Fixtures.path("images")

    @Option(help: "Requests per concurrency level.")
    var requests = 128

    @Option(help: "Concurrency levels, comma-separated.")
    var concurrency = "1,4,32"

    @Option(help: "The server's --workers.")
    var workers = 1

    @Option(help: "The server's --max-queue.")
    var maxQueue = 16

    func run() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: images).sorted()
            .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.map { images + "/" + $0 }
        let folder = NSTemporaryDirectory() + "guardrail-serve-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try benchmarkModel(self.model, checkpoint: checkpoint, folder: folder)
        var settings = ScanSettings()
        settings.detectorModel = nil
        settings.compute = ComputeConfiguration(threads: workers > 1 ? 1 : nil)  // as the server's default --threads
        let engine = try GuardrailEngine(
            model: model, policies: PolicyPacks.unsafeBench, settings: settings, cache: nil)
        let usable = files.filter { (try? engine.scan(path: $0).get()) != nil }
        guard !usable.isEmpty else { throw ValidationError("no image in \(images) scans") }
        let bodies = try usable.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        let order = (0..<requests).map { usable[$0 % usable.count] }
        let reference = time { engine.scan(files: order, jobs: workers) { _ in } }
        let referenceRate = Double(requests) / reference
        print(
            String(
                format: "guardrail scan --jobs %d (in process): %.1f images/s over %d images", workers, referenceRate,
                requests))

        let (server, port) = try launchGuardrail([
            "serve", "--port", "0", "--model", model, "--data-dir", folder + "/data", "--workers", String(workers),
            "--max-queue", String(maxQueue), "--text-encoder", "none", "--no-detector",
        ])
        defer { server.terminate() }
        let base = "http://127.0.0.1:\(port)"
        // One connection per lane: the default pool keeps 8 per host, which would cap the concurrency.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency.split(separator: ",").compactMap { Int($0) }.max()
                ?? 1)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await measure(client: client, base: base, bodies: bodies, server: server, referenceRate: referenceRate)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Waits for `/readyz`, then runs each concurrency level and prints its line.
    func measure(client: HTTPClient, base: String, bodies: [[UInt8]], server: Process, referenceRate: Double)
        async throws
    {
        while true {
            let ready = try? await client.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(5))
            if ready?.status.code == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("level  req/s   vs scan   p50 ms   p99 ms   statuses              server peak RSS")
        for level in concurrency.split(separator: ",").compactMap({ Int($0) }) {
            let results = Results()
            let start = DispatchTime.now().uptimeNanoseconds
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<level {
                    group.addTask {
                        var i = lane
                        while i < requests {
                            var request = HTTPClientRequest(url: base + "/v1/moderations")
                            request.method = .POST
                            request.body = .bytes(ByteBuffer(bytes: bodies[i % bodies.count]))
                            let sent = DispatchTime.now().uptimeNanoseconds
                            var status = 0
                            if let response = try? await client.execute(request, timeout: .seconds(120)) {
                                status = Int(response.status.code)
                                _ = try? await response.body.collect(upTo: 1 << 24)
                            }
                            await results.add(
                                status: status, seconds: Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e9)
                            i += level
                        }
                    }
                }
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let (latencies, statuses) = await (results.latencies.sorted(), results.statuses)
            let ok = statuses[200] ?? 0
            func percentile(_ p: Double) -> Double {
                latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000
            }
            let rate = Double(ok) / elapsed
            let counts = statuses.keys.sorted().map { "\($0)×\(statuses[$0]!)" }.joined(separator: " ")
            print(
                String(
                    format: "%5d  %6.1f  %6.2fx  %7.1f  %7.1f   %-20@  %.0f MB", level, rate, rate / referenceRate,
                    percentile(0.5), percentile(0.99), counts as NSString, Self.peakRSS(server.processIdentifier)))
        }
    }

    /// The process's peak resident set (VmHWM), in MB.
    static func peakRSS(_ pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}

/// Latencies and status counts of the requests of one level.
actor Results {
    private(set) var latencies: [Double] = []
    private(set) var statuses: [Int: Int] = [:]

    func add(status: Int, seconds: Double) {
        latencies.append(seconds)
        statuses[status, default: 0] += 1
    }
}
