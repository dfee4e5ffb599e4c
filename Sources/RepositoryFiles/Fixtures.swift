import Foundation
import GuardrailCore

/// Locates the repository's `fixtures/` folder by walking up from this source file, so tests
/// find fixtures from any working directory without SwiftPM resources.
public enum Fixtures {
    /// The absolute path of `fixtures/`.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            let candidate = url.appendingPathComponent("fixtures")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("goldens").path) {
                return candidate.path
            }
            url.deleteLastPathComponent()
        }
        fatalError("fixtures/ not found above \(#filePath)")
    }()

    /// The absolute path of a file below `fixtures/`.
    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// The `guardrail` executable SwiftPM built beside the running test bundle (test targets that
    /// run it depend on it), else the debug build's.
    public static let guardrailExecutable: String = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [beside, beside.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("guardrail").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return URL(fileURLWithPath: root).deletingLastPathComponent().appendingPathComponent(".build/debug/guardrail")
            .path
    }()

    /// The bytes of a file below `fixtures/`.
    public static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    /// The names of the files in a folder below `fixtures/`, sorted.
    public static func list(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(folder)).sorted()
    }
}
