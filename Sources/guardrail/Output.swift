import ArgumentParser
import Foundation
import Media

/// JSON lines on standard output: one object per line, keys sorted, so scripts can rely on it.
enum Output {
    static func jsonLine<T: Encodable>(_ value: T) {
        FileHandle.standardOutput.write(Data((jsonString(value) + "\n").utf8))
    }

    /// `value` as compact JSON with sorted keys.
    static func jsonString<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// One pretty-printed JSON document, keys sorted.
    static func jsonDocument<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("guardrail: \(message)\n".utf8))
    }
}

/// The JSON shape of a failure: `{"path": …, "error": {"kind": …, "function": …, "message": …}}`.
struct ErrorReport: Encodable {
    struct Detail: Encodable {
        var kind: String
        var function: String
        var code: Int32
        var message: String
    }

    var path: String
    var error: Detail

    init(_ error: MediaError) {
        path = error.path
        self.error = Detail(
            kind: error.kind.rawValue, function: error.function, code: error.code, message: error.message)
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
        guard maxPixels > 0, maxFileBytes > 0, timeout > 0 else {
            throw ValidationError("--max-pixels, --max-file-bytes and --timeout must be positive")
        }
    }

    var limits: MediaLimits {
        MediaLimits(maxPixels: maxPixels, maxFileBytes: maxFileBytes, decodeTimeoutSeconds: timeout)
    }
}
