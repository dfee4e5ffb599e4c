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
        guard let first = results.first else {
            throw VisionError.invalidInput("no prompts to write to \(path): every line was empty")
        }
        let length = first.original.count
        let d = first.original[0].count
        func tensor(_ rows: [[[Float]]]) -> SafeTensorsWriter.Entry {
            .init(Tensor(shape: [rows.count, length, d], scalars: rows.flatMap { $0.flatMap { $0 } }), half: half)
        }
        let metadata: [String: String] = [
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
        try SafeTensorsWriter.write(
            [
                "prompt_embeds": tensor(results.map(\.result.sanitized)),
                "original_prompt_embeds": tensor(results.map(\.original)),
                "negative_prompt_embeds": tensor(Array(repeating: sanitizer.negative, count: results.count)),
            ], metadata: metadata, to: path)
    }
}
