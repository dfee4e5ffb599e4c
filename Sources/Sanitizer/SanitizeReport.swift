import GuardrailCore

/// One prompt's SAFREE result as `guardrail sanitize --json` prints it: ids, tokens with their
/// distances and thresholds, triggers, β, t′ and how much the embeddings changed.
public struct SanitizeReport: Sendable, Encodable {
    public struct Token: Sendable, Encodable {
        public var position: Int
        public var token: String
        public var id: Int
        public var distance: Double
        @NullEncodable public var threshold: Double?
        public var trigger: Bool
    }

    public var prompt: String
    public var inputIDs: [Int]
    public var truncated: Bool
    public var tokens: [Token]
    public var triggerPositions: [Int]
    public var beta: Double
    public var tPrime: Int
    public var filteredSteps: Int
    public var changed: Bool
    public var cosine: Double
    public var looUndefined: Bool
    @NullEncodable public var skipped: String?
    public var conceptSet: String
    public var conceptSHA256: String
    public var alpha: Double

    enum CodingKeys: String, CodingKey {
        case prompt, truncated, tokens, beta, changed, cosine, skipped, alpha
        case inputIDs = "input_ids"
        case triggerPositions = "trigger_positions"
        case tPrime = "t_prime"
        case filteredSteps = "filtered_steps"
        case looUndefined = "loo_undefined"
        case conceptSet = "concept_set"
        case conceptSHA256 = "concept_sha256"
    }

    public init(_ result: SanitizedPrompt, sanitizer: PromptSanitizer) {
        prompt = result.prompt
        inputIDs = result.inputIDs
        truncated = result.truncated
        let triggers = Set(result.result.triggerPositions)
        tokens = result.tokens.indices.map { i in
            Token(
                position: i + 1, token: result.tokens[i], id: result.inputIDs[i + 1],
                distance: result.result.distances[i],
                threshold: result.result.thresholds[i].isNaN ? nil : result.result.thresholds[i],
                trigger: triggers.contains(i + 1))
        }
        triggerPositions = result.result.triggerPositions
        beta = result.result.beta
        tPrime = result.result.tPrime
        filteredSteps = result.result.tPrime + 1
        changed = result.changed
        cosine = result.cosine
        looUndefined = result.result.looUndefined
        skipped = result.result.skipped
        conceptSet = sanitizer.concepts.name
        conceptSHA256 = sanitizer.concepts.sha256
        alpha = sanitizer.settings.alpha
    }

}
