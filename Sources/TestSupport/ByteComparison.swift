import Foundation
import GuardrailCore

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
