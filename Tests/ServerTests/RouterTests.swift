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

/// Every endpoint and error through the router, without sockets; every JSON answer is checked
/// against `openapi.yaml` by the harness.
@Suite struct RouterTests {
    static let png = "images/rgb8.png"

    /// What `guardrail scan` (the library) reports for a fixture, as JSON.
    static func scanned(_ fixture: String, name: String) throws -> [String: Any] {
        var report = try ServerHarness.moderator.classifier.scan(path: Fixtures.path(fixture)).get()
        report.path = name
        report.media.path = name
        return try JSONSerialization.jsonObject(with: JSONText.compactData(report)) as! [String: Any]
    }

    @Test func healthReadinessAndDocument() async throws {
        let harness = try await ServerHarness(ready: false)
        try await harness.test { client in
            #expect(try await client.send(.get, "/healthz").status == 200)
            let loading = try await client.send(.get, "/readyz")
            #expect(loading.status == 503)
            #expect(loading.headers[.retryAfter] == "2")
            #expect(try await client.send(.post, "/v1/moderations", body: [1, 2, 3]).status == 503)
            harness.server.ready(ServerHarness.moderator)
            let ready = try await client.send(.get, "/readyz")
            #expect(ready.status == 200)
            #expect((ready.json as? [String: Any])?["sanitizer"] as? Bool == true)
            let document = try await client.send(.get, "/openapi.json")
            let served = try JSONSerialization.jsonObject(with: Data(document.body)) as! NSDictionary
            #expect(served == (try OpenAPIDocument.object() as! NSDictionary))
            #expect((served["openapi"] as? String) == "3.1.0")
            let missing = try await client.send(.get, "/v1/nothing", route: "/v1/videos/{id}")
            #expect(missing.status == 404)
            #expect(((missing.json as? [String: Any])?["error"] as? [String: Any])?["type"] as? String == "not_found")
        }
    }

