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
    public var settings: EngineSettings

    enum CodingKeys: String, CodingKey {
        case version, classifier, model, settings
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
    public var fps: Double?
    public var maxFrames: Int?
    public var rho: Float?
    public var tau: Float?
    public var lambda: Float?
    public var delta: Float?
    /// Patch embedding variant: `value`, `plain`, or `none` for classifiers without patches.
    public var variant: String
    public var minFlaggedFrames: Int

    enum CodingKeys: String, CodingKey {
        case sampling, fps, rho, tau, lambda, delta, variant
        case maxFrames = "F_max"
        case minFlaggedFrames = "min_flagged_frames"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sampling, forKey: .sampling)
        try c.encode(fps, forKey: .fps)
        try c.encode(maxFrames, forKey: .maxFrames)
        try c.encode(rho, forKey: .rho)
        try c.encode(tau, forKey: .tau)
        try c.encode(lambda, forKey: .lambda)
        try c.encode(delta, forKey: .delta)
        try c.encode(variant, forKey: .variant)
        try c.encode(minFlaggedFrames, forKey: .minFlaggedFrames)
    }
}

/// The media part of a report (SafeWatch §6.8 `video`; images are one-frame media).
public struct MediaSection: Sendable, Encodable {
    public var path: String
    public var kind: String
    public var durationSeconds: Double?
    public var framesSampled: [FrameInfo]
    /// Corrupt packets or frames skipped while decoding.
    public var framesSkipped: Int
    /// True when `--early-exit` stopped decoding because no verdict could change.
    public var earlyExit: Bool

    enum CodingKeys: String, CodingKey {
        case path, kind
        case durationSeconds = "duration_s"
        case framesSampled = "frames_sampled"
        case framesSkipped = "frames_skipped"
        case earlyExit = "early_exit"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(kind, forKey: .kind)
        try c.encode(durationSeconds, forKey: .durationSeconds)
        try c.encode(framesSampled, forKey: .framesSampled)
        try c.encode(framesSkipped, forKey: .framesSkipped)
        try c.encode(earlyExit, forKey: .earlyExit)
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
    public var unsafe: Bool?

    public var flagged: Bool { unsafe == true }

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
        if policies.contains(where: { $0.verdict == true }) {
            unsafe = true
        } else {
            unsafe = policies.allSatisfy({ $0.verdict == false }) ? false : nil
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(engine, forKey: .engine)
        try c.encode(media, forKey: .media)
        try c.encode(guardrail, forKey: .guardrail)
        try c.encode(policies, forKey: .policies)
        try c.encode(pruning, forKey: .pruning)
        try c.encode(unsafe, forKey: .unsafe)
        try c.encode(flagged, forKey: .flagged)
        try c.encode(Dictionary(uniqueKeysWithValues: policies.map { ($0.name, $0.verdict) }), forKey: .categories)
        try c.encode(Dictionary(uniqueKeysWithValues: policies.map { ($0.name, $0.score) }), forKey: .categoryScores)
    }
}
