import Foundation
import GuardrailCore
import GuardrailEngine
import Hummingbird
import HummingbirdTesting
import Sanitizer
import Server
import TestSupport
import Testing
import Vision

/// A server on the tiny test CLIP model in a fresh data dir, and a client that checks every JSON
/// response against `openapi.yaml`.
struct ServerHarness {
    static let model = Fixtures.path("models/clip-b16-tiny")
    static let policies = Fixtures.path("policies/test-policies.json")

    /// One engine and sanitizer for every test (loading is the slow part; they are read-only).
    static let moderator: Moderator = {
        let engine = try! GuardrailEngine(model: model, policies: policies, settings: ScanSettings(), cache: nil)
        let concepts = try! ConceptSet.load("nudity", folder: PolicyPacks.concepts)
        let sanitizer = try! PromptSanitizer(
            bundle: ModelBundle(model), concepts: concepts, settings: SAFREESettings(conceptSet: concepts.name),
            compute: .default, cache: nil)
        return Moderator(classifier: engine, sanitizer: sanitizer, modelName: "clip-b16-tiny")
    }()

    static let validator = SchemaValidator(document: try! OpenAPIDocument.object() as! [String: Any])

    let configuration: ServerConfiguration
    let server: GuardrailServer

    init(ready: Bool = true, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        var configuration = ServerConfiguration(
            dataDir: NSTemporaryDirectory() + "guardrail-serve-\(UInt32.random(in: 0...UInt32.max))")
        configuration.port = 0
        adjust(&configuration)
        self.configuration = configuration
        server = try await GuardrailServer(configuration: configuration)
        if ready { server.ready(Self.moderator) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: configuration.dataDir) }

    /// Runs `body` against the router (no sockets), then removes the data dir.
    func test(_ body: @Sendable (Client) async throws -> Void) async throws {
        defer { remove() }
        try await server.application().test(.router) { client in try await body(Client(client: client)) }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        /// Sends a request; the response must match the document's schema for `route` (the path
        /// template), its method and status, when the body is JSON.
        @discardableResult
        func send(
            _ method: HTTPRequest.Method, _ uri: String, route: String? = nil, headers: HTTPFields = [:],
            body: [UInt8]? = nil, expectRejection: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> (status: Int, headers: HTTPFields, body: [UInt8], json: Any?) {
            let path = route ?? String(uri.split(separator: "?").first ?? "")
            if let body, headers[.contentType] == nil || headers[.contentType] == "application/json",
                let sent = try? JSONSerialization.jsonObject(with: Data(body)),
                let schema = ServerHarness.validator.requestSchema(path: path, method: method.rawValue)
            {
                // Requests too are held to the document (a test sending what it does not allow is wrong).
                #expect(
                    ServerHarness.validator.errors(sent, schema).isEmpty || expectRejection,
                    "request to \(path) breaks the document: \(ServerHarness.validator.errors(sent, schema))",
                    sourceLocation: sourceLocation)
            }
            let response = try await client.execute(
                uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
            let bytes = Array(buffer: response.body)
            let status = Int(response.status.code)
            var json: Any?
            if response.headers[.contentType] == "application/json" {
                json = try JSONSerialization.jsonObject(with: Data(bytes))
                let schema = ServerHarness.validator.responseSchema(path: path, method: method.rawValue, status: status)
                #expect(schema != nil, "no schema for \(method) \(path) \(status)", sourceLocation: sourceLocation)
                if let schema {
                    let problems = ServerHarness.validator.errors(json!, schema)
                    #expect(
                        problems.isEmpty, "\(method) \(path) \(status): \(problems)", sourceLocation: sourceLocation)
                }
            }
            return (status, response.headers, bytes, json)
        }
    }

    static func fixture(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(path))))
    }
}
