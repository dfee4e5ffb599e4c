import ArgumentParser
import Foundation
import GuardrailEngine
import Server

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "A video job worker of a cluster: pulls jobs from the PostgreSQL queue, scans, records results.",
        discussion: """
            Claims queued jobs (SELECT … FOR UPDATE SKIP LOCKED), holds each with a lease it renews while \
            scanning, and records the result once (a result from an attempt that lost its lease is dropped). \
            A job whose worker dies is claimed again when its lease runs out, up to --max-attempts, then it is \
            dead with the last error. Idle workers wake on NOTIFY and poll every second. The uploads are read \
            from DATA_DIR, which must be the API nodes' data dir (a shared volume). Answers /healthz, /readyz \
            and /metrics on --port. SIGTERM: no new jobs; running ones finish for --shutdown-grace.
            """
    )

    @OptionGroup var scan: ScanModelOptions

    @OptionGroup var queue: JobQueueOptions

    @Option(help: "The data dir the API nodes store uploads in (a shared volume).")
    var dataDir = "guardrail-data"

    @Option(help: "Jobs scanned at once; they share one loaded model.")
    var workers = 1

    @Option(help: "Address for /healthz, /readyz and /metrics.")
    var host = "127.0.0.1"

    @Option(help: "Port for /healthz, /readyz and /metrics (0: any free port).")
    var port = 9090

    @Option(help: "Seconds running jobs get to finish after SIGTERM.")
    var shutdownGrace = 30.0

    func validate() throws {
        guard queue.jobsDb != nil else { throw ValidationError("a worker needs --jobs-db postgres://…") }
        try OptionBounds.check(workers, "--workers", OptionBounds.workers)
        try OptionBounds.check(shutdownGrace, "--shutdown-grace", OptionBounds.secondsOrNone)
        guard (0...65535).contains(port) else { throw ValidationError("--port is 0 to 65535") }
    }

    func run() async throws {
        var configuration = ServerConfiguration(dataDir: dataDir)
        configuration.host = host
        configuration.port = port
        configuration.workers = workers
        queue.apply(to: &configuration)
        configuration.videoWorkers = workers
        configuration.serveAPI = false
        configuration.housekeeping = false
        configuration.shutdownGrace = shutdownGrace
        let (scan, host, settings) = (scan, host, try scan.settings(workers: workers))
        try await queue.run(configuration, banner: "worker listening on http://\(host):") {
            Moderator(classifier: try scan.engine(settings), sanitizer: nil, modelName: scan.modelName)
        }
    }
}
