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

/// The worst element of a comparison between two byte arrays of equal length.
public struct ByteComparison: CustomStringConvertible, Sendable {
    public var maxAbsDiff: Int
    public var worstIndex: Int
    public var meanAbsDiff: Double

    /// Compares `actual` with `expected` element by element.
    public init(_ actual: [UInt8], _ expected: [UInt8]) {
        precondition(actual.count == expected.count, "compare arrays of equal length")
        var worst = 0
        var index = 0
        var total = 0
        for i in actual.indices {
            let d = abs(Int(actual[i]) - Int(expected[i]))
            total += d
            if d > worst {
                worst = d
                index = i
            }
        }
        maxAbsDiff = worst
        worstIndex = index
        meanAbsDiff = actual.isEmpty ? 0 : Double(total) / Double(actual.count)
    }

    public var description: String {
        "max abs diff \(maxAbsDiff) at byte \(worstIndex) (pixel \(worstIndex / 3), channel \(worstIndex % 3)), mean \(meanAbsDiff)"
    }
}

/// The seeded generator of GuardrailCore, under the name the tests use.
public typealias SeededGenerator = SplitMix64
