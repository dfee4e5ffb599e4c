import GuardrailCore

/// Binary effectiveness figures of the unsafe class, as scikit-learn computes them (positive = unsafe):
/// a figure whose denominator is zero is nil (JSON null), never 0.
public struct BinaryMetrics: Sendable, Hashable, Encodable {
    public var n: Int
    public var tp: Int
    public var fp: Int
    public var tn: Int
    public var fn: Int
    /// Items with a label but no decision (an uncalibrated threshold); counted in `n`, not in the confusion counts.
    public var undecided: Int
    @NullEncodable public var precision: Double?
    @NullEncodable public var recall: Double?
    @NullEncodable public var f1: Double?
    @NullEncodable public var accuracy: Double?
    @NullEncodable public var falsePositiveRate: Double?
    /// `roc_auc_score`: nil when only one class is present or an item has no score.
    @NullEncodable public var auroc: Double?
    /// `average_precision_score` (step-wise, not trapezoidal): nil without positives or with an item without a score.
    @NullEncodable public var auprc: Double?

    enum CodingKeys: String, CodingKey {
        case n, tp, fp, tn, fn, undecided, precision, recall, f1, accuracy, auroc, auprc
        case falsePositiveRate = "fpr"
    }

    /// Figures of `labels` (true = unsafe) against `predictions` (nil = no decision) and `scores`
    /// (higher = more unsafe; nil where the classifier gives none).
    public init(labels: [Bool], predictions: [Bool?], scores: [Double?]) {
        precondition(labels.count == predictions.count && labels.count == scores.count)
        n = labels.count
        (tp, fp, tn, fn, undecided) = (0, 0, 0, 0, 0)
        for (label, prediction) in zip(labels, predictions) {
            switch (label, prediction) {
            case (_, nil): undecided += 1
            case (true, true): tp += 1
            case (false, true): fp += 1
            case (false, false): tn += 1
            case (true, false): fn += 1
            }
        }
        let decided = tp + fp + tn + fn
        func ratio(_ a: Int, _ b: Int) -> Double? { b == 0 || undecided > 0 ? nil : Double(a) / Double(b) }
        precision = ratio(tp, tp + fp)
        recall = ratio(tp, tp + fn)
        f1 = ratio(2 * tp, 2 * tp + fp + fn)
        accuracy = ratio(tp + tn, decided)
        falsePositiveRate = ratio(fp, fp + tn)
        let scored = scores.compactMap { $0 }
        if scored.count == n, n > 0 {
            let curve = RankingCurve(labels: labels, scores: scored)
            auroc = curve.areaUnderROC
            auprc = curve.averagePrecision
        }
    }
}

/// The points of a score ranking at each distinct score, highest first, as scikit-learn's
/// `roc_curve` and `precision_recall_curve` take them (tied scores are one threshold).
public struct RankingCurve: Sendable {
    /// Cumulative (true positives, false positives) at each distinct threshold, descending.
    public let points: [(tp: Int, fp: Int, threshold: Double)]
    public let positives: Int
    public let negatives: Int

    public init(labels: [Bool], scores: [Double]) {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points: [(tp: Int, fp: Int, threshold: Double)] = []
        var (tp, fp) = (0, 0)
        for (rank, i) in order.enumerated() {
            if labels[i] { tp += 1 } else { fp += 1 }
            let last = rank == order.count - 1
            if last || scores[order[rank + 1]] != scores[i] { points.append((tp, fp, scores[i])) }
        }
        self.points = points
        positives = tp
        negatives = fp
    }

    /// Trapezoidal area under (FPR, TPR) from (0, 0); nil unless both classes are present.
    public var areaUnderROC: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        var (area, x, y) = (0.0, 0.0, 0.0)
        for point in points {
            let (nx, ny) = (Double(point.fp) / Double(negatives), Double(point.tp) / Double(positives))
            area += (nx - x) * (ny + y) / 2
            (x, y) = (nx, ny)
        }
        return area
    }

    /// Σ (R_k − R_{k−1}) · P_k over the thresholds; nil without positives.
    public var averagePrecision: Double? {
        guard positives > 0 else { return nil }
        var (sum, recall) = (0.0, 0.0)
        for point in points {
            let r = Double(point.tp) / Double(positives)
            sum += (r - recall) * Double(point.tp) / Double(point.tp + point.fp)
            recall = r
        }
        return sum
    }

    /// (FPR, TPR) points from (0, 0), for plotting.
    public var roc: [(x: Double, y: Double)] {
        guard positives > 0, negatives > 0 else { return [] }
        return [(0, 0)] + points.map { (Double($0.fp) / Double(negatives), Double($0.tp) / Double(positives)) }
    }

    /// (recall, precision) points, highest threshold first, for plotting.
    public var precisionRecall: [(x: Double, y: Double)] {
        guard positives > 0 else { return [] }
        return points.map { (Double($0.tp) / Double(positives), Double($0.tp) / Double($0.tp + $0.fp)) }
    }
}

/// The mean over categories of each figure, over the categories where it is defined (macro
/// averaging); `categories` counts the categories averaged for F1.
public struct MacroMetrics: Sendable, Hashable, Encodable {
    public var categories: Int
    @NullEncodable public var precision: Double?
    @NullEncodable public var recall: Double?
    @NullEncodable public var f1: Double?
    @NullEncodable public var accuracy: Double?
    @NullEncodable public var falsePositiveRate: Double?
    @NullEncodable public var auroc: Double?
    @NullEncodable public var auprc: Double?

    enum CodingKeys: String, CodingKey {
        case categories, precision, recall, f1, accuracy, auroc, auprc
        case falsePositiveRate = "fpr"
    }

    public init(_ perCategory: [BinaryMetrics]) {
        func mean(_ value: (BinaryMetrics) -> Double?) -> Double? {
            let values = perCategory.compactMap(value)
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        categories = perCategory.filter { $0.f1 != nil }.count
        precision = mean(\.precision)
        recall = mean(\.recall)
        f1 = mean(\.f1)
        accuracy = mean(\.accuracy)
        falsePositiveRate = mean(\.falsePositiveRate)
        auroc = mean(\.auroc)
        auprc = mean(\.auprc)
    }
}
