import Foundation

/// One run of the `guardrail` executable (``Fixtures/guardrailExecutable``), as a user runs it.
public struct GuardrailRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Stdout's lines parsed as JSON objects.
    public var objects: [[String: Any]] {
        stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Runs `guardrail ARGUMENTS` to its end with a private cache folder: the built executable, or
    /// `executable` (a copy of it elsewhere), in `directory` when given, with `environment` added
    /// to (nil values removed from) this process's.
    public static func run(
        _ arguments: [String], executable: String = Fixtures.guardrailExecutable, directory: String? = nil,
        environment changes: [String: String?] = [:]
    ) throws -> GuardrailRun {
        let cache = NSTemporaryDirectory() + "guardrail-cli-cache-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["GUARDRAIL_CACHE"] = cache
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return GuardrailRun(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
