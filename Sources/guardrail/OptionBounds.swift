import ArgumentParser

/// The finite ranges numeric options take. `Double` options parse `inf`, `nan` and `1e13` too, and
/// a value that large overflows the clocks and counters it becomes: every one is checked here, so a
/// bad value is a usage error naming the flag and its range (status 64), never a trap.
enum OptionBounds {
    /// Durations in seconds: a millisecond up to a week.
    static let seconds: ClosedRange<Double> = 0.001...(7 * 24 * 3600)
    /// Durations that may be zero (a shutdown grace): up to a week.
    static let secondsOrNone: ClosedRange<Double> = 0...(7 * 24 * 3600)
    /// Worker threads, jobs and workers.
    static let workers: ClosedRange<Int> = 1...1024

    /// Throws unless `value` (when given) is a finite number inside `range`.
    static func check(_ value: Double?, _ flag: String, _ range: ClosedRange<Double>) throws {
        guard let value else { return }
        guard value.isFinite, range.contains(value) else {
            throw ValidationError(
                "\(flag) takes a number from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }

    /// Throws unless `value` (when given) is inside `range`.
    static func check<T: BinaryInteger>(_ value: T?, _ flag: String, _ range: ClosedRange<T>) throws {
        guard let value else { return }
        guard range.contains(value) else {
            throw ValidationError(
                "\(flag) takes a whole number from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }
}
