import Foundation
import GuardrailCore
import Vision

/// A named list of toxic concept phrases whose pooled text embeddings span the subspace SAFREE
/// steers away from. Files hold one concept per line (`#` starts a comment).
public struct ConceptSet: Sendable, Hashable {
    public var name: String
    public var concepts: [String]
    /// SHA-256 of the concept list (one per line), for caches and reports.
    public var sha256: String

    public init(name: String, concepts: [String]) {
        self.name = name
        self.concepts = concepts
        sha256 = ContentHash.hex(Array(concepts.joined(separator: "\n").utf8))
    }

    /// A shipped set by name (`nudity`, `violence`, `hate`, `self-harm`, `illegal-activity`,
    /// `shocking`) from `folder`, or a file path.
    public static func load(_ nameOrPath: String, folder: String) throws(VisionError) -> ConceptSet {
        let isPath = nameOrPath.contains("/") || nameOrPath.hasSuffix(".txt")
        let path = isPath ? nameOrPath : folder + "/" + nameOrPath + ".txt"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let shipped = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .filter { $0.hasSuffix(".txt") }.map { String($0.dropLast(4)) }.sorted()
            throw VisionError.invalidConfiguration(
                path: path,
                message:
                    "unknown concept set \(nameOrPath); shipped sets: \(shipped.joined(separator: ", ")), or give a file"
            )
        }
        let concepts = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !concepts.isEmpty else { throw VisionError.invalidConfiguration(path: path, message: "no concepts") }
        let name = isPath ? ((path as NSString).lastPathComponent as NSString).deletingPathExtension : nameOrPath
        return ConceptSet(name: name, concepts: concepts)
    }

    /// The reference pipeline's negative prompt: the concepts joined by ", ".
    public var negativePrompt: String { concepts.joined(separator: ", ") }
}
