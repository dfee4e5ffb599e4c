import Detector
import GuardrailCore
import Media
import Policy
import Vision

/// Why a scan, or loading what it needs, failed: the layer the error came from, the file it is
/// about and the message, with the media layer's own error kept whole. Nothing is flattened.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    /// The layer that failed.
    public enum Kind: String, Sendable, Codable {
        /// Reading or decoding the media (``MediaError`` in ``EngineError/media``).
        case media
        /// Finding or loading a model, or running it.
        case model
        /// Reading or validating a policy file.
        case policy
        /// Reading or writing the engine's own files (cache, outputs).
        case io
        /// Arguments or input the engine cannot work with.
        case input
    }

    public var kind: Kind
    /// The file the error is about (the scanned file, the model folder, the policy file).
    public var file: String
    public var message: String
    /// The decoder's error, for ``Kind/media``.
    public var media: MediaError?

    public init(_ kind: Kind, file: String, message: String, media: MediaError? = nil) {
        self.kind = kind
        self.file = file
        self.message = message
        self.media = media
    }

    /// Wraps any error of the layers below; `file` is used where the error names none.
    public init(wrapping error: any Error, file: String) {
        switch error {
        case let error as EngineError: self = error
        case let error as MediaError: self.init(.media, file: error.path, message: error.message, media: error)
        case let error as VisionError: self.init(.model, file: file, message: error.description)
        case let error as PolicyError: self.init(.policy, file: error.path, message: error.description)
        case let error as CoreError: self.init(.io, file: error.path, message: error.message)
        case let error as ONNXError: self.init(.model, file: error.file, message: error.description)
        default: self.init(.io, file: file, message: "\(error)")
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
    public init(_ error: MediaError) {
        self.init(EngineError(.media, file: error.path, message: error.message, media: error))
    }
}
