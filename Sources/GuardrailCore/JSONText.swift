import Foundation

/// JSON as the engine prints it: keys sorted and slashes unescaped, so scripts and diffs can rely
/// on the bytes. Encoding failures (a non-finite float, say) are thrown, never replaced by `{}`.
public enum JSONText {
    /// One line, no spaces.
    public static func compact<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder(pretty: false).encode(value), as: UTF8.self)
    }

    /// ``compact(_:)`` as UTF-8 bytes.
    public static func compactData<T: Encodable>(_ value: T) throws -> Data {
        try encoder(pretty: false).encode(value)
    }

    /// Indented, for documents meant to be read.
    public static func pretty<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder(pretty: true).encode(value), as: UTF8.self)
    }

    private static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
