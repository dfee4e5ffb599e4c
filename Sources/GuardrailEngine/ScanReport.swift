import Compute
import GuardrailCore
import Policy

/// What produced a report: versions, hashes and every setting that changes a number (§6.8).
public struct EngineInfo: Sendable, Encodable {
    public var version: String
    public var classifier: String
    public var model: String
    public var modelSHA256: String
    public var policySet: String
    public var policyVersion: String
    public var policySHA256: String
    /// What computed the model's products (``ComputeConfiguration/Kernel``; the two paths differ
    /// in the last float bits).
    public var kernel: String
    public var settings: EngineSettings

    enum CodingKeys: String, CodingKey {
        case version, classifier, model, kernel, settings
        case modelSHA256 = "model_sha256"
        case policySet = "policy_set"
        case policyVersion = "policy_version"
        case policySHA256 = "policy_sha256"
    }
}

/// The settings that change numbers (SafeWatch §6.8 `settings`), null where they do not apply.
public struct EngineSettings: Sendable, Encodable {
    /// `fps`, `keyframes` or `shots`.
    public var sampling: String
    @NullEncodable public var fps: Double?
    @NullEncodable public var maxFrames: Int?
    @NullEncodable public var rho: Float?
    @NullEncodable public var tau: Float?
    @NullEncodable public var lambda: Float?
    @NullEncodable public var delta: Float?
    /// Patch embedding variant: `value`, `plain`, or `none` for classifiers without patches.
    public var variant: String
    public var minFlaggedFrames: Int

    enum CodingKeys: String, CodingKey {
        case sampling, fps, rho, tau, lambda, delta, variant
        case maxFrames = "F_max"
        case minFlaggedFrames = "min_flagged_frames"
    }

}

/// The media part of a report (SafeWatch §6.8 `video`; images are one-frame media).
public struct MediaSection: Sendable, Encodable {
    public var path: String
    public var kind: String
    @NullEncodable public var durationSeconds: Double?
    public var framesSampled: [FrameInfo]
    /// Corrupt packets or frames skipped while decoding.
    public var framesSkipped: Int
    /// True when `--early-exit` stopped decoding because no verdict could change.
    public var earlyExit: Bool
    /// What the decoders read past instead of refusing the file: `truncated` (the data ended early;
    /// what was present was scanned) or `damaged: <decoder message>`.
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case path, kind, warnings
        case durationSeconds = "duration_s"
        case framesSampled = "frames_sampled"
        case framesSkipped = "frames_skipped"
        case earlyExit = "early_exit"
    }

}

/// One file's result: SafeWatch §6.8's fields plus OpenAI-moderation-style `flagged`, `categories`
/// and `category_scores` keyed by policy name.
public struct ScanReport: Sendable, Encodable {
    public var path: String
    public var engine: EngineInfo
    /// Reported under `video`, as SafeWatch §6.8 names it, for images too.
    public var media: MediaSection
    /// SafeWatch-compatible keys `"<id>(<name>)"`.
    public var guardrail: [String: Bool?]
    public var policies: [PolicyVerdict]
    public var pruning: PruningReport
    /// true if any verdict is true; false if every verdict is false; null otherwise.
    @NullEncodable public var unsafe: Bool?
    /// `unsafe == true`, and verdicts and scores by policy name, in OpenAI's moderation shape.
    public var flagged: Bool
    public var categories: [String: Bool?]
    public var categoryScores: [String: Float?]

    enum CodingKeys: String, CodingKey {
        case path, engine, guardrail, policies, pruning, unsafe, flagged, categories
        case media = "video"
        case categoryScores = "category_scores"
    }

    public init(
        path: String, engine: EngineInfo, media: MediaSection, policies: [PolicyVerdict], pruning: PruningReport
    ) {
        self.path = path
        self.engine = engine
        self.media = media
        self.policies = policies
        self.pruning = pruning
        guardrail = Dictionary(uniqueKeysWithValues: policies.map { ("\($0.id)(\($0.name))", $0.verdict) })
        let unsafe: Bool? =
            policies.contains { $0.verdict == true }
            ? true : (policies.allSatisfy { $0.verdict == false } ? false : nil)
        self.unsafe = unsafe
        flagged = unsafe == true
        categories = Dictionary(uniqueKeysWithValues: policies.map { ($0.name, $0.verdict) })
        categoryScores = Dictionary(uniqueKeysWithValues: policies.map { ($0.name, $0.score) })
    }
}