    /// A raw body, a multipart form and every JSON shape give the library's report, under the
    /// item's name.
    @Test func moderationShapes() async throws {
        let harness = try await ServerHarness()
        let image = try ServerHarness.fixture(Self.png)
        let jpeg = try ServerHarness.fixture("images/baseline420.jpg")
        try await harness.test { client in
            let raw = try await client.send(.post, "/v1/moderations", headers: [.contentType: "image/png"], body: image)
            #expect(raw.status == 200)
            let results = try #require((raw.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(results.count == 1)
            #expect(
                NSDictionary(dictionary: results[0])
                    == NSDictionary(dictionary: try Self.scanned(Self.png, name: "input")))

            let boundary = "guardrail-test-boundary"
            var form = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".utf8)
            for (name, bytes) in [("a.png", image), ("b.jpg", jpeg)] {
                form += Array(
                    "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                        .utf8)
                form += bytes + Array("\r\n".utf8)
            }
            form += Array("--\(boundary)--\r\n".utf8)
            let multipart = try await client.send(
                .post, "/v1/moderations", headers: [.contentType: "multipart/form-data; boundary=\(boundary)"],
                body: form)
            #expect(multipart.status == 200)
            let parts = try #require((multipart.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(parts.map { $0["path"] as? String } == ["a.png", "b.jpg"])
            #expect(
                NSDictionary(dictionary: parts[1])
                    == NSDictionary(dictionary: try Self.scanned("images/baseline420.jpg", name: "b.jpg")))

            let b64 = Data(image).base64EncodedString()
            let shapes: [Any] = [
                b64, "data:image/png;base64," + b64,
                ["type": "image_url", "image_url": ["url": "data:image/png;base64," + b64]],
            ]
            let json = try JSONSerialization.data(withJSONObject: ["input": shapes])
            let listed = try await client.send(
                .post, "/v1/moderations", headers: [.contentType: "application/json"], body: Array(json))
            #expect(listed.status == 200)
            let items = try #require((listed.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(items.count == 3)
            for (i, item) in items.enumerated() {
                #expect(item["category_scores"] as? NSDictionary == results[0]["category_scores"] as? NSDictionary)
                #expect(item["path"] as? String == "input[\(i)]")
            }
        }
    }

    @Test func moderationErrors() async throws {
        let harness = try await ServerHarness { $0.maxBody = 64 * 1024 }
        let image = try ServerHarness.fixture(Self.png)
        try await harness.test { client in
            func expectError(
                _ body: [UInt8], _ status: Int, _ type: String, contentType: String = "application/json",
                sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                let response = try await client.send(
                    .post, "/v1/moderations", headers: [.contentType: contentType], body: body, expectRejection: true,
                    sourceLocation: sourceLocation)
                #expect(response.status == status, sourceLocation: sourceLocation)
                let error = (response.json as? [String: Any])?["error"] as? [String: Any]
                #expect(error?["type"] as? String == type, "\(error ?? [:])", sourceLocation: sourceLocation)
            }
            func json(_ object: Any) throws -> [UInt8] { Array(try JSONSerialization.data(withJSONObject: object)) }
            try await expectError(Array("not json".utf8), 400, "invalid_request")
            try await expectError(try json(["input": "https://example.invalid/a.png"]), 400, "invalid_request")
            try await expectError(try json(["input": [["type": "text", "text": "hello"]]]), 400, "invalid_request")
            try await expectError(try json(["input": "!!!"]), 400, "invalid_request")
            try await expectError(try json(["nothing": 1]), 400, "invalid_request")
            try await expectError([], 400, "invalid_request", contentType: "image/png")
            try await expectError(
                Array("definitely not an image".utf8), 422, "unsupported_media", contentType: "image/png")
            try await expectError(Array(repeating: 0, count: 64 * 1024 + 1), 413, "too_large", contentType: "image/png")
            try await expectError(
                Array("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb".utf8), 400, "invalid_request",
                contentType: "multipart/form-data; boundary=x")
            // In a list, a bad image is that item's error; the others are scanned.
            let mixed = try json([
                "input": [Data(image).base64EncodedString(), Data("junk".utf8).base64EncodedString()]
            ])
            let response = try await client.send(
                .post, "/v1/moderations", headers: [.contentType: "application/json"], body: mixed)
            #expect(response.status == 200)
            let results = try #require((response.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(results[0]["flagged"] != nil)
            #expect((results[1]["error"] as? [String: Any])?["type"] as? String == "unsupported_media")
            #expect(results[1]["index"] as? Int == 1)
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(!text.contains(harness.configuration.dataDir), "a server path leaked: \(text)")
        }
    }

    /// Every hostile file of the media tests, over HTTP: a report or a 4xx, never a crash or a 5xx,
    /// and nothing left in the data dir.
    @Test func hostileMedia() async throws {
        let harness = try await ServerHarness()
        let folder = Fixtures.path("corrupt")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names.count >= 10)
        try await harness.test { client in
            for name in names {
                let bytes = try ServerHarness.fixture("corrupt/" + name)
                let image = try await client.send(.post, "/v1/moderations", body: bytes)
                #expect([200, 400, 422].contains(image.status), "\(name): \(image.status)")
                let video = try await client.send(.post, "/v1/videos?filename=\(name)", body: bytes)
                #expect([202, 400, 422].contains(video.status), "\(name): \(video.status)")
            }
            let temporary = try FileManager.default.contentsOfDirectory(atPath: harness.configuration.dataDir + "/tmp")
            #expect(temporary.isEmpty)
        }
    }

    /// A job whose upload this node cannot see (a data dir that is not the shared volume) is retried,
    /// then dead with a reason that names no server path.
    @Test func missingUploadIsRetriedThenDead() async throws {
        let harness = try await ServerHarness {
            $0.maxAttempts = 2
            $0.retryDelay = 0
        }
        let other = try SQLiteJobStore(path: harness.configuration.dataDir + "/jobs.sqlite")
        let id = UUID().uuidString.lowercased()
        try await other.insert(Job(id: id, upload: "uploads/\(id)", filename: "gone.mp4", callbackURL: nil))
        try await harness.test { client in
            var document: [String: Any] = [:]
            for _ in 0..<400 {
                document = try #require(
                    try await client.send(.get, "/v1/videos/\(id)", route: "/v1/videos/{id}").json as? [String: Any])
                if document["status"] as? String == "dead" { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(document["status"] as? String == "dead")
            #expect(document["attempts"] as? Int == 2)
            let error = try #require(document["error"] as? [String: Any])
            #expect(error["type"] as? String == "io")
            #expect(error["message"] as? String == "the upload is missing from the worker's data dir")
        }
    }

    /// A job that fails with a model error (a model whose embeddings overflow) fails at once: it is
    /// not retried, unlike a missing upload.
    @Test func modelErrorsAreNotRetried() async throws {
        let folder = NSTemporaryDirectory() + "guardrail-overflow-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let engine = try GuardrailEngine(
            model: try OverflowingModel.write(to: folder), policies: ServerHarness.policies, settings: ScanSettings(),
            cache: nil)
        let harness = try await ServerHarness(ready: false) {
            $0.maxAttempts = 3
            $0.retryDelay = 0
        }
        harness.server.ready(Moderator(classifier: engine, sanitizer: nil, modelName: "overflowing"))
        let video = try ServerHarness.fixture("video/h264_bframes.mp4")
        try await harness.test { client in
            let created = try await client.send(.post, "/v1/videos?filename=clip.mp4", body: video)
            let id = try #require((created.json as? [String: Any])?["id"] as? String)
            var document: [String: Any] = [:]
            for _ in 0..<400 {
                document = try #require(
                    try await client.send(.get, "/v1/videos/\(id)", route: "/v1/videos/{id}").json as? [String: Any])
                if ["failed", "dead", "succeeded"].contains(document["status"] as? String) { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(document["status"] as? String == "failed")
            #expect(document["attempts"] as? Int == 1)
            #expect((document["error"] as? [String: Any])?["type"] as? String == "model")
        }
    }

    @Test func videoJobLifecycle() async throws {
        let harness = try await ServerHarness()
        let video = try ServerHarness.fixture("video/h264_bframes.mp4")
        try await harness.test { client in
            let created = try await client.send(.post, "/v1/videos?filename=clip.mp4", body: video)
            #expect(created.status == 202)
            let job = try #require(created.json as? [String: Any])
            let id = try #require(job["id"] as? String)
            #expect(created.headers[.location] == "/v1/videos/\(id)")
            #expect(job["status"] as? String == "queued")
            var document: [String: Any] = [:]
            for _ in 0..<400 {
                document = try #require(
                    try await client.send(.get, "/v1/videos/\(id)", route: "/v1/videos/{id}").json as? [String: Any])
                if document["status"] as? String == "succeeded" { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(document["status"] as? String == "succeeded", "\(document["error"] ?? "")")
            let result = try #require(document["result"] as? [String: Any])
            #expect(
                NSDictionary(dictionary: result)
                    == NSDictionary(dictionary: try Self.scanned("video/h264_bframes.mp4", name: "clip.mp4")))
            #expect(
                (document["progress"] as? [String: Any])?["frames_done"] as? Int
                    == (result["video"] as? [String: Any]).flatMap { ($0["frames_sampled"] as? [Any])?.count })
            let deleted = try await client.send(.delete, "/v1/videos/\(id)", route: "/v1/videos/{id}")
            #expect(deleted.status == 200)
            #expect((deleted.json as? [String: Any])?["status"] as? String == "succeeded")
            #expect(!FileManager.default.fileExists(atPath: harness.configuration.dataDir + "/uploads/\(id)"))

            #expect(
                try await client.send(.get, "/v1/videos/\(UUID().uuidString)", route: "/v1/videos/{id}").status == 404)
            #expect(try await client.send(.get, "/v1/videos/..%2Fjobs.sqlite", route: "/v1/videos/{id}").status == 404)
            #expect(
                try await client.send(.delete, "/v1/videos/\(UUID().uuidString)", route: "/v1/videos/{id}").status
                    == 404)
            let junk = try await client.send(.post, "/v1/videos", body: Array("not a video at all".utf8))
            #expect(junk.status == 422)
            #expect(try await client.send(.post, "/v1/videos", body: []).status == 400)
            let refused = try await client.send(.post, "/v1/videos?callback_url=http://127.0.0.1:9/x", body: video)
            #expect(refused.status == 400)
            // Nothing of the refused uploads is left behind.
            let left = try FileManager.default.contentsOfDirectory(atPath: harness.configuration.dataDir + "/uploads")
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test func queueLimitsAnswer429() async throws {
        let harness = try await ServerHarness { $0.maxQueue = 0 }
        try await harness.test { client in
            let video = try ServerHarness.fixture("video/h264_bframes.mp4")
            let full = try await client.send(.post, "/v1/videos", body: video)
            #expect(full.status == 429)
            #expect(full.headers[.retryAfter] == "1")
        }
        let slots = ScanSlots(capacity: 1, maxWaiting: 1)
        let gate = DispatchSemaphore(value: 0)
        async let first: Int = slots.run(deadline: nil) {
            gate.wait()
            return 1
        }
        while await slots.load.running == 0 { try await Task.sleep(for: .milliseconds(5)) }
        async let second: Int = slots.run(deadline: nil) { 2 }
        while await slots.load.waiting == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: APIError.self) { try await slots.run(deadline: nil) { 3 } }
        // A video worker's scan is not refused by the full waiting line; a deadline gives up.
        async let timedOut: Int = slots.run(deadline: .milliseconds(50), queued: false) { 4 }
        do {
            _ = try await timedOut
            Issue.record("the deadline did not apply")
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable)
        }
        gate.signal()
        #expect(try await first == 1)
        #expect(try await second == 2)
        #expect(await slots.load.running == 0)
    }

    @Test func bearerTokens() async throws {
        let harness = try await ServerHarness { $0.authTokens = ["s3cret-token", "other-token"] }
        try await harness.test { client in
            #expect(try await client.send(.get, "/healthz").status == 200)
            #expect(try await client.send(.get, "/readyz").status == 200)
            let none = try await client.send(.get, "/metrics")
            #expect(none.status == 401)
            #expect(
                try await client.send(.get, "/metrics", headers: [.authorization: "Bearer s3cret-tokeN"]).status == 401)
            #expect(try await client.send(.get, "/metrics", headers: [.authorization: "s3cret-token"]).status == 401)
            #expect(
                try await client.send(.get, "/metrics", headers: [.authorization: "Bearer other-token"]).status == 200)
            let image = try ServerHarness.fixture(Self.png)
            #expect(try await client.send(.post, "/v1/moderations", body: image).status == 401)
            #expect(
                try await client.send(
                    .post, "/v1/moderations", headers: [.authorization: "Bearer s3cret-token"], body: image
                )
                .status == 200)
        }
    }

    @Test func metricsCountRequestsFramesAndFlags() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let image = try ServerHarness.fixture(Self.png)
            _ = try await client.send(.post, "/v1/moderations", body: image)
            _ = try await client.send(.get, "/v1/videos/\(UUID().uuidString)", route: "/v1/videos/{id}")
            let text = String(decoding: try await client.send(.get, "/metrics").body, as: UTF8.self)
            #expect(
                text.contains(#"guardrail_http_requests_total{route="/v1/moderations",method="POST",status="200"} 1"#))
            #expect(
                text.contains(#"guardrail_http_requests_total{route="/v1/videos/{id}",method="GET",status="404"} 1"#))
            #expect(text.contains("guardrail_frames_encoded_total 1"))
            #expect(text.contains(#"guardrail_http_request_duration_seconds_count{route="/v1/moderations"} 1"#))
            #expect(text.contains("guardrail_video_jobs_queued 0"))
            let flagged = try Self.scanned(Self.png, name: "input")["policies"] as! [[String: Any]]
            for policy in flagged where policy["verdict"] as? Bool == true {
                #expect(text.contains(#"guardrail_flags_total{policy="\#(policy["name"]!)"} 1"#))
            }
        }
    }

    /// The JSON report and embeddings equal the library's; the safetensors answer holds the same
    /// numbers.
    @Test func sanitize() async throws {
        let harness = try await ServerHarness()
        let prompts = ["a photo of a nude person on a beach", "a bowl of fruit"]
        let sanitizer = try #require(ServerHarness.moderator.sanitizer)
        let expected = try sanitizer.sanitize(prompts)
        try await harness.test { client in
            let body = Array(try JSONSerialization.data(withJSONObject: ["prompts": prompts]))
            let response = try await client.send(.post, "/v1/prompts:sanitize", body: body)
            #expect(response.status == 200)
            let results = try #require((response.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(results.count == 2)
            for (result, reference) in zip(results, expected) {
                var report = result
                let embeddings = try #require(report.removeValue(forKey: "embeddings") as? [String: Any])
                let library = try JSONSerialization.jsonObject(
                    with: JSONText.compactData(SanitizeReport(reference, sanitizer: sanitizer)))
                #expect(NSDictionary(dictionary: report) == library as? NSDictionary)
                let data = try #require(Data(base64Encoded: embeddings["prompt_embeds"] as! String))
                let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                #expect(floats == reference.result.sanitized.flatMap { $0 })
                #expect(embeddings["shape"] as? [Int] == [reference.original.count, reference.original[0].count])
            }
            let binary = try await client.send(
                .post, "/v1/prompts:sanitize", headers: [.accept: "application/octet-stream"], body: body)
            #expect(binary.status == 200)
            #expect(binary.body == (try DiffusersEmbeddings.encode(expected, sanitizer: sanitizer, half: false)))
            for invalid in ["{}", #"{"prompt": ""}"#, #"{"prompts": []}"#, #"{"prompt": 3}"#] {
                let response = try await client.send(
                    .post, "/v1/prompts:sanitize", body: Array(invalid.utf8), expectRejection: true)
                #expect(response.status == 400, "\(invalid)")
            }
        }
        let withoutEncoder = try await ServerHarness(ready: false)
        withoutEncoder.server.ready(
            Moderator(classifier: ServerHarness.moderator.classifier, sanitizer: nil, modelName: "clip-b16-tiny"))
        try await withoutEncoder.test { client in
            let response = try await client.send(
                .post, "/v1/prompts:sanitize", body: Array(#"{"prompt": "a cat"}"#.utf8))
            #expect(response.status == 501)
        }
    }
}
