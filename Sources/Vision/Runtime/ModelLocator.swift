import Foundation

/// Finds a model: a folder path, or a Hugging Face repo id (`org/name`) resolved offline in the
/// local Hugging Face cache exactly as `transformers` does with `HF_HUB_OFFLINE=1`. Nothing is
/// ever downloaded.
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

    /// The folder holding a model's tokenizer files: the model folder, or the `tokenizer/` folder
    /// beside a Stable Diffusion `text_encoder/`.
    public static func tokenizerFolder(forModel folder: String) -> String {
        let fm = FileManager.default
        for candidate in [folder, folder + "/../tokenizer"] {
            if fm.fileExists(atPath: candidate + "/vocab.json")
                || fm.fileExists(atPath: candidate + "/bpe_simple_vocab_16e6.txt.gz")
            {
                return (candidate as NSString).standardizingPath
            }
        }
        return folder
    }

    /// A Stable Diffusion pipeline folder (with `text_encoder/`) stands for its text encoder.
    public static func modelFolder(_ folder: String) -> String {
        let fm = FileManager.default
        if !fm.fileExists(atPath: folder + "/config.json"), fm.fileExists(atPath: folder + "/text_encoder/config.json")
        {
            return folder + "/text_encoder"
        }
        return folder
    }
}
