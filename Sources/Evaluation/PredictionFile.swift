import CSV
import Foundation

/// An external classifier's outputs (NudeNet, a cloud API, a VLM), read from a CSV or JSONL file
/// of `path`, `category` (optional: the item's own category) and `score` (a probability of unsafe)
/// and/or `label` (safe/unsafe or 0/1). A score without a label is decided at 0.5 (unsafe when
/// above, as UnsafeBench's argmax over [1 − p, p] decides). `guardrail scan`'s JSONL output is read
/// too: its `category_scores` and `categories` per file.
public enum PredictionFile {
    /// One row: which item (by path as written), which category (nil: the item's own), what it says.
    public struct Row: Sendable {
        public var path: String
        public var category: String?
        public var output: CategoryOutput
    }

    /// The threshold applied to scores that come without a decision.
    public static let probabilityThreshold = 0.5

    /// Reads `file`; errors name the row and field.
    public static func read(_ file: String) throws(DatasetError) -> [Row] {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
        else {
            throw DatasetError(file: file, reason: "cannot read the predictions file as UTF-8 text")
        }
        if text.first(where: { !$0.isWhitespace }) == "{" { return try jsonl(text, file: file) }
        return try csv(text, file: file)
    }

    /// Matches rows to `dataset`'s items by path (as written in the manifest, or the same file) and
    /// returns the outputs by item index and category, with the categories the file covers; the
    /// paths of rows that name no item are `unmatched` (for a warning).
    public static func outputs(
        _ rows: [Row], name: String, dataset: LabelledDataset, file: String, unmatched: inout [String]
    ) throws(DatasetError) -> ClassifierOutputs {
        var byPath: [String: [Int]] = [:]
        for (index, item) in dataset.items.enumerated() {
            byPath[item.path, default: []].append(index)
            let resolved = (item.file as NSString).standardizingPath
            if resolved != item.path { byPath[resolved, default: []].append(index) }
        }
        var outputs: [Int: [String: CategoryOutput]] = [:]
        var covers = Set<String>()
        for row in rows {
            let indices = byPath[row.path] ?? byPath[(row.path as NSString).standardizingPath] ?? []
            if indices.isEmpty { unmatched.append(row.path) }
            for index in indices {
                let category = row.category ?? dataset.items[index].category
                covers.insert(category)
                outputs[index, default: [:]][category] = row.output
            }
        }
        guard !outputs.isEmpty else {
            throw DatasetError(file: file, reason: "no row names an item of \(dataset.manifest)")
        }
        return ClassifierOutputs(name: name, covers: covers.sorted(), outputs: outputs)
    }

    private static func output(score: String?, label: String?, file: String, row: Int) throws(DatasetError)
        -> CategoryOutput
    {
        var value: Double?
        if let score, !score.isEmpty {
            guard let parsed = Double(score), parsed.isFinite else {
                throw DatasetError(file: file, row: row, field: "score", reason: "\"\(score)\" is not a finite number")
            }
            value = parsed
        }
        var unsafe: Bool?
        if let label, !label.isEmpty {
            switch label.lowercased() {
            case "unsafe", "1", "true": unsafe = true
            case "safe", "0", "false": unsafe = false
            default:
                throw DatasetError(
                    file: file, row: row, field: "label", reason: "\"\(label)\" is not safe/unsafe or 0/1")
            }
        }
        guard value != nil || unsafe != nil else {
            throw DatasetError(file: file, row: row, field: "score", reason: "a score or a label is required")
        }
        return CategoryOutput(score: value, unsafe: unsafe ?? value.map { $0 > probabilityThreshold })
    }

    private static func csv(_ text: String, file: String) throws(DatasetError) -> [Row] {
        guard let reader = try? CSVReader(string: text, hasHeaderRow: true, trimFields: true),
            let header = reader.headerRow?.map({ $0.lowercased() })
        else {
            throw DatasetError(file: file, reason: "not a CSV file with a header row")
        }
        guard let pathColumn = header.firstIndex(where: { ["path", "image", "file"].contains($0) }) else {
            throw DatasetError(file: file, field: "path", reason: "no path column")
        }
        let column = { (name: String) in header.firstIndex(of: name) }
        var rows: [Row] = []
        var number = 0
        while let fields = reader.next() {
            number += 1
            guard fields.count == header.count else {
                throw DatasetError(
                    file: file, row: number, reason: "\(fields.count) fields, the header names \(header.count)")
            }
            let category = column("category").map { fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            rows.append(
                Row(
                    path: fields[pathColumn], category: category,
                    output: try output(
                        score: column("score").map { fields[$0] }, label: column("label").map { fields[$0] },
                        file: file, row: number)))
        }
        return rows
    }

    private static func jsonl(_ text: String, file: String) throws(DatasetError) -> [Row] {
        var rows: [Row] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw DatasetError(file: file, row: index + 1, reason: "not a JSON object")
            }
            guard let path = object["path"] as? String ?? object["image"] as? String else {
                throw DatasetError(file: file, row: index + 1, field: "path", reason: "missing")
            }
            if let scores = object["category_scores"] as? [String: Any] {
                // A `guardrail scan` report: a score and a verdict (null when uncalibrated) per policy.
                let verdicts = object["categories"] as? [String: Any] ?? [:]
                for (category, score) in scores.sorted(by: { $0.key < $1.key }) {
                    rows.append(
                        Row(
                            path: path, category: category,
                            output: CategoryOutput(
                                // null: every frame exempted by an allowed rule, which ranks lowest.
                                score: (score as? NSNumber)?.doubleValue ?? Double(ZeroShotClassifier.exemptedScore),
                                unsafe: (verdicts[category] as? NSNumber)?.boolValue)))
                }
                continue
            }
            if object["error"] != nil { continue }
            func text(_ key: String) -> String? {
                switch object[key] {
                case let string as String: return string
                case let number as NSNumber: return number.stringValue
                default: return nil
                }
            }
            rows.append(
                Row(
                    path: path, category: text("category"),
                    output: try output(score: text("score"), label: text("label"), file: file, row: index + 1)))
        }
        return rows
    }
}
