import Foundation
import GuardrailCore
import GuardrailEngine
import Hummingbird
import Media
import Sanitizer

/// The HTTP API (documented in `openapi.yaml`).
enum Routes {
    static func router(_ state: ServerState) -> Router<BasicRequestContext> {
        let router = operationsRouter(state)
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: state.openAPI)))
        }
        router.post("/v1/moderations") { request, _ in try await moderate(request, state) }
        router.post("/v1/videos") { request, _ in try await upload(request, state) }
        router.get("/v1/videos/{id}") { _, context in
            let id = try jobID(context)
            guard let job = try await state.store.job(id) else { throw APIError.notFound("no video job \(id)") }
            return try json(JobDocument.object(job))
        }
        router.delete("/v1/videos/{id}") { _, context in
            let id = try jobID(context)
            guard var job = try await state.store.cancel(id) else { throw APIError.notFound("no video job \(id)") }
            try? FileManager.default.removeItem(atPath: state.configuration.file(job.upload))
            if !job.state.isFinal { job.state = .cancelled }
            return try json(JobDocument.object(job))
        }
        router.post("/v1/prompts:sanitize") { request, _ in try await sanitize(request, state) }
        return router
    }

    /// What every node (API server or worker) answers, behind the bearer tokens: `/healthz`,
    /// `/readyz` and `/metrics`; a worker answers nothing else.
    static func operationsRouter(_ state: ServerState) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: BearerAuthMiddleware(tokens: state.configuration.authTokens.map { Array($0.utf8) }))
        router.get("/healthz") { _, _ in try json(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let moderator = try state.models.ready()
            return try json([
                "status": "ready", "model": moderator.modelName, "sanitizer": moderator.sanitizer != nil,
            ])
        }
        router.get("/metrics") { _, _ in
            let load = await state.slots.load
            state.metrics.scansWaiting.set(Double(load.waiting))
            state.metrics.jobsRunning.set(Double(load.running))
            if let counts = try? await state.store.counts() { state.metrics.jobs(counts) }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: state.metrics.text())))
        }
        return router
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return jsonResponse(data, status: status, headers: headers)
    }

    /// `value` as JSON, encoded as reports are (sorted keys), without a detour through `Any`.
    static func json<T: Encodable>(encoding value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        jsonResponse(try JSONText.compactData(value), status: status, headers: [:])
    }

    private static func jsonResponse(_ data: Data, status: HTTPResponse.Status, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Job ids are UUIDs; anything else cannot name a job (and never reaches a file name).
    static func jobID(_ context: BasicRequestContext) throws(APIError) -> String {
        guard let id = context.parameters.get("id"), let uuid = UUID(uuidString: id) else {
            throw .notFound("no video job \(context.parameters.get("id") ?? "")")
        }
        return uuid.uuidString.lowercased()
    }

    /// The whole body, refused with `413` past the limit (by its declared length before reading).
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.tooLarge(limit)
        }
        var buffer = ByteBuffer()
        for try await var chunk in request.body {
            guard buffer.readableBytes + chunk.readableBytes <= limit else { throw APIError.tooLarge(limit) }
            buffer.writeBuffer(&chunk)
        }
        return buffer
    }

    /// Streams the body into a new file at `path` (never whole in memory), synced to disk; a body
    /// past the limit or a failed write leaves no file.
    static func stream(_ request: Request, to path: String, limit: Int) async throws {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.tooLarge(limit)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw APIError(.internalServerError, "internal", "cannot store the upload") }
        var complete = false
        defer {
            close(fd)
            if !complete { unlink(path) }
        }
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            guard total <= limit else { throw APIError.tooLarge(limit) }
            try chunk.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else {
                        throw APIError(.internalServerError, "internal", "cannot store the upload: disk full?")
                    }
                    offset += written
                }
            }
        }
        guard total > 0 else { throw APIError.invalid("the request body is empty") }
        guard fsync(fd) == 0 else { throw APIError(.internalServerError, "internal", "cannot sync the upload") }
        complete = true
    }

    /// An engine failure on a client's file, without server paths.
    static func clientError(_ error: any Error, path: String, name: String) -> APIError {
        if let api = error as? APIError { return api }
        let engine = EngineError(wrapping: error, file: name)
        let message = engine.message.replacingOccurrences(of: path, with: name)
        switch engine.kind {
        case .media, .input: return APIError(.unprocessableContent, "unsupported_media", "\(name): \(message)")
        default: return APIError(.internalServerError, "internal", "\(name): \(message)")
        }
    }

    static func moderate(_ request: Request, _ state: ServerState) async throws -> Response {
        let moderator = try state.models.ready()
        let body = try await collect(request, limit: state.configuration.maxBody)
        let items = try ModerationInput.parse(body, contentType: request.headers[.contentType])
        let deadline = Duration.seconds(state.configuration.requestTimeout)
        var results: [ModerationResult] = []
        for (index, item) in items.enumerated() {
            let path = state.configuration.temporary + "/" + UUID().uuidString
            do {
                guard FileManager.default.createFile(atPath: path, contents: Data(item.bytes)) else {
                    throw APIError(.internalServerError, "internal", "cannot store the image")
                }
                defer { try? FileManager.default.removeItem(atPath: path) }
                let report = try await state.slots.run(deadline: deadline) {
                    try moderator.scan(path: path, name: item.name)
                }
                state.metrics.scanned(report)
                results.append(.report(report))
            } catch {
                let failure = clientError(error, path: path, name: item.name)
                // One image: the request failed. Several: that item did, the others still count.
                guard items.count > 1, failure.type == "unsupported_media" else { throw failure }
                results.append(.failure(index: index, path: item.name, type: failure.type, message: failure.message))
            }
        }
        return try json(
            encoding: ModerationResponse(
                id: "modr-" + UUID().uuidString.lowercased(), model: moderator.modelName, results: results))
    }

    static func upload(_ request: Request, _ state: ServerState) async throws -> Response {
        let configuration = state.configuration
        let query = request.uri.queryParameters
        let callback = query.get("callback_url")
        if let callback { try state.callbackPolicy.check(callback) }
        guard try await state.store.queuedCount() < configuration.maxQueue else {
            throw APIError.queueFull("the video job")
        }
        let id = UUID().uuidString.lowercased()
        let filename = String((query.get("filename") ?? "upload").prefix(200))
        let stored = "uploads/" + id
        let final = configuration.file(stored)
        let part = final + ".part"
        try await stream(request, to: part, limit: configuration.maxBody)
        // Sniffed by content: what the decoders cannot open is refused now, not as a failed job.
        do {
            let source = try MediaSource(
                path: part, limits: state.models.moderator?.classifier.settings.limits ?? .default)
            _ = source.info
        } catch {
            unlink(part)
            throw clientError(error, path: part, name: filename)
        }
        guard rename(part, final) == 0 else {
            unlink(part)
            throw APIError(.internalServerError, "internal", "cannot store the upload")
        }
        let job = Job(id: id, upload: stored, filename: filename, callbackURL: callback)
        do {
            try await state.store.insert(job)
        } catch {
            unlink(final)
            throw error
        }
        return try json(JobDocument.object(job), status: .accepted, headers: [.location: "/v1/videos/\(id)"])
    }

    static func sanitize(_ request: Request, _ state: ServerState) async throws -> Response {
        let moderator = try state.models.ready()
        guard let sanitizer = moderator.sanitizer else {
            throw APIError(.notImplemented, "not_ready", "the server was started without a text encoder")
        }
        let body = try await collect(request, limit: 1 << 20)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object with \"prompt\" or \"prompts\"")
        }
        let prompts: [String]
        if let prompt = object["prompt"] as? String {
            prompts = [prompt]
        } else if let list = object["prompts"] as? [String], !list.isEmpty, list.count <= 64 {
            prompts = list
        } else {
            throw APIError.invalid("give \"prompt\": a string, or \"prompts\": a list of 1 to 64 strings")
        }
        guard prompts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 10_000 }) else {
            throw APIError.invalid("prompts must be non-empty and at most 10,000 bytes")
        }
        let half = object["half"] as? Bool ?? false
        let results = try await state.slots.run(deadline: .seconds(state.configuration.requestTimeout)) {
            try sanitizer.sanitize(prompts)
        }
        if (request.headers[.accept] ?? "").contains("application/octet-stream") {
            let bytes = try DiffusersEmbeddings.encode(results, sanitizer: sanitizer, half: half)
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        func base64(_ rows: [[Float]]) -> String {
            rows.flatMap { $0 }.withUnsafeBufferPointer { Data(buffer: $0) }.base64EncodedString()
        }
        let reports = try results.map { result -> Any in
            var report =
                try JSONSerialization.jsonObject(
                    with: JSONText.compactData(SanitizeReport(result, sanitizer: sanitizer)))
                as! [String: Any]
            report["embeddings"] = [
                "dtype": "float32", "shape": [result.original.count, result.original.first?.count ?? 0],
                "prompt_embeds": base64(result.result.sanitized), "original_prompt_embeds": base64(result.original),
                "negative_prompt_embeds": base64(sanitizer.negative),
            ]
            return report
        }
        return try json(["results": reports])
    }
}

/// The body of `POST /v1/moderations`: one result per item, in order.
struct ModerationResponse: Encodable {
    var id: String
    var model: String
    var results: [ModerationResult]
}

/// One item's result: its report, or (among several items) why it could not be scanned.
enum ModerationResult: Encodable {
    case report(ScanReport)
    case failure(index: Int, path: String, type: String, message: String)

    private enum Keys: String, CodingKey { case index, path, error, type, message }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .report(let report): try report.encode(to: encoder)
        case .failure(let index, let path, let type, let message):
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(index, forKey: .index)
            try container.encode(path, forKey: .path)
            var error = container.nestedContainer(keyedBy: Keys.self, forKey: .error)
            try error.encode(type, forKey: .type)
            try error.encode(message, forKey: .message)
        }
    }
}
