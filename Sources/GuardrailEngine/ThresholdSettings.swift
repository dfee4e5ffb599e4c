import Media
import Policy

/// The scoring settings a calibrated threshold is valid for, recorded beside it (`threshold.settings`
/// in a policy file): a score computed with other settings is on another scale, so the threshold
/// is not applied to it.
public enum ThresholdSettings {
    /// `rho`, `tau`, `lambda`, `delta`, `variant`, `min_flagged_frames` and `sampling` of `settings`.
    public static func of(_ settings: ScanSettings) -> [String: String] {
        let s = settings.scoring
        return [
            "rho": "\(s.keepRatio)", "tau": "\(s.temperature)", "lambda": "\(s.lambda)", "delta": "\(s.delta)",
            "variant": settings.variant.rawValue, "min_flagged_frames": "\(s.minFlaggedFrames)",
            "sampling": sampling(settings.sampling),
        ]
    }

    /// `every 1s max 64`, `keyframes max 64`, `shots max 64`.
    public static func sampling(_ options: SamplingOptions) -> String {
        let strategy: String
        switch options.strategy {
        case .every(let seconds): strategy = "every \(seconds)s"
        case .keyframes: strategy = "keyframes"
        case .shots: strategy = "shots"
        }
        return strategy + " max " + (options.maxFrames.map(String.init) ?? "none")
    }

    /// The recorded settings that differ from `current`, as `key: recorded ≠ current` (empty: valid).
    public static func mismatches(recorded: [String: String], current: [String: String]) -> [String] {
        recorded.keys.sorted().compactMap { key in
            let now = current[key] ?? "unset"
            return recorded[key] == now ? nil : "\(key): \(recorded[key]!) ≠ \(now)"
        }
    }
}
