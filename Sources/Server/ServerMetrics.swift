import Foundation
import GuardrailEngine
import Hummingbird
import Prometheus

/// A node's Prometheus metrics (`GET /metrics`): requests by route and status, latency
/// histograms, queue depth and jobs by state, lease expiries, retries, job latency, frames decoded
/// and encoded, flags per policy.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let frameDecoded: Counter
    private let frameEncoded: Counter
    let queueDepth: Gauge
    let scansWaiting: Gauge
    let jobsRunning: Gauge
    let leaseExpiries: Counter
    let retries: Counter
    let jobLatency: DurationHistogram

    public init() {
        frameDecoded = registry.makeCounter(
            name: "guardrail_frames_decoded_total", help: "Frames decoded (sampled, and corrupt ones skipped).")
        frameEncoded = registry.makeCounter(
            name: "guardrail_frames_encoded_total", help: "Frames run through the vision model.")
        queueDepth = registry.makeGauge(name: "guardrail_video_jobs_queued", help: "Video jobs waiting for a worker.")
        scansWaiting = registry.makeGauge(
            name: "guardrail_scans_waiting", help: "Synchronous scans waiting for a worker.")
        jobsRunning = registry.makeGauge(name: "guardrail_scans_running", help: "Scans running now.")
        leaseExpiries = registry.makeCounter(
            name: "guardrail_job_lease_expiries_total",
            help: "Running jobs whose worker stopped renewing the lease, found by this node.")
        retries = registry.makeCounter(
            name: "guardrail_job_retries_total", help: "Attempts that failed transiently and were queued again.")
        jobLatency = registry.makeDurationHistogram(
            name: "guardrail_job_duration_seconds",
            buckets: [.seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(1800)],
            help: "From upload to recorded result, for jobs this node finished.")
    }

    /// The store's jobs by state (the queue depth among them).
    func jobs(_ counts: [JobState: Int]) {
        queueDepth.set(Double(counts[.queued] ?? 0))
        for state in JobState.allCases {
            registry.makeGauge(
                name: "guardrail_video_jobs", labels: [("state", state.rawValue)], help: "Stored video jobs by state."
            ).set(Double(counts[state] ?? 0))
        }
    }

    func request(route: String, method: String, status: Int, seconds: Double) {
        registry.makeCounter(
            name: "guardrail_http_requests_total",
            labels: [("route", route), ("method", method), ("status", String(status))],
            help: "HTTP requests by route, method and status."
        ).increment()
        registry.makeDurationHistogram(
            name: "guardrail_http_request_duration_seconds", labels: [("route", route)],
            buckets: [
                .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(10), .seconds(60),
            ],
            help: "Request latency by route."
        ).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Counts a finished scan's frames and flagged policies.
    func scanned(_ report: ScanReport) {
        frameEncoded.increment(by: Int64(report.media.framesSampled.count))
        frameDecoded.increment(by: Int64(report.media.framesSampled.count + report.media.framesSkipped))
        for policy in report.policies where policy.verdict == true {
            registry.makeCounter(
                name: "guardrail_flags_total", labels: [("policy", policy.name)], help: "Flagged verdicts by policy."
            ).increment()
        }
    }

    func text() -> String { registry.emitToString() }
}

/// Per request: a request id (`X-Request-Id`, the client's if it sent a sane one), a structured
/// log line (method, route, status, duration; never a body), and the request metrics.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    /// The route a path belongs to, for the metrics' labels (ids folded, so labels stay few).
    static func route(_ path: String) -> String {
        let fixed = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/moderations", "/v1/videos"]
        if fixed.contains(path) || path == "/v1/prompts:sanitize" { return path }
        if path.hasPrefix("/v1/videos/"), !path.dropFirst(11).contains("/") { return "/v1/videos/{id}" }
        return "unmatched"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let given = request.headers[.init("X-Request-Id")!]
        let id =
            given.flatMap { $0.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } ? $0 : nil }
            ?? UUID().uuidString.lowercased()
        var context = context
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
        response.headers[.init("X-Request-Id")!] = id
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let route = Self.route(request.uri.path)
        metrics.request(
            route: route, method: request.method.rawValue, status: Int(response.status.code), seconds: seconds)
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue), "route": .string(route),
                "status": .stringConvertible(response.status.code),
                "ms": .string(String(format: "%.1f", seconds * 1000)),
            ])
        return response
    }
}

/// Bearer tokens, when the server has any: every route but the health checks needs
/// `Authorization: Bearer <token>`, compared in constant time.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [[UInt8]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        guard !tokens.isEmpty, path != "/healthz", path != "/readyz" else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? Array(header.dropFirst(7).utf8) : []
        // Every token is compared, so the time does not tell which one came close.
        var accepted = false
        for token in tokens where constantTimeEqual(token, given) { accepted = true }
        guard accepted, !given.isEmpty else {
            throw APIError(.unauthorized, "unauthorized", "a valid bearer token is required")
        }
        return try await next(request, context)
    }
}
