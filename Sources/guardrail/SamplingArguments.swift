import ArgumentParser
import Media

/// How frames are chosen from a video, shared by `frames` and `scan`.
struct SamplingArguments: ParsableArguments {
    @Option(help: "Sampling interval: 1s, 0.5s, 500ms or plain seconds (default 1s).")
    var every: String?

    @Flag(help: "Sample keyframes only.")
    var keyframes = false

    @Flag(help: "Sample one frame per shot (cut detection by colour histogram).")
    var shots = false

    func validate() throws {
        guard [every != nil, keyframes, shots].filter({ $0 }).count <= 1 else {
            throw ValidationError("choose one of --every, --keyframes and --shots")
        }
        if let every { _ = try Self.parseInterval(every) }
    }

    /// The strategy asked for, and a short description for reports.
    func strategy() throws -> (SamplingStrategy, String) {
        if keyframes { return (.keyframes, "keyframes") }
        if shots { return (.shots(ShotDetection()), "shots") }
        let seconds = try every.map(Self.parseInterval) ?? 1
        return (.every(seconds: seconds), "every \(seconds)s")
    }

    static func parseInterval(_ text: String) throws -> Double {
        let trimmed = text.lowercased()
        let value: Double?
        if trimmed.hasSuffix("ms") {
            value = Double(trimmed.dropLast(2)).map { $0 / 1000 }
        } else if trimmed.hasSuffix("s") {
            value = Double(trimmed.dropLast())
        } else {
            value = Double(trimmed)
        }
        guard let value, value > 0, value.isFinite else {
            throw ValidationError("--every takes a positive interval such as 1s, 0.5s or 500ms, not '\(text)'")
        }
        return value
    }
}
