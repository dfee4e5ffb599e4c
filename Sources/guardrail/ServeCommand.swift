import ArgumentParser
import Compute
import Detector
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Sanitizer
import Server
import Vision

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The moderation service: an HTTP API for images, video jobs and prompts.",
        discussion: """
            POST /v1/moderations scans images synchronously (raw body, multipart form, or JSON with base64); \
            POST /v1/videos stores a video and queues a job (GET /v1/videos/ID for its status and result, an \
            optional signed callback_url, DELETE to cancel); POST /v1/prompts:sanitize runs SAFREE. Also \
            /healthz, /readyz, /metrics (Prometheus) and /openapi.json. Jobs are kept in DATA_DIR/jobs.sqlite and \
            survive a crash: unfinished ones run again at the next start. With --jobs-db postgres://… this is an \
            API node of a cluster: it queues jobs in PostgreSQL for `guardrail worker` processes (DATA_DIR on a \
            volume they share) and runs none itself unless --video-workers says. SIGTERM stops taking work, lets running \
            jobs finish for --shutdown-grace and leaves the queue for the next start. Prints "listening on \
            http://HOST:PORT" once it accepts connections (--port 0 picks a free port).
            """
    )

    @OptionGroup var scan: ScanModelOptions

    @OptionGroup var queue: JobQueueOptions

    @Option(help: "Video job workers in this process (default: --workers with the SQLite store, 0 with --jobs-db).")
    var videoWorkers: Int?

    @Option(help: "Address to bind (loopback by default; expose deliberately).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port).")
    var port = 8080

    @Option(
        help: ArgumentHelp(
            "Text encoder for /v1/prompts:sanitize (default: --model's text tower; 'none' to turn it off).",
            valueName: "path-or-id"))
    var textEncoder: String?

    @Option(help: "Concept set for sanitizing (default: the policy pack's, else nudity).")
    var concepts: String?

    @Option(help: "Uploads, the job database and temporary files.")
    var dataDir = "guardrail-data"

    @Option(help: "Scans running at once; they share one loaded model.")
    var workers = 1

    @Option(help: "Largest request body: 200MB, 1GiB, ….")
    var maxBody = "200MB"

    @Option(help: "Requests waiting for a worker, and queued video jobs, before answering 429.")
    var maxQueue = 64

    @Option(help: "A file of bearer tokens, one per line; without it no authentication is asked.")
    var authTokenFile: String?

    @Option(help: "A host (or host:port) callbacks may be sent to (repeatable); without any, callbacks are refused.")
    var callbackAllow: [String] = []

    @Option(help: "A file holding the secret callbacks are signed with (HMAC-SHA256); needed for callbacks.")
    var callbackSecretFile: String?

    @Option(help: "How long finished jobs, uploads and results are kept: 24h, 7d, 3600, ….")
    var retention = "24h"

    @Option(help: "Seconds a synchronous request may wait for a worker before 503.")
    var requestTimeout = 60.0

    @Option(help: "Seconds running jobs get to finish after SIGTERM.")
    var shutdownGrace = 30.0

    func validate() throws {
        try OptionBounds.check(workers, "--workers", OptionBounds.workers)
        try OptionBounds.check(videoWorkers, "--video-workers", 0...OptionBounds.workers.upperBound)
        try OptionBounds.check(maxQueue, "--max-queue", 0...1_000_000)
        try OptionBounds.check(requestTimeout, "--request-timeout", OptionBounds.seconds)
        try OptionBounds.check(shutdownGrace, "--shutdown-grace", OptionBounds.secondsOrNone)
        guard (0...65535).contains(port) else { throw ValidationError("--port is 0 to 65535") }
        guard parseByteSize(maxBody).map({ $0 > 0 }) == true else {
            throw ValidationError("--max-body takes a size such as 200MB, not '\(maxBody)'")
        }
        guard parseDuration(retention) != nil else {
            throw ValidationError("--retention takes a duration such as 24h or 7d, not '\(retention)'")
        }
        if !callbackAllow.isEmpty && callbackSecretFile == nil {
            throw ValidationError("--callback-allow needs --callback-secret-file (callbacks are always signed)")
        }
    }

    func run() async throws {
        var configuration = ServerConfiguration(dataDir: dataDir)
        configuration.host = host
        configuration.port = port
        configuration.workers = workers
        queue.apply(to: &configuration)
        configuration.videoWorkers = videoWorkers ?? (queue.jobsDb == nil ? workers : 0)
        configuration.maxBody = parseByteSize(maxBody)!
        configuration.maxQueue = maxQueue
        configuration.retention = parseDuration(retention)!
        configuration.requestTimeout = requestTimeout
        configuration.shutdownGrace = shutdownGrace
        configuration.callbackAllow = callbackAllow
        do throws(CoreError) {
            if let authTokenFile { try configuration.readAuthTokens(from: authTokenFile) }
            if let callbackSecretFile { try configuration.readCallbackSecret(from: callbackSecretFile) }
        } catch {
            Output.error(error.description)
            throw ExitCode(2)
        }
        let (scan, textEncoder, concepts) = (scan, textEncoder ?? scan.model, concepts)
        let (host, settings) = (configuration.host, try scan.settings(workers: workers))
        try await queue.run(configuration, banner: "listening on http://\(host):") {
            let engine = try scan.engine(settings)
            let sanitizer =
                textEncoder == "none"
                ? nil
                : try PromptSanitizer.load(
                    textEncoder: textEncoder, concepts: concepts, policy: scan.policy, alpha: 0.01,
                    projectEOS: false, compute: settings.compute, cache: scan.artifacts)
            return Moderator(classifier: engine, sanitizer: sanitizer, modelName: scan.modelName)
        }
    }
}

