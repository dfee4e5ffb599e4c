import Compute
import Foundation
import GuardrailCore
import Vision

/// The file `guardrail sanitize --out` writes for diffusers: `prompt_embeds` (sanitized),
/// `original_prompt_embeds` and `negative_prompt_embeds`, each `[B, 77, D]`, with the prompts and
/// SAFREE's per-prompt numbers as JSON strings in the metadata.
public enum DiffusersEmbeddings {
    /// Writes `results` atomically to `path`, as float16 when `half`.
    public static func write(_ results: [SanitizedPrompt], sanitizer: PromptSanitizer, half: Bool, to path: String)
        throws
    {
        guard !results.isEmpty else {
            throw VisionError.invalidInput("no prompts to write to \(path): every line was empty")
        }
        try SafeTensorsWriter.write(
            entries(results, sanitizer: sanitizer, half: half), metadata: try metadata(results, sanitizer: sanitizer),
            to: path)
    }

    /// The file's bytes (what the server sends for `Accept: application/octet-stream`).
    public static func encode(_ results: [SanitizedPrompt], sanitizer: PromptSanitizer, half: Bool) throws
        -> [UInt8]
    {
        guard !results.isEmpty else { throw VisionError.invalidInput("no prompts to encode") }
        return SafeTensorsWriter.encode(
            entries(results, sanitizer: sanitizer, half: half), metadata: try metadata(results, sanitizer: sanitizer))
    }

    private static func entries(_ results: [SanitizedPrompt], sanitizer: PromptSanitizer, half: Bool) -> [String:
        SafeTensorsWriter.Entry]
    {
        let first = results[0]
        let length = first.original.count
        let d = first.original[0].count
        func tensor(_ rows: [[[Float]]]) -> SafeTensorsWriter.Entry {
            .init(Tensor(shape: [rows.count, length, d], scalars: rows.flatMap { $0.flatMap { $0 } }), half: half)
        }
        return [
            "prompt_embeds": tensor(results.map(\.result.sanitized)),
            "original_prompt_embeds": tensor(results.map(\.original)),
            "negative_prompt_embeds": tensor(Array(repeating: sanitizer.negative, count: results.count)),
        ]
    }

    private static func metadata(_ results: [SanitizedPrompt], sanitizer: PromptSanitizer) throws -> [String: String] {
        [
            "prompts": try JSONText.compact(results.map(\.prompt)),
            "t_prime": try JSONText.compact(results.map(\.result.tPrime)),
            "beta": try JSONText.compact(results.map(\.result.beta)),
            "trigger_positions": try JSONText.compact(results.map(\.result.triggerPositions)),
            "concept_set": sanitizer.concepts.name,
            "concept_sha256": sanitizer.concepts.sha256,
            "model_sha256": sanitizer.modelSHA256,
            "alpha": String(sanitizer.settings.alpha),
            "num_inference_steps_reference": "50",
        ]
    }
}
