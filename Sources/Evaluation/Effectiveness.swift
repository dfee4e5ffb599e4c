import Foundation
import GuardrailCore

/// What a classifier says about one item and one category.
public struct CategoryOutput: Sendable, Hashable, Codable {
    /// Higher means more unsafe; nil when the classifier gives only a decision.
    public var score: Double?
    /// The decision at the classifier's threshold; nil when it has none (an uncalibrated policy).
    public var unsafe: Bool?

    public init(score: Double?, unsafe: Bool?) {
        self.score = score
        self.unsafe = unsafe
    }
}

/// How a classifier's outputs become one decision per item (UnsafeBench spec §8).
public enum EvaluationMode: String, Sendable, Codable, CaseIterable {
    /// The decision on a slice of category X is the classifier's decision for X (its score for X).
    case categoryConditioned = "category-conditioned"
    /// The decision is "unsafe for any covered category" (the highest score), as UnsafeBench scores
    /// the conventional classifiers.
    case agnostic
}

/// A classifier's outputs over a data set: per item (by index into the data set), per category.
public struct ClassifierOutputs: Sendable {
    public var name: String
    /// The categories it covers; it is scored on those slices only.
    public var covers: [String]
    public var outputs: [Int: [String: CategoryOutput]]

    public init(name: String, covers: [String], outputs: [Int: [String: CategoryOutput]]) {
        self.name = name
        self.covers = covers
        self.outputs = outputs
    }

    /// The output that decides `item` under `mode`, or nil when the classifier said nothing of it.
    public func decisive(_ item: LabelledItem, index: Int, mode: EvaluationMode) -> CategoryOutput? {
        guard let all = outputs[index] else { return nil }
        switch mode {
        case .categoryConditioned: return all[item.category]
        case .agnostic:
            let covered = covers.compactMap { all[$0] }
            guard !covered.isEmpty else { return nil }
            let scores = covered.map(\.score)
            let decisions = covered.map(\.unsafe)
            let unsafe: Bool? =
                decisions.contains(true) ? true : decisions.contains(where: { $0 == nil }) ? nil : false
            return CategoryOutput(
                score: scores.contains(where: { $0 == nil }) ? nil : scores.compactMap { $0 }.max(), unsafe: unsafe)
        }
    }
}

/// Figures for the real images, the generated ones and both together (UnsafeBench reports all three).
public struct SourceBreakdown: Sendable, Hashable, Encodable {
    @NullEncodable public var real: BinaryMetrics?
    @NullEncodable public var generated: BinaryMetrics?
    public var both: BinaryMetrics
    /// F1 on real minus F1 on generated images, when both are defined.
    @NullEncodable public var realMinusGeneratedF1: Double?

    enum CodingKeys: String, CodingKey {
        case real, generated, both
        case realMinusGeneratedF1 = "real_minus_generated_f1"
    }

    init(_ rows: [(label: Bool, output: CategoryOutput, source: ImageSource?)]) {
        func metrics(_ selected: [(label: Bool, output: CategoryOutput, source: ImageSource?)]) -> BinaryMetrics {
            BinaryMetrics(
                labels: selected.map(\.label), predictions: selected.map(\.output.unsafe),
                scores: selected.map(\.output.score))
        }
        both = metrics(rows)
        let real = rows.filter { $0.source == .real }
        let generated = rows.filter { $0.source == .generated }
        self.real = real.isEmpty ? nil : metrics(real)
        self.generated = generated.isEmpty ? nil : metrics(generated)
        if let a = self.real?.f1, let b = self.generated?.f1 { realMinusGeneratedF1 = a - b }
    }
}

/// The effectiveness of one classifier on a data set.
public struct EffectivenessReport: Sendable, Encodable {
    public var classifier: String
    public var mode: EvaluationMode
    public var covers: [String]
    /// Categories of the data set the classifier does not cover: not applicable, never 0.
    public var notCovered: [String]
    /// Items of covered categories the classifier gave no output for (left out of its figures).
    public var missing: Int
    public var categories: [String: SourceBreakdown]
    /// Pooled over the items of every covered category.
    public var micro: SourceBreakdown
    /// Mean over covered categories of each category's figures, per source.
    public var macro: [String: MacroMetrics]

    enum CodingKeys: String, CodingKey {
        case classifier, mode, covers, missing, categories, micro, macro
        case notCovered = "not_covered"
    }

    /// Scores `outputs` on `items` (the data set's items at `indices`).
    public init(_ outputs: ClassifierOutputs, dataset: LabelledDataset, indices: [Int], mode: EvaluationMode) {
        classifier = outputs.name
        self.mode = mode
        let present = Set(indices.map { dataset.items[$0].category })
        covers = outputs.covers.filter(present.contains).sorted()
        notCovered = present.subtracting(outputs.covers).sorted()
        var rows: [String: [(label: Bool, output: CategoryOutput, source: ImageSource?)]] = [:]
        var missing = 0
        for index in indices {
            let item = dataset.items[index]
            guard outputs.covers.contains(item.category) else { continue }
            guard let output = outputs.decisive(item, index: index, mode: mode) else {
                missing += 1
                continue
            }
            rows[item.category, default: []].append((item.unsafe, output, item.source))
        }
        self.missing = missing
        let categories = rows.mapValues(SourceBreakdown.init)
        self.categories = categories
        let covered = covers.filter { rows[$0] != nil }
        micro = SourceBreakdown(covered.flatMap { rows[$0]! })
        let breakdowns = covered.map { categories[$0]! }
        macro = [
            "both": MacroMetrics(breakdowns.map(\.both)),
            "real": MacroMetrics(breakdowns.compactMap(\.real)),
            "generated": MacroMetrics(breakdowns.compactMap(\.generated)),
        ]
    }
}
