import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `guardrail serve`: the HTTP API over one loaded model, with durable video jobs.
///
/// ```swift
/// let server = try await GuardrailServer(configuration: configuration)
/// try await server.run { try loadModerator() }
/// ```
public final class GuardrailServer: Sendable {
    public let configuration: ServerConfiguration
    let state: ServerState

    /// Opens the data dir and its job store: `store` when given, else the jobs database the
    /// configuration names, else the SQLite file in the data dir, whose jobs a previous run left
    /// running are queued again (with a shared database, other nodes' running jobs are alive: only
    /// an expired lease queues them again).
    public init(configuration: ServerConfiguration, store: (any JobStore)? = nil, logger: Logger? = nil) async throws {
        self.configuration = configuration
        let fm = FileManager.default
        for folder in [configuration.dataDir, configuration.uploads, configuration.temporary] {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        var log = logger ?? Logger(label: configuration.serveAPI ? "guardrail.serve" : "guardrail.worker")
        if logger == nil { log.logLevel = .info }
        let alone = store == nil && configuration.jobsDatabase == nil
        let jobs: any JobStore
        if let store {
            jobs = store
        } else if let url = configuration.jobsDatabase {
            jobs = try await PostgresJobStore(url: url, logger: log)
        } else {
            jobs = try SQLiteJobStore(path: configuration.database)
        }
        state = try ServerState(configuration: configuration, store: jobs, metrics: ServerMetrics(), logger: log)
        // Temporary images of requests a previous run was answering (when the folder may be another
        // node's on the same host too, only those older than any request can be).
        removeFiles(in: configuration.temporary, modifiedBefore: Date().addingTimeInterval(alone ? 0 : -3600))
        if alone {
            let requeued = try await jobs.requeueRunning()
            if requeued > 0 { log.info("queued again \(requeued) job(s) a previous run left unfinished") }
        }
        if configuration.housekeeping { await state.expire(orphanAge: alone ? 0 : 3600) }
    }

    /// Marks the models loaded: requests needing them are served from now on.
    public func ready(_ moderator: Moderator) { state.models.set(moderator) }

    /// The HTTP application with the job workers, callbacks and retention sweep as its service
    /// (HummingbirdTesting runs both).
    public func application(onListening: @escaping @Sendable (Int) -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            responder: OuterResponder(
                inner: (configuration.serveAPI ? Routes.router(state) : Routes.operationsRouter(state))
                    .buildResponder(),
                metrics: state.metrics),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "guardrail"),
            services: [VideoJobs(state: state)],
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: state.logger)
    }

    /// Serves until SIGTERM or SIGINT: loads the models with `load` in the background (`/readyz`
    /// says when), then stops taking work, lets running jobs finish for the shutdown grace, and
    /// returns; jobs still running then are queued again at the next start.
    public func run(
        onListening: @escaping @Sendable (Int) -> Void = { _ in }, load: @escaping @Sendable () throws -> Moderator
    )
        async throws
    {
        let state = self.state
        let loader = Task.detached {
            do {
                state.models.set(try load())
                state.logger.info("ready")
            } catch {
                state.models.fail("\(error)")
                state.logger.error("the model failed to load: \(error)")
            }
        }
        // The application runs its own services (the job workers) beside the HTTP server.
        var group = ServiceGroupConfiguration(services: [application(onListening: onListening)], logger: state.logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGrace)
        try await ServiceGroup(configuration: group).run()
        loader.cancel()
    }
}

/// Wraps the router: request ids, logs and metrics for every request (unmatched ones too), and
/// every error in the API's `{"error": …}` shape.
struct OuterResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
    let inner: Inner
    let metrics: ServerMetrics

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let log = RequestLogMiddleware<BasicRequestContext>(metrics: metrics)
        let errors = APIErrorMiddleware<BasicRequestContext>()
        return try await log.handle(request, context: context) { request, context in
            try await errors.handle(request, context: context) { request, context in
                let response = try await inner.respond(to: request, context: context)
                // The router answers an unknown path with an empty 404 of its own.
                guard response.status == .notFound, response.headers[.contentType] == nil else { return response }
                throw APIError.notFound("no route \(request.method.rawValue) \(request.uri.path)")
            }
        }
    }
}
