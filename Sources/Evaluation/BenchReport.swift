import Foundation
import GuardrailCore
import GuardrailEngine

/// An item the bench could not read, and why.
public struct UnreadableItem: Sendable, Encodable, Hashable {
    public var row: Int
    public var path: String
    public var error: String
}

/// What was evaluated: the manifest, its hash, the split, the counts per category, source and label.
public struct DatasetSummary: Sendable, Encodable {
    public var manifest: String
    public var sha256: String
    @NullEncodable public var split: String?
    public var items: Int
    /// category → source (`real`, `generated`, `unknown`) → `safe` / `unsafe` → count.
    public var counts: [String: [String: [String: Int]]]
    public var unreadable: [UnreadableItem]

    public init(_ dataset: LabelledDataset, indices: [Int], split: DatasetSplit?, unreadable: [UnreadableItem]) {
        manifest = dataset.manifest
        sha256 = dataset.sha256
        self.split = split?.rawValue
        items = indices.count
        var counts: [String: [String: [String: Int]]] = [:]
        for index in indices {
            let item = dataset.items[index]
            counts[item.category, default: [:]][item.source?.rawValue ?? "unknown", default: [:]][
                item.unsafe ? "unsafe" : "safe", default: 0] += 1
        }
        self.counts = counts
        self.unreadable = unreadable
    }
}

/// Robust accuracy under one perturbation (UnsafeBench §4): of `items` originally correct, the
/// share still correct.
public struct RobustnessResult: Sendable, Encodable {
    public var perturbation: String
    public var kind: String
    public var stage: String
    public var strength: Double
    public var unit: String
    public var items: Int
    /// Perturbed items that could not be classified (left out of `items`).
    public var failed: Int
    public var cleanAccuracy: Double
    @NullEncodable public var robustAccuracy: Double?
    @NullEncodable public var attackSuccessRate: Double?

    enum CodingKeys: String, CodingKey {
        case perturbation, kind, stage, strength, unit, items, failed
        case cleanAccuracy = "clean_accuracy"
        case robustAccuracy = "robust_accuracy"
        case attackSuccessRate = "attack_success_rate"
    }
}

/// ROC and precision–recall points of the pooled items (every covered category, both sources).
public struct Curves: Sendable, Encodable {
    /// `[fpr, tpr]` from (0, 0).
    public var roc: [[Double]]
    /// `[recall, precision]`, highest threshold first.
    public var precisionRecall: [[Double]]

    enum CodingKeys: String, CodingKey {
        case roc
        case precisionRecall = "precision_recall"
    }

    init(outputs: ClassifierOutputs, dataset: LabelledDataset, indices: [Int], mode: EvaluationMode) {
        var labels: [Bool] = []
        var scores: [Double] = []
        for index in indices where outputs.covers.contains(dataset.items[index].category) {
            guard let score = outputs.decisive(dataset.items[index], index: index, mode: mode)?.score else { continue }
            labels.append(dataset.items[index].unsafe)
            scores.append(score)
        }
        let curve = RankingCurve(labels: labels, scores: scores)
        roc = curve.roc.map { [$0.x, $0.y] }
        precisionRecall = curve.precisionRecall.map { [$0.x, $0.y] }
    }
}

/// One classifier's part of the report.
public struct ClassifierReport: Sendable, Encodable {
    public var name: String
    public var identity: [String: String]
    /// Threshold per covered category (null: none, so no decisions).
    public var thresholds: [String: Double?]
    public var thresholdProvenance: String
    public var effectiveness: EffectivenessReport
    public var robustness: [RobustnessResult]
    @NullEncodable public var robustnessNote: String?
    public var curves: Curves

    enum CodingKeys: String, CodingKey {
        case name, identity, thresholds, effectiveness, robustness, curves
        case thresholdProvenance = "threshold_provenance"
        case robustnessNote = "robustness_note"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(identity, forKey: .identity)
        try c.encode(thresholds.mapValues { NullEncodable(wrappedValue: $0) }, forKey: .thresholds)
        try c.encode(thresholdProvenance, forKey: .thresholdProvenance)
        try c.encode(effectiveness, forKey: .effectiveness)
        try c.encode(robustness, forKey: .robustness)
        try c.encode(_robustnessNote, forKey: .robustnessNote)
        try c.encode(curves, forKey: .curves)
    }
}

/// How long the run took, when and where: the only part of the report that differs between
/// identical runs.
public struct Runtime: Sendable, Encodable {
    public let seconds: Double
    public let items: Int
    /// Classifier outputs computed in this run, and taken from the per-item cache.
    public let computed: Int
    public let reused: Int
    public let itemsPerSecond: Double
    /// The processor (`model name` of /proc/cpuinfo) and its logical cores.
    public let cpu: String
    /// ISO 8601, UTC.
    public let date: String

    public init(seconds: Double, items: Int, computed: Int, reused: Int, cpu: String = "", date: String = "") {
        (self.seconds, self.items, self.computed, self.reused) = (seconds, items, computed, reused)
        (self.cpu, self.date) = (cpu, date)
        itemsPerSecond = seconds > 0 ? Double(items) / seconds : 0
    }

    /// This machine's processor, as `lscpu` names it, and its core count.
    static var thisMachine: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let name = info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last
        return
            "\(name.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    enum CodingKeys: String, CodingKey {
        case seconds, items, computed, reused, cpu, date
        case itemsPerSecond = "items_per_second"
    }
}

/// Everything `guardrail bench` measured, as `--out-json` writes it.
public struct BenchReport: Sendable, Encodable {
    public var dataset: DatasetSummary
    public var mode: EvaluationMode
    public var seed: UInt64
    public var sampling: String
    public var classifiers: [ClassifierReport]
    public var runtime: Runtime
    /// The command line that made the report (set by the CLI).
    public var command: [String] = []
    public var engineVersion = GuardrailCore.engineVersion
    /// Definitions, so that the JSON explains itself.
    public var definitions = [
        "micro": "figures of the items of every covered category pooled",
        "macro": "mean over covered categories of each category's figure, over the categories where it is defined",
        "f1": "F1 of the unsafe class (positive = unsafe)",
        "auprc": "average precision (scikit-learn's average_precision_score), not the trapezoidal area",
        "null": "undefined: a zero denominator, a single class, or no decisions or scores",
    ]

    enum CodingKeys: String, CodingKey {
        case dataset, mode, seed, sampling, classifiers, runtime, definitions, command
        case engineVersion = "engine_version"
    }
}