/// The model and scan options `serve` and `worker` share.
struct ScanModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CLIP model: folder or Hugging Face repo id (local cache).", valueName: "path-or-id"))
    var model = "openai/clip-vit-base-patch32"

    @Option(help: "Policy file or folder (default: the shipped UnsafeBench pack).")
    var policy: String?

    @OptionGroup var scanning: ScanSettingsOptions

    @Option(help: "Cache folder for model hashes and encoded policies (default ~/.cache/guardrail).")
    var cache: String?

    var artifacts: ArtifactCache { ArtifactCache(folder: cache ?? ArtifactCache.defaultFolder()) }
    var modelName: String { URL(fileURLWithPath: model).lastPathComponent }

    /// The scan settings for `workers` scans at once (one thread each unless --threads says).
    func settings(workers: Int) throws -> ScanSettings { try scanning.settings(concurrentScans: workers) }

    /// Loads the engine, printing its warnings.
    func engine(_ settings: ScanSettings) throws -> GuardrailEngine {
        let engine = try GuardrailEngine(
            model: model, policies: policy ?? PolicyPacks.unsafeBench, settings: settings, cache: artifacts)
        engine.thresholdWarnings.forEach(Output.error)
        if let warning = engine.detectorWarning { Output.error(warning) }
        return engine
    }
}

/// Where video jobs are queued: the data dir's SQLite file, or a shared PostgreSQL.
struct JobQueueOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A shared PostgreSQL job queue (postgres://user:password@host:port/db?sslmode=disable); default: DATA_DIR/jobs.sqlite.",
            valueName: "url"))
    var jobsDb: String?

    @Option(
        help: "Seconds a worker's claim on a job lasts without a heartbeat; a dead worker's job runs again after it.")
    var lease = 30.0

    @Option(help: "Attempts a job gets (claims, including after a dead worker) before it is dead-lettered.")
    var maxAttempts = 3

    func validate() throws {
        try OptionBounds.check(lease, "--lease", OptionBounds.seconds)
        try OptionBounds.check(maxAttempts, "--max-attempts", 1...1000)
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.jobsDatabase = jobsDb
        configuration.lease = lease
        configuration.maxAttempts = maxAttempts
    }

    /// Opens the node's job store (exit 2 with the reason when it cannot) and serves until SIGTERM,
    /// printing `banner` and the port once it accepts connections; `load` loads the models.
    func run(
        _ configuration: ServerConfiguration, banner: String, load: @escaping @Sendable () throws -> Moderator
    ) async throws {
        let server: GuardrailServer
        do {
            server = try await GuardrailServer(configuration: configuration)
        } catch {
            Output.error(
                "\(jobsDb.map(PostgresJobStore.redacted) ?? configuration.dataDir): cannot open the job store: \(error)"
            )
            throw ExitCode(2)
        }
        try await server.run(
            onListening: { port in FileHandle.standardOutput.write(Data("\(banner)\(port)\n".utf8)) }, load: load)
    }
}
