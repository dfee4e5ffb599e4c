import ArgumentParser
import Foundation
import GuardrailCore
import Media

/// JSON on standard output, keys sorted (``JSONText``), so scripts can rely on it. A value that
/// cannot be encoded is an error (exit status 2), never an empty object.
enum Output {
    /// One object per line.
    static func jsonLine<T: Encodable>(_ value: T) throws {
        write(try json(value) + "\n")
    }

    /// One pretty-printed document.
    static func jsonDocument<T: Encodable>(_ value: T) throws {
        do {
            write(try JSONText.pretty(value) + "\n")
        } catch {
            Output.error("cannot encode the result as JSON: \(error)")
            throw ExitCode(2)
        }
    }

    /// `value` as compact JSON; an encoding failure becomes a message on stderr and exit status 2.
    static func json<T: Encodable>(_ value: T) throws -> String {
        do {
            return try JSONText.compact(value)
        } catch {
            Output.error("cannot encode the result as JSON: \(error)")
            throw ExitCode(2)
        }
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("guardrail: \(message)\n".utf8))
    }
}

/// Media limits as command-line options.
struct LimitOptions: ParsableArguments {
    @Option(help: "Refuse images and frames larger than this many pixels.")
    var maxPixels: Int = MediaLimits.default.maxPixels

    @Option(help: "Refuse files larger than this many bytes.")
    var maxFileBytes: Int64 = MediaLimits.default.maxFileBytes

    @Option(help: "Give up on a file after this many seconds of decoding.")
    var timeout: Double = MediaLimits.default.decodeTimeoutSeconds

    func validate() throws {
        try OptionBounds.check(maxPixels, "--max-pixels", 1...Int(Int32.max))
        try OptionBounds.check(maxFileBytes, "--max-file-bytes", 1...(Int64(1) << 50))
        try OptionBounds.check(timeout, "--timeout", OptionBounds.seconds)
    }

    var limits: MediaLimits {
        MediaLimits(maxPixels: maxPixels, maxFileBytes: maxFileBytes, decodeTimeoutSeconds: timeout)
    }
}
