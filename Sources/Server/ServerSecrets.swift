import Compute
import Foundation
import GuardrailCore
import GuardrailEngine
import Policy
import Sanitizer
import Vision

extension ServerConfiguration {
    /// Reads the bearer tokens (one per line, blank lines skipped) from `file`; a file without any
    /// is an error, so a typo cannot turn authentication off.
    public mutating func readAuthTokens(from file: String) throws(CoreError) {
        let tokens = try Self.read(file).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !tokens.isEmpty else { throw CoreError(path: file, message: "no tokens in the file") }
        authTokens = tokens
    }

    /// Reads the secret callbacks are signed with from `file` (surrounding white space dropped);
    /// at least 16 characters.
    public mutating func readCallbackSecret(from file: String) throws(CoreError) {
        let secret = Array(try Self.read(file).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard secret.count >= 16 else {
            throw CoreError(path: file, message: "the callback secret must be at least 16 characters")
        }
        callbackSecret = secret
    }

    private static func read(_ file: String) throws(CoreError) -> String {
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw CoreError(path: file, message: "cannot read the file: \(error.localizedDescription)")
        }
    }
}

extension PromptSanitizer {
    /// The sanitizer `sanitize` and `serve` run: the text encoder `textEncoder` (a folder, pipeline
    /// folder or repo id) and a concept set by name or file, else the one `policy`'s pack names,
    /// else `nudity`.
    public static func load(
        textEncoder: String, concepts: String?, policy: String?, alpha: Double, projectEOS: Bool,
        compute: ComputeConfiguration, cache: ArtifactCache?
    ) throws -> PromptSanitizer {
        let packConcepts = try policy.map { try PolicySet.load($0).concepts } ?? nil
        let set = try ConceptSet.load(concepts ?? packConcepts ?? "nudity", folder: PolicyPacks.concepts)
        var settings = SAFREESettings(conceptSet: set.name)
        settings.alpha = alpha
        settings.projectEOSAndPadding = projectEOS
        return try PromptSanitizer(
            bundle: ModelBundle(textEncoder, hashCache: cache), concepts: set, settings: settings, compute: compute,
            cache: cache)
    }
}
