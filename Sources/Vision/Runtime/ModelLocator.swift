import Foundation

/// Finds a model's folder: a folder path, or a Hugging Face repo id (`org/name`) resolved offline
/// in the local Hugging Face cache exactly as `transformers` does with `HF_HUB_OFFLINE=1`. Nothing
/// is ever downloaded. ``ModelBundle`` builds on it; callers use the bundle.
public enum ModelLocator {
    /// The cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    public static func cacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let hub = environment["HF_HUB_CACHE"], !hub.isEmpty { return hub }
        if let home = environment["HF_HOME"], !home.isEmpty { return home + "/hub" }
        let user = environment["HOME"] ?? NSHomeDirectory()
        return user + "/.cache/huggingface/hub"
    }

    /// The folder for `reference`: the path itself when it is a folder, otherwise the snapshot of
    /// the repo id that `refs/main` names (or the only snapshot there is).
    public static func resolve(
        _ reference: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(VisionError) -> String {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: reference, isDirectory: &isFolder), isFolder.boolValue {
            return reference
        }
        let parts = reference.split(separator: "/", omittingEmptySubsequences: false)
        let looksLikeRepo =
            parts.count == 2 && !reference.hasPrefix(".") && parts.allSatisfy { !$0.isEmpty && !$0.contains("..") }
        guard looksLikeRepo else { throw VisionError.modelNotFound(reference: reference, searched: [reference]) }
        let cache = cacheFolder(environment: environment)
        let repo = cache + "/models--" + parts.joined(separator: "--")
        let snapshots = repo + "/snapshots"
        if let revision = try? String(contentsOfFile: repo + "/refs/main", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !revision.isEmpty
        {
            let folder = snapshots + "/" + revision
            if FileManager.default.fileExists(atPath: folder) { return folder }
        }
        let available = (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? []
        if available.count == 1 { return snapshots + "/" + available[0] }
        throw VisionError.modelNotFound(
            reference: reference,
            searched: [
                reference, repo + "/refs/main",
                snapshots + (available.isEmpty ? "" : " (\(available.count) snapshots, no refs/main)"),
            ])
    }
}
