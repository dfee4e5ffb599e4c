import Foundation

/// Where the shipped policy packs and SAFREE concept sets are: `$GUARDRAIL_POLICIES`, else the
/// `policies/` folder of the checkout the executable was built in (up to four folders above it),
/// else `./policies`.
public enum PolicyPacks {
    /// The shipped packs' folder.
    public static func folder(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: String = CommandLine.arguments[0]
    ) -> String {
        if let folder = environment["GUARDRAIL_POLICIES"], !folder.isEmpty { return folder }
        var url = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent("policies")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("unsafebench.json").path) {
                return candidate.path
            }
            url.deleteLastPathComponent()
        }
        return "policies"
    }

    /// The default pack, UnsafeBench's eleven categories.
    public static var unsafeBench: String { folder() + "/unsafebench.json" }

    /// The shipped SAFREE concept sets.
    public static var concepts: String { folder() + "/concepts" }
}
