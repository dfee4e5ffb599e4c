/// Limits that bound the work and memory any input may cost, checked before allocating.
public struct MediaLimits: Sendable, Hashable {
    /// Largest width × height accepted for an image or a video frame, read from headers
    /// before any pixel buffer is allocated. Default 100 megapixels.
    public var maxPixels: Int
    /// Largest accepted file, in bytes. Default 4 GiB.
    public var maxFileBytes: Int64
    /// Wall-clock budget for opening and decoding one file, in seconds; blocking reads fail
    /// with `MediaError.Kind.io` once it has passed. Default 600 s.
    public var decodeTimeoutSeconds: Double

    /// Creates limits; the defaults suit an upload platform.
    public init(maxPixels: Int = 100_000_000, maxFileBytes: Int64 = 4 << 30, decodeTimeoutSeconds: Double = 600) {
        precondition(maxPixels > 0 && maxFileBytes > 0 && decodeTimeoutSeconds > 0, "limits must be positive")
        precondition(!decodeTimeoutSeconds.isNaN, "the decode timeout must be a number")
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.decodeTimeoutSeconds = decodeTimeoutSeconds
    }

    /// The defaults.
    public static let `default` = MediaLimits()

    /// Longest accepted ``decodeTimeoutSeconds``: a week; front ends refuse longer (or non-finite)
    /// values with a clear error before they get here.
    public static let longestDecodeTimeoutSeconds: Double = 7 * 24 * 3600

    /// The decode budget in microseconds, for FFmpeg's interrupt callback; capped at
    /// ``longestDecodeTimeoutSeconds`` so no value can overflow the clock.
    var decodeTimeoutMicroseconds: Int64 {
        Int64(min(decodeTimeoutSeconds, Self.longestDecodeTimeoutSeconds) * 1_000_000)
    }

    func checkPixels(width: Int, height: Int, path: String, function: String) throws(MediaError) {
        guard width > 0, height > 0 else {
            throw MediaError(.corrupt, path: path, function: function, message: "invalid dimensions \(width)x\(height)")
        }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maxPixels, width <= maxPixels,
            height <= maxPixels
        else {
            throw MediaError(
                .tooLarge, path: path, function: function,
                message: "\(width)x\(height) exceeds the limit of \(maxPixels) pixels")
        }
    }
}
