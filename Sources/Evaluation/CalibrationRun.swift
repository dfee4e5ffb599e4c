import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail calibrate` as a library call: the thresholds fitted on the train split from a bench
/// run's scores, the calibrated copy of the policies or heads written, and the test split's
/// report at those thresholds.
public struct CalibrationRun: Sendable {
    /// One per category the classifier covers and the train split holds, in the classifier's order.
    public var fitted: [CalibratedThreshold]
    /// The reachable thresholds by category.
    public var thresholds: [String: Double]
    /// The test split's figures at ``thresholds``; nil without a test split.
    public var testReport: BenchReport?

    /// Fits a threshold per category on the train split of `runner`'s outputs for its one
    /// classifier (`uncalibrated`: the report that run gave), toward `target`; `destination`
    /// names where the calibrated copy goes, for the report's provenance.
    public init(
        runner: BenchRunner, uncalibrated: BenchReport, target: CalibrationTarget, destination: String
    ) {
        let (dataset, classifier, outputs) = (runner.dataset, runner.classifiers[0], runner.outputs[0])
        var fitted: [CalibratedThreshold] = []
        var seen = Set<String>()
        for category in classifier.covers where !seen.contains(category) {
            let train = dataset.items.indices.filter {
                dataset.items[$0].split == .train && dataset.items[$0].category == category
            }
            // An item every frame of which an allowed rule exempts is never flagged, at any threshold.
            let scored = train.compactMap { i in
                outputs.outputs[i]?[category]?.score.map {
                    (dataset.items[i].unsafe, $0 <= Double(ZeroShotClassifier.exemptedScore) ? -Double.infinity : $0)
                }
            }
            guard !train.isEmpty else { continue }
            seen.insert(category)
            fitted.append(
                CalibratedThreshold(
                    category: category, labels: scored.map(\.0), scores: scored.map(\.1), target: target))
        }
        let thresholds = Dictionary(fitted.compactMap { f in f.threshold.map { (f.category, $0) } }) { a, _ in a }
        self.fitted = fitted
        self.thresholds = thresholds
        testReport = Self.testReport(
            runner: runner, uncalibrated: uncalibrated, thresholds: thresholds,
            provenance: "calibrated on the train split (\(target)), written to \(destination)")
    }

    /// The test split's report with every score decided at `thresholds` (the scores already
    /// computed: nothing is run again).
    private static func testReport(
        runner: BenchRunner, uncalibrated: BenchReport, thresholds: [String: Double], provenance: String
    ) -> BenchReport? {
        let (dataset, outputs) = (runner.dataset, runner.outputs[0])
        var decided = outputs
        for (index, byCategory) in outputs.outputs {
            decided.outputs[index] = Dictionary(
                uniqueKeysWithValues: byCategory.map { category, output in
                    let unsafe = output.score.flatMap { score in thresholds[category].map { score >= $0 } }
                    return (category, CategoryOutput(score: output.score, unsafe: unsafe))
                })
        }
        let test = dataset.items.indices.filter { dataset.items[$0].split == .test }
        guard !test.isEmpty else { return nil }
        let unreadable = Set(uncalibrated.dataset.unreadable.map(\.row))
        let readableTest = test.filter { !unreadable.contains(dataset.items[$0].row) }
        var report = uncalibrated
        report.dataset = DatasetSummary(
            dataset, indices: test, split: .test, unreadable: uncalibrated.dataset.unreadable)
        report.classifiers[0].effectiveness = EffectivenessReport(
            decided, dataset: dataset, indices: readableTest, mode: .categoryConditioned)
        report.dataset.unreadable = uncalibrated.dataset.unreadable.filter { item in
            test.contains { dataset.items[$0].row == item.row }
        }
        report.classifiers[0].thresholds = thresholds.mapValues { Optional($0) }
        report.classifiers[0].thresholdProvenance = provenance
        return report
    }
}
