import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore

/// Signs callback bodies as Stripe-style webhooks do: header
/// `Guardrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a
/// receiver checks the sender and refuses replays older than its tolerance.
public enum CallbackSignature {
    public static let header = "Guardrail-Signature"

    public static func sign(_ body: [UInt8], secret: [UInt8], timestamp: Int) -> String {
        var message = Array("\(timestamp).".utf8)
        message += body
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// True when `header` signs `body` with `secret` within `tolerance` seconds of `now`.
    public static func verify(
        _ header: String, body: [UInt8], secret: [UInt8], now: Int, tolerance: Int = 300
    ) -> Bool {
        var fields: [String: String] = [:]
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let t = fields["t"].flatMap(Int.init), let given = fields["v1"], abs(now - t) <= tolerance else {
            return false
        }
        let expected = sign(body, secret: secret, timestamp: t)
        return constantTimeEqual(Array(expected.utf8), Array("t=\(t),v1=\(given)".utf8))
    }
}

/// Compares without an early exit, so the time taken tells nothing about where two secrets differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}

/// Which callback URLs the server may post to: `http`/`https` to a host of `--callback-allow`
/// (`host` for any port, `host:port` for one).
struct CallbackPolicy: Sendable {
    var allowed: [String]

    func check(_ text: String) throws(APIError) {
        guard !allowed.isEmpty else {
            throw .invalid("callbacks are off: the server was started without --callback-allow")
        }
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host?.lowercased(), !host.isEmpty, url.user == nil
        else { throw .invalid("callback_url must be an http or https URL without credentials") }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let permitted = allowed.contains { entry in
            let rule = entry.lowercased()
            return rule == host || rule == "\(host):\(port)"
        }
        guard permitted else { throw .invalid("callback_url host \(host):\(port) is not in --callback-allow") }
    }
}

/// Delivers due callbacks from the job store: one POST each, retried with doubling delays until
/// a 2xx answer or the last attempt; redirects are not followed. The state is recorded after
/// each attempt, so a restart resumes the retries.
final class CallbackSender: Sendable {
    let store: any JobStore
    let configuration: ServerConfiguration
    let client: HTTPClient
    let logger: Logger

    init(store: any JobStore, configuration: ServerConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        var settings = HTTPClient.Configuration(redirectConfiguration: .disallow)
        settings.timeout = .init(connect: .seconds(5), read: .seconds(10))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    func shutdown() async { try? await client.shutdown() }

    /// Sends every callback due now.
    func deliverDue(document: (Job) throws -> [UInt8]) async {
        // Taken for a minute, so that other API nodes on the same jobs database do not send them too.
        guard let due = try? await store.takeDueCallbacks(now: Date(), lease: 60) else { return }
        for job in due {
            guard let url = job.callbackURL else { continue }
            let attempts = job.callbackAttempts + 1
            var delivered = false
            do {
                let body = try document(job)
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                // Delivery is at least once (a crash between the POST and its record resends it):
                // the job id lets a receiver drop a repeat.
                request.headers.add(name: "Guardrail-Job", value: job.id)
                request.headers.add(
                    name: CallbackSignature.header,
                    value: CallbackSignature.sign(
                        body, secret: configuration.callbackSecret, timestamp: Int(Date().timeIntervalSince1970)))
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(request, timeout: .seconds(15))
                delivered = (200..<300).contains(Int(response.status.code))
                if !delivered { logger.warning("callback for job \(job.id): HTTP \(response.status.code)") }
            } catch {
                logger.warning("callback for job \(job.id) failed: \(error)")
            }
            let state: CallbackState =
                delivered ? .delivered : (attempts >= configuration.callbackAttempts ? .abandoned : .pending)
            let delay = configuration.callbackBackoff * pow(2, Double(attempts - 1))
            let next = state == .pending ? Date().addingTimeInterval(min(delay, 600)) : nil
            try? await store.callbackAttempted(job.id, state: state, attempts: attempts, due: next)
        }
    }
}
