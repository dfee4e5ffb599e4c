import CSV
import Foundation
import GuardrailCore

/// Where an image comes from, as UnsafeBench splits its results.
public enum ImageSource: String, Sendable, Hashable, Codable, CaseIterable {
    /// Real-world images (UnsafeBench: `Laion5B`).
    case real
    /// AI-generated images (UnsafeBench: `Lexica`).
    case generated
}

/// The split an item belongs to.
public enum DatasetSplit: String, Sendable, Hashable, Codable {
    case train
    case test
}

/// One labelled image or video of a data set.
public struct LabelledItem: Sendable, Hashable {
    /// The 1-based row (CSV data row or JSONL line) it came from, for messages.
    public var row: Int
    /// The path as written in the manifest.
    public var path: String
    /// The file to read: `path` resolved against the images root.
    public var file: String
    /// One of the 11 UnsafeBench names, or any policy id.
    public var category: String
    /// True for unsafe (with respect to `category`).
    public var unsafe: Bool
    public var source: ImageSource?
    public var split: DatasetSplit?

    /// Whether the item is in `split` (every item is in nil; an item without a split is in every split).
    public func belongs(to split: DatasetSplit?) -> Bool {
        split == nil || self.split == nil || self.split == split
    }
}

/// A manifest error: the file, the row and the field at fault, and why.
public struct DatasetError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var row: Int?
    public var field: String?
    public var reason: String

    public var description: String {
        var place = file
        if let row { place += ": row \(row)" }
        if let field { place += ", field \(field)" }
        return "\(place): \(reason)"
    }
}

/// A labelled data set: a folder of images and a CSV or JSONL manifest naming, per item, `path`,
/// `category`, `label` (`safe`/`unsafe`, or 0/1) and optionally `source` (`real`/`generated`) and
/// `split` (`train`/`test`). The UnsafeBench release's own columns are read too: `image` for the
/// path, `safety_label` (`Safe`/`Unsafe`) and `source` (`Laion5B` = real, `Lexica` = generated).
public struct LabelledDataset: Sendable {
    public var manifest: String
    /// SHA-256 of the manifest's bytes.
    public var sha256: String
    public var items: [LabelledItem]

    /// Reads `manifest` (JSONL when its first non-blank character is `{`, CSV otherwise); relative
    /// paths resolve against `imagesRoot`, by default the manifest's folder. Rows are validated
    /// whole: the first fault is thrown, naming its row and field.
    public init(manifest: String, imagesRoot: String? = nil) throws(DatasetError) {
        guard let data = FileManager.default.contents(atPath: manifest) else {
            throw DatasetError(file: manifest, reason: "cannot read the manifest")
        }
        self.manifest = manifest
        sha256 = ContentHash.hex([UInt8](data))
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatasetError(file: manifest, reason: "the manifest is not UTF-8 text")
        }
        let root = imagesRoot ?? (manifest as NSString).deletingLastPathComponent
        let rows =
            text.first(where: { !$0.isWhitespace }) == "{"
            ? try Self.jsonl(text, file: manifest) : try Self.csv(text, file: manifest)
        items = try rows.map { (row, fields) throws(DatasetError) in
            try Self.item(fields, row: row, root: root, file: manifest)
        }
        guard !items.isEmpty else { throw DatasetError(file: manifest, reason: "the manifest lists no items") }
    }

    /// The items of `split` (all items when nil; an item without a split belongs to every split).
    public func items(in split: DatasetSplit?) -> [LabelledItem] {
        items.filter { $0.belongs(to: split) }
    }

    // MARK: Parsing

    private static func csv(_ text: String, file: String) throws(DatasetError) -> [(Int, [String: String])] {
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true)
        } catch {
            throw DatasetError(file: file, reason: "not a CSV file with a header row: \(error)")
        }
        guard let header = reader.headerRow?.map({ $0.lowercased() }) else {
            throw DatasetError(file: file, reason: "the CSV file has no header row")
        }
        var rows: [(Int, [String: String])] = []
        var row = 0
        while let fields = reader.next() {
            row += 1
            if fields.allSatisfy(\.isEmpty) { continue }
            guard fields.count == header.count else {
                throw DatasetError(
                    file: file, row: row, reason: "\(fields.count) fields, the header names \(header.count)")
            }
            rows.append((row, Dictionary(zip(header, fields), uniquingKeysWith: { first, _ in first })))
        }
        if let error = reader.error {
            throw DatasetError(file: file, row: row + 1, reason: "cannot read the CSV: \(error)")
        }
        return rows
    }

    private static func jsonl(_ text: String, file: String) throws(DatasetError) -> [(Int, [String: String])] {
        var rows: [(Int, [String: String])] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw DatasetError(file: file, row: index + 1, reason: "not a JSON object")
            }
            var fields: [String: String] = [:]
            for (key, value) in object {
                switch value {
                case let string as String: fields[key.lowercased()] = string
                case let number as NSNumber: fields[key.lowercased()] = number.stringValue
                case is NSNull: continue
                default:
                    throw DatasetError(file: file, row: index + 1, field: key, reason: "a string or number is required")
                }
            }
            rows.append((index + 1, fields))
        }
        return rows
    }

    private static func item(_ fields: [String: String], row: Int, root: String, file: String) throws(DatasetError)
        -> LabelledItem
    {
        func required(_ names: [String]) throws(DatasetError) -> (name: String, value: String) {
            for name in names {
                if let value = fields[name], !value.isEmpty { return (name, value) }
            }
            throw DatasetError(
                file: file, row: row, field: names[0],
                reason: "missing (also accepted: \(names.dropFirst().joined(separator: ", ")))")
        }
        let path = try required(["path", "image", "file"]).value
        let category = try required(["category"]).value
        let (labelField, label) = try required(["label", "safety_label"])
        let unsafe: Bool
        switch label.lowercased() {
        case "unsafe", "1", "true": unsafe = true
        case "safe", "0", "false": unsafe = false
        default:
            throw DatasetError(
                file: file, row: row, field: labelField, reason: "\"\(label)\" is not safe/unsafe or 0/1")
        }
        var source: ImageSource?
        if let value = fields["source"], !value.isEmpty {
            switch value.lowercased() {
            case "real", "laion5b", "laion": source = .real
            case "generated", "lexica", "ai-generated", "synthetic": source = .generated
            default:
                throw DatasetError(
                    file: file, row: row, field: "source",
                    reason: "\"\(value)\" is not real or generated (or Laion5B/Lexica)")
            }
        }
        var split: DatasetSplit?
        if let value = fields["split"], !value.isEmpty {
            guard let parsed = DatasetSplit(rawValue: value.lowercased()) else {
                throw DatasetError(file: file, row: row, field: "split", reason: "\"\(value)\" is not train or test")
            }
            split = parsed
        }
        let resolved = path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
        return LabelledItem(
            row: row, path: path, file: resolved, category: category, unsafe: unsafe, source: source, split: split)
    }
}
