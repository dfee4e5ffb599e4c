import Foundation
import GuardrailCore
import GuardrailEngine

/// What a threshold is chosen for.
public enum CalibrationTarget: Sendable, Hashable, CustomStringConvertible {
    /// The highest F1 of the unsafe class; ties go to the smaller threshold.
    case maxF1
    /// The smallest threshold whose precision reaches the value (the most recall at that precision).
    case precision(Double)
    /// The largest threshold whose recall reaches the value (the most precision at that recall).
    case recall(Double)

    /// `f1`, `precision=0.9` or `recall=0.95`.
    public init(parsing text: String) throws(DatasetError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        func fail() -> DatasetError {
            DatasetError(
                file: "--target", field: text, reason: "expected f1, precision=P or recall=R with 0 < P, R ≤ 1")
        }
        if parts == ["f1"] {
            self = .maxF1
            return
        }
        guard parts.count == 2, let value = Double(parts[1]), value > 0, value <= 1 else { throw fail() }
        switch parts[0] {
        case "precision": self = .precision(value)
        case "recall": self = .recall(value)
        default: throw fail()
        }
    }

    public var description: String {
        switch self {
        case .maxF1: return "max F1"
        case .precision(let p): return "precision ≥ \(p)"
        case .recall(let r): return "recall ≥ \(r)"
        }
    }
}

/// A threshold fitted on labelled scores: decisions are `score ≥ threshold`, as a policy is flagged
/// when a frame's score reaches its threshold.
public struct CalibratedThreshold: Sendable, Encodable {
    public var category: String
    /// nil when the target cannot be reached (or the category has no positives and negatives).
    @NullEncodable public var threshold: Double?
    public var trainItems: Int
    /// The training split's figures at the chosen threshold.
    @NullEncodable public var trainF1: Double?
    @NullEncodable public var trainPrecision: Double?
    @NullEncodable public var trainRecall: Double?

    enum CodingKeys: String, CodingKey {
        case category, threshold
        case trainItems = "train_items"
        case trainF1 = "train_f1"
        case trainPrecision = "train_precision"
        case trainRecall = "train_recall"
    }

    /// Chooses among the distinct scores (each a candidate threshold) by `target`.
    public init(category: String, labels: [Bool], scores: [Double], target: CalibrationTarget) {
        self.category = category
        trainItems = labels.count
        let curve = RankingCurve(labels: labels, scores: scores)
        guard curve.positives > 0, curve.negatives > 0 else { return }
        // Descending thresholds with cumulative counts of score ≥ threshold; a score of −∞ (an item
        // that is never flagged) is no candidate.
        let points = curve.points.filter { $0.threshold.isFinite }
        var chosen: (tp: Int, fp: Int, threshold: Double)?
        switch target {
        case .maxF1:
            var best = -1.0
            for point in points {
                let f1 = 2 * Double(point.tp) / Double(2 * point.tp + point.fp + (curve.positives - point.tp))
                // ≥ moves to the smaller threshold on ties, the points being in descending order.
                if f1 >= best {
                    best = f1
                    chosen = point
                }
            }
        case .precision(let goal):
            chosen = points.last { Double($0.tp) / Double($0.tp + $0.fp) >= goal }
        case .recall(let goal):
            chosen = points.first { Double($0.tp) / Double(curve.positives) >= goal }
        }
        guard let chosen else { return }
        threshold = chosen.threshold
        let precision = Double(chosen.tp) / Double(chosen.tp + chosen.fp)
        let recall = Double(chosen.tp) / Double(curve.positives)
        trainPrecision = precision
        trainRecall = recall
        trainF1 = 2 * Double(chosen.tp) / Double(2 * chosen.tp + chosen.fp + curve.positives - chosen.tp)
    }
}

/// Writing calibrated thresholds into copies of policy files and heads files.
public enum CalibrationWriter {
    /// A copy of the policy file at `source` with `threshold: {value, model_sha256, settings}` set for
    /// each policy named (by id or name) in `thresholds`; other policies keep what they had. Written
    /// atomically to `destination`.
    public static func writePolicies(
        from source: String, to destination: String, thresholds: [String: Double], modelSHA256: String,
        settings: [String: String]
    ) throws {
        guard let data = FileManager.default.contents(atPath: source),
            var root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            var policies = root["policies"] as? [[String: Any]]
        else {
            throw DatasetError(file: source, reason: "cannot read the policy file as JSON")
        }
        for i in policies.indices {
            let id = policies[i]["id"] as? String ?? ""
            let name = policies[i]["name"] as? String ?? ""
            guard let value = thresholds[id] ?? thresholds[name] else { continue }
            policies[i]["threshold"] = ["value": value, "model_sha256": modelSHA256, "settings": settings]
        }
        root["policies"] = policies
        let out = try JSONSerialization.data(
            withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(out + Data("\n".utf8), to: destination)
    }

    /// A copy of `heads` with the thresholds (by category) and the settings they hold for.
    public static func writeHeads(
        _ heads: LinearHeads, to destination: String, thresholds: [String: Double], settings: [String: String]
    ) throws {
        var copy = heads
        copy.thresholds = heads.categories.enumerated().map { k, category in thresholds[category] ?? heads.thresholds[k]
        }
        copy.calibrationSettings = settings
        try copy.write(to: destination)
    }
}
