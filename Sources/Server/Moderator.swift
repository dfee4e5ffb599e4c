import Foundation
import GuardrailEngine
import Media
import Sanitizer

/// What the server runs requests on: the loaded classifier (read-only, shared by every worker)
/// and, when a text encoder was loaded, the prompt sanitizer.
public final class Moderator: Sendable {
    public let classifier: any MediaClassifier
    public let sanitizer: PromptSanitizer?
    /// The model name reported in moderation responses.
    public let modelName: String

    public init(classifier: any MediaClassifier, sanitizer: PromptSanitizer?, modelName: String) {
        self.classifier = classifier
        self.sanitizer = sanitizer
        self.modelName = modelName
    }

    /// Scans the file at `path` (a server-side temporary file or upload), reporting it under the
    /// client's `name` so no server path reaches a response.
    func scan(path: String, name: String, progress: (Int) -> Void = { _ in }) throws -> ScanReport {
        var report = try classifier.scan(path: path, progress: progress).get()
        report.path = name
        report.media.path = name
        return report
    }
}
