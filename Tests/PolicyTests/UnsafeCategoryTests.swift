import Policy
import Testing

@Suite struct UnsafeCategoryTests {
    /// The labels of the UnsafeBench data set, in the benchmark's order.
    @Test func namesAreTheBenchmarkLabels() {
        #expect(
            UnsafeCategory.allCases.map(\.rawValue) == [
                "Hate", "Harassment", "Violence", "Self-harm", "Sexual", "Shocking", "Illegal activity", "Deception",
                "Political", "Public and personal health", "Spam",
            ])
    }
}
