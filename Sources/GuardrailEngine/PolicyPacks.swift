import Foundation

/// Where the shipped policy packs and SAFREE concept sets are: `$GUARDRAIL_POLICIES` when set,
/// else the `policies` folder among the engine module's resources. SwiftPM puts those in
/// `guardrail_GuardrailEngine.resources` beside the executable when it is installed that way
/// (as `deploy/Dockerfile` does), and otherwise finds them in the build folder, so a copy of the
/// binary works from any folder.
public enum PolicyPacks {
    /// The shipped packs' folder.
    public static func folder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let folder = environment["GUARDRAIL_POLICIES"], !folder.isEmpty { return folder }
        return shipped
    }

    private static let shipped: String =
        Bundle.module.url(forResource: "policies", withExtension: nil)?.path
        ?? Bundle.module.bundlePath + "/policies"

    /// The default pack, UnsafeBench's eleven categories.
    public static var unsafeBench: String { folder() + "/unsafebench.json" }

    /// The shipped SAFREE concept sets.
    public static var concepts: String { folder() + "/concepts" }
}
