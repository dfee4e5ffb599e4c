import Evaluation
import Foundation
import GuardrailCore
import TestSupport
import Testing

/// Every figure of `guardrail bench` against scikit-learn's on committed prediction files
/// (`scripts/gen_metric_goldens.py`): ties in scores, a single-class category, items a classifier
/// left out, label-only and score-only classifiers, both evaluation modes.
@Suite struct MetricsTests {
    static let dataset = try! LabelledDataset(manifest: Fixtures.path("bench/metrics/manifest.csv"))
    static func goldens() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/bench/metrics.json")))
        return try #require(
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["classifiers"] as? [String: Any])
    }

    @Test(arguments: ["a.csv", "b.jsonl", "c.csv"], EvaluationMode.allCases)
    func figuresMatchScikitLearn(file: String, mode: EvaluationMode) throws {
        let path = Fixtures.path("bench/metrics/" + file)
        let name = String(file.prefix(1))
        var unmatched: [String] = []
        let outputs = try PredictionFile.outputs(
            try PredictionFile.read(path), name: name, dataset: Self.dataset, file: path, unmatched: &unmatched)
        #expect(unmatched.isEmpty)
        let report = EffectivenessReport(
            outputs, dataset: Self.dataset, indices: Array(Self.dataset.items.indices), mode: mode)
        let ours = try JSONSerialization.jsonObject(with: Data(try JSONText.compact(report).utf8))
        let golden = try #require((try Self.goldens()[name] as? [String: Any])?[mode.rawValue])
        var mismatches: [String] = []
        Self.compare(ours, golden, at: "\(name)/\(mode.rawValue)", into: &mismatches)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    /// Every key of `expected` is in `actual` with the same value (numbers within 1e-9, nulls exact).
    static func compare(_ actual: Any?, _ expected: Any?, at path: String, into mismatches: inout [String]) {
        switch expected {
        case let object as [String: Any]:
            guard let actual = actual as? [String: Any] else {
                mismatches.append("\(path): expected an object, got \(String(describing: actual))")
                return
            }
            for (key, value) in object { compare(actual[key], value, at: path + "." + key, into: &mismatches) }
        case is NSNull, nil:
            if !(actual is NSNull) { mismatches.append("\(path): expected null, got \(String(describing: actual))") }
        case let number as NSNumber:
            guard let actual = actual as? NSNumber, abs(actual.doubleValue - number.doubleValue) <= 1e-9 else {
                mismatches.append("\(path): expected \(number), got \(String(describing: actual))")
                return
            }
        default:
            mismatches.append("\(path): unexpected golden \(String(describing: expected))")
        }
    }

    /// Tied scores are one threshold: a ranking of two tied items (one of each class) has AUROC 0.5
    /// and AP 0.5, whatever their order.
    @Test func tiesAreOneThreshold() {
        for labels in [[true, false], [false, true]] {
            let m = BinaryMetrics(labels: labels, predictions: [true, true], scores: [0.3, 0.3])
            #expect(m.auroc == 0.5 && m.auprc == 0.5)
        }
        let single = BinaryMetrics(labels: [false, false], predictions: [false, true], scores: [0.1, 0.9])
        #expect(single.auroc == nil && single.auprc == nil && single.precision == 0 && single.recall == nil)
        let undecided = BinaryMetrics(labels: [true, false], predictions: [nil, nil], scores: [0.9, 0.1])
        #expect(undecided.f1 == nil && undecided.accuracy == nil && undecided.auroc == 1 && undecided.undecided == 2)
    }
}
