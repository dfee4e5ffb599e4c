import Detector
import GuardrailCore
import Media
import Policy
import Vision

/// Why a scan, or loading what it needs, failed: the layer's own error, kept whole in ``cause``,
/// and the file it is about. Every engine entry point throws this type and nothing else.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    /// The layer that failed, as reports and job documents name it.
    public enum Kind: String, Sendable, Codable {
        /// Reading or decoding the media (``Cause/media``).
        case media
        /// Finding or loading a model, or running it (``Cause/model``, ``Cause/detector``).
        case model
        /// Reading or validating a policy file.
        case policy
        /// Reading or writing the engine's own files (cache, outputs, folders).
        case io
        /// Arguments or input the engine cannot work with.
        case input
        /// An error of a type the engine does not know (``Cause/unexpected``): a defect to report.
        case `internal`
    }

    /// The error of the layer below, whole, so callers can match on its own kinds.
    public enum Cause: Sendable {
        case media(MediaError)
        case model(VisionError)
        case detector(ONNXError)
        case policy(PolicyError)
        case io(CoreError)
        /// The engine's own finding (a model without the tower a command needs, embeddings that
        /// are not finite numbers, a folder that cannot be listed), of the given kind.
        case engine(Kind)
        /// An error of another type, described: never expected, never retried.
        case unexpected(String)
    }

    public var cause: Cause
    /// The file the error is about (the scanned file, the model folder, the policy file).
    public var file: String
    public var message: String

    /// The engine's own error of `kind` about `file`.
    public init(_ kind: Kind, file: String, message: String) {
        self.init(cause: .engine(kind), file: file, message: message)
    }

    public init(cause: Cause, file: String, message: String) {
        self.cause = cause
        self.file = file
        self.message = message
    }

    public init(_ error: MediaError) { self.init(cause: .media(error), file: error.path, message: error.message) }

    /// A model error about `file` (the model folder, or the scanned file for an inference error).
    public init(_ error: VisionError, file: String) {
        self.init(cause: .model(error), file: file, message: error.description)
    }

    public init(_ error: ONNXError) { self.init(cause: .detector(error), file: error.file, message: error.description) }

    public init(_ error: PolicyError) { self.init(cause: .policy(error), file: error.path, message: error.description) }

    public init(_ error: CoreError) { self.init(cause: .io(error), file: error.path, message: error.message) }

    /// The error of whichever layer `error` comes from; `file` is used where the error names none.
    /// A type no layer throws becomes ``Cause/unexpected``, of kind ``Kind/internal``.
    public init(wrapping error: any Error, file: String) {
        switch error {
        case let error as EngineError: self = error
        case let error as MediaError: self.init(error)
        case let error as VisionError: self.init(error, file: file)
        case let error as PolicyError: self.init(error)
        case let error as CoreError: self.init(error)
        case let error as ONNXError: self.init(error)
        default: self.init(cause: .unexpected(String(reflecting: error)), file: file, message: "\(error)")
        }
    }

    /// Runs `body`, turning what it throws into an error about `file`.
    static func catching<T>(file: String, _ body: () throws -> T) throws(EngineError) -> T {
        do {
            return try body()
        } catch {
            throw EngineError(wrapping: error, file: file)
        }
    }

    public var kind: Kind {
        switch cause {
        case .media: .media
        case .model, .detector: .model
        case .policy: .policy
        case .io: .io
        case .engine(let kind): kind
        case .unexpected: .internal
        }
    }

    /// The decoder's error, for ``Kind/media``.
    public var media: MediaError? {
        if case .media(let error) = cause { return error }
        return nil
    }

    /// Whether the same work may succeed if tried again: the file could not be read (a shared
    /// volume's hiccup, an upload that vanished, a decode deadline passed under load) or the
    /// engine's own files could not be. A model, policy or input error, damaged media and
    /// unexpected errors fail the same way every time.
    public var isRetryable: Bool {
        switch cause {
        case .media(let error): error.kind == .io
        case .io, .engine(.io): true
        default: false
        }
    }

    public var description: String { media?.description ?? "\(kind.rawValue): \(message)" }
}

/// The JSON shape of a failed file, as `scan` prints it:
/// `{"path": …, "error": {"kind": …, "function": …, "code": …, "message": …}}`. Media errors keep
/// the decoder's kind (`corrupt`, `truncated`, …), function and code; other layers give their
/// kind (`model`, `policy`, `io`, `input`).
public struct ErrorReport: Sendable, Encodable {
    public struct Detail: Sendable, Encodable {
        public var kind: String
        public var function: String
        public var code: Int32
        public var message: String
    }

    public var path: String
    public var error: Detail

    public init(_ error: EngineError) {
        path = error.file
        if let media = error.media {
            self.error = Detail(
                kind: media.kind.rawValue, function: media.function, code: media.code, message: media.message)
        } else {
            self.error = Detail(kind: error.kind.rawValue, function: "scan", code: 0, message: error.message)
        }
    }
}

extension ErrorReport {
    /// The report of a decoder error.
    public init(_ error: MediaError) { self.init(EngineError(error)) }
}
