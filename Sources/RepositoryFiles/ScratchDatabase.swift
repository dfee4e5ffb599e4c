import Foundation
import Logging
import PostgresNIO

/// Throwaway PostgreSQL databases on a test server (`scripts/test_postgres.sh`), so that tests and
/// benchmarks running at once never share a job queue.
public enum ScratchDatabase {
    /// Creates an empty database on the server `url` names; returns its URL.
    public static func create(on url: String, prefix: String = "guardrail_test") async throws -> String {
        let name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        try await withClient(url, database: "postgres") {
            try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var parts = URLComponents(string: url)!
        parts.path = "/" + name
        return parts.string!
    }

    /// Drops the database `url` names (closing its connections).
    public static func drop(_ url: String) async throws {
        let name = String(URLComponents(string: url)!.path.dropFirst())
        try await withClient(url, database: "postgres") {
            try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        }
    }

    /// Runs `body` with a client on `database` (default: the one `url` names) of the server.
    public static func withClient(
        _ url: String, database: String? = nil, _ body: (PostgresClient) async throws -> Void
    ) async throws {
        let parts = URLComponents(string: url)!
        let client = PostgresClient(
            configuration: .init(
                host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
                password: parts.password, database: database ?? String(parts.path.dropFirst()), tls: .disable),
            backgroundLogger: {
                // Its queries may start before run() does; that is only worth a warning in a server.
                var logger = Logger(label: "scratch-database")
                logger.logLevel = .error
                return logger
            }())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}
