import Foundation

/// SplitMix64, with Box–Muller normals: a small generator whose draws repeat with the seed, for
/// everything seeded (the bench's noise and draws, cross-validation folds, tests' mutations).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spare: Double?

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    public mutating func nextUniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }

    /// Standard normal.
    public mutating func nextGaussian() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        let (u, v) = (nextUniform(), nextUniform())
        let r = (-2 * log(u)).squareRoot()
        spare = r * sin(2 * .pi * v)
        return r * cos(2 * .pi * v)
    }

    /// A seed mixed from several values (the run's seed, an item, a perturbation's name).
    public static func seed(_ parts: [UInt64]) -> UInt64 {
        var state = SplitMix64(seed: 0x5EED)
        var out: UInt64 = 0
        for part in parts {
            state.state ^= part
            out = state.next()
        }
        return out
    }
}
