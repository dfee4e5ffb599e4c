import Foundation
import GuardrailCore

/// A rule of a policy: one visual statement, encoded as its own chunk (SafeWatch §3.2).
public struct PolicyRule: Sendable, Hashable, Codable {
    /// Stable identifier, given in the file or derived as `<policy id>.blocked.<n>` / `.allowed.<n>`.
    public var id: String
    public var text: String

    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

/// A calibrated decision threshold and what it was calibrated for (SafeWatch §6.5).
public struct PolicyThreshold: Sendable, Hashable, Codable {
    public var value: Float
    /// The model the threshold belongs to; it applies only when the loaded model matches.
    public var modelSHA256: String?
    /// Settings in force during calibration (free-form, recorded for provenance).
    public var settings: [String: String]?

    enum CodingKeys: String, CodingKey {
        case value
        case modelSHA256 = "model_sha256"
        case settings
    }
}

/// Object-detector labels that flag a policy: `"detect": {"model": "nudenet", "labels": […],
/// "min_score": 0.5}`. A detection of one of the labels at `minScore` or above flags the frame;
/// the detector's scores are probabilities, so no calibration is needed.
public struct DetectorRule: Sendable, Hashable {
    public var model: String
    public var labels: [String]
    public var minScore: Float
}

/// One safety policy: blocked rules that flag, allowed rules that exempt, and optionally labels of
/// an object detector that flag.
public struct Policy: Sendable, Hashable {
    public var id: String
    public var name: String
    public var coreValue: String?
    public var severity: String?
    public var blocked: [PolicyRule]
    public var allowed: [PolicyRule]
    public var threshold: PolicyThreshold?
    public var detect: DetectorRule?
}

/// A versioned set of policies, loaded from a JSON file (`policies/*.json`).
public struct PolicySet: Sendable, Hashable {
    public var name: String
    public var version: String
    public var description: String?
    /// The SAFREE concept set that sanitises prompts for this pack, if any.
    public var concepts: String?
    public var policies: [Policy]
    /// The file it came from, and the SHA-256 of its bytes.
    public var path: String
    public var sha256: String

    /// Loads and validates a policy file; errors name the file, the key path and the reason.
    public init(contentsOf path: String) throws(PolicyError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError(path: path, keyPath: "", reason: "cannot read the file")
        }
        try self.init(data: data, path: path)
    }

    /// Parses policy JSON; `path` names the source in errors.
    public init(data: Data, path: String) throws(PolicyError) {
        self.path = path
        sha256 = ContentHash.hex([UInt8](data))
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw PolicyError(path: path, keyPath: "", reason: "not valid JSON: \(Self.jsonMessage(error, data))")
        }
        let root = try Node(json, path: path, keyPath: "")
        name = try root.string("name")
        version = try root.string("version")
        description = try root.optionalString("description")
        concepts = try root.optionalString("concepts")
        let list = try root.array("policies")
        guard !list.isEmpty else { throw PolicyError(path: path, keyPath: "policies", reason: "no policies") }
        var policies: [Policy] = []
        var ids = Set<String>()
        var names = Set<String>()
        for (index, item) in list.enumerated() {
            let node = try Node(item, path: path, keyPath: "policies[\(index)]")
            let id = try node.string("id")
            guard ids.insert(id).inserted else {
                throw PolicyError(path: path, keyPath: "policies[\(index)].id", reason: "duplicate policy id \(id)")
            }
            // Reports key verdicts and scores by name (`categories`, `category_scores`).
            let name = try node.string("name")
            guard names.insert(name).inserted else {
                throw PolicyError(
                    path: path, keyPath: "policies[\(index)].name", reason: "duplicate policy name \(name)")
            }
            let blocked = try node.rules("blocked", policy: id)
            guard !blocked.isEmpty else {
                throw PolicyError(
                    path: path, keyPath: "policies[\(index)].blocked", reason: "a policy needs blocked rules")
            }
            let allowed = try node.rules("allowed", policy: id, optional: true)
            let ruleIDs = (blocked + allowed).map(\.id)
            if let duplicate = Dictionary(grouping: ruleIDs, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                throw PolicyError(path: path, keyPath: "policies[\(index)]", reason: "duplicate rule id \(duplicate)")
            }
            let threshold = try node.object["threshold"].flatMap { $0 is NSNull ? nil : $0 }.map {
                (raw) throws(PolicyError) in try Node(raw, path: path, keyPath: node.keyPath + ".threshold").threshold()
            }
            let detect = try node.object["detect"].flatMap { $0 is NSNull ? nil : $0 }.map {
                (raw) throws(PolicyError) in try Node(raw, path: path, keyPath: node.keyPath + ".detect").detectorRule()
            }
            policies.append(
                Policy(
                    id: id, name: name, coreValue: try node.optionalString("core_value"),
                    severity: try node.optionalString("severity"), blocked: blocked, allowed: allowed,
                    threshold: threshold, detect: detect))
        }
        self.policies = policies
    }

    /// Loads a file, or every `*.json` file of a folder as one set (policies concatenated, ids unique).
    public static func load(_ path: String) throws(PolicyError) -> PolicySet {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw PolicyError(path: path, keyPath: "", reason: "no such file or folder")
        }
        guard isFolder.boolValue else { return try PolicySet(contentsOf: path) }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
        guard !files.isEmpty else { throw PolicyError(path: path, keyPath: "", reason: "no .json policy files") }
        var sets: [PolicySet] = []
        for file in files { sets.append(try PolicySet(contentsOf: path + "/" + file)) }
        var merged = sets[0]
        merged.path = path
        merged.name = (path as NSString).lastPathComponent
        var ids = Set(merged.policies.map(\.id))
        var names = Set(merged.policies.map(\.name))
        for set in sets.dropFirst() {
            for policy in set.policies {
                guard ids.insert(policy.id).inserted else {
                    throw PolicyError(
                        path: set.path, keyPath: "policies", reason: "policy id \(policy.id) also in another file")
                }
                guard names.insert(policy.name).inserted else {
                    throw PolicyError(
                        path: set.path, keyPath: "policies", reason: "policy name \(policy.name) also in another file")
                }
                merged.policies.append(policy)
            }
        }
        merged.sha256 = ContentHash.hex(Array(sets.map(\.sha256).joined().utf8))
        return merged
    }

    private static func jsonMessage(_ error: Error, _ data: Data) -> String {
        let text = "\(error)"
        // Foundation reports a character offset; turn it into a line number.
        if let range = text.range(of: "character "), let offset = Int(text[range.upperBound...].prefix { $0.isNumber })
        {
            let line = data.prefix(offset).filter { $0 == 0x0A }.count + 1
            return "syntax error at line \(line)"
        }
        return text
    }
}

/// A JSON object being validated, with the key path that error messages report.
private struct Node {
    let object: [String: Any]
    let path: String
    let keyPath: String

    init(_ value: Any, path: String, keyPath: String) throws(PolicyError) {
        guard let object = value as? [String: Any] else {
            throw PolicyError(
                path: path, keyPath: keyPath.isEmpty ? "(top level)" : keyPath, reason: "an object is required")
        }
        self.object = object
        self.path = path
        self.keyPath = keyPath
    }

    func key(_ name: String) -> String { keyPath.isEmpty ? name : keyPath + "." + name }

    func string(_ name: String) throws(PolicyError) -> String {
        guard let value = object[name] as? String, !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw PolicyError(path: path, keyPath: key(name), reason: "a non-empty string is required")
        }
        return value
    }

    /// A policy's `threshold` object: a finite `value`, an optional `model_sha256`, and the
    /// `settings` it was calibrated with (strings, as calibrate writes them).
    func threshold() throws(PolicyError) -> PolicyThreshold {
        guard let value = object["value"] as? NSNumber, value.doubleValue.isFinite else {
            throw PolicyError(path: path, keyPath: key("value"), reason: "a finite number is required")
        }
        var settings: [String: String]?
        if let raw = object["settings"], !(raw is NSNull) {
            guard let strings = raw as? [String: String] else {
                throw PolicyError(
                    path: path, keyPath: key("settings"),
                    reason: "settings must be an object of strings (as calibrate writes them)")
            }
            settings = strings
        }
        return PolicyThreshold(
            value: value.floatValue, modelSHA256: try optionalString("model_sha256"), settings: settings)
    }

    /// A policy's `detect` rule: the `nudenet` model, a non-empty list of labels, a `min_score` in
    /// [0, 1] (default 0.5).
    func detectorRule() throws(PolicyError) -> DetectorRule {
        let model = try string("model")
        guard model == "nudenet" else {
            throw PolicyError(path: path, keyPath: key("model"), reason: "the detector model is nudenet")
        }
        guard let labels = object["labels"] as? [String], !labels.isEmpty else {
            throw PolicyError(path: path, keyPath: key("labels"), reason: "a non-empty list of labels is required")
        }
        var minScore: Float = 0.5
        if let raw = object["min_score"] {
            guard let value = raw as? NSNumber, value.doubleValue >= 0, value.doubleValue <= 1 else {
                throw PolicyError(path: path, keyPath: key("min_score"), reason: "a number in [0, 1] is required")
            }
            minScore = value.floatValue
        }
        return DetectorRule(model: model, labels: labels, minScore: minScore)
    }

    func optionalString(_ name: String) throws(PolicyError) -> String? {
        guard let value = object[name], !(value is NSNull) else { return nil }
        guard let text = value as? String else {
            throw PolicyError(path: path, keyPath: key(name), reason: "a string is required")
        }
        return text
    }

    func array(_ name: String) throws(PolicyError) -> [Any] {
        guard let value = object[name] as? [Any] else {
            throw PolicyError(path: path, keyPath: key(name), reason: "a list is required")
        }
        return value
    }

    /// Rules as strings or `{"id", "text"}` objects; string rules get positional ids.
    func rules(_ name: String, policy: String, optional: Bool = false) throws(PolicyError) -> [PolicyRule] {
        if optional && (object[name] == nil || object[name] is NSNull) { return [] }
        var rules: [PolicyRule] = []
        for (index, item) in try array(name).enumerated() {
            let itemPath = key(name) + "[\(index)]"
            if let text = item as? String {
                guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    throw PolicyError(path: path, keyPath: itemPath, reason: "an empty rule")
                }
                rules.append(PolicyRule(id: "\(policy).\(name).\(index + 1)", text: text))
            } else {
                let node = try Node(item, path: path, keyPath: itemPath)
                rules.append(PolicyRule(id: try node.string("id"), text: try node.string("text")))
            }
        }
        return rules
    }
}

/// A policy file that cannot be used: the file, where in it, and why.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    /// JSON key path such as `policies[2].blocked[0]`, or a line for syntax errors.
    public var keyPath: String
    public var reason: String

    public var description: String { keyPath.isEmpty ? "\(path): \(reason)" : "\(path): \(keyPath): \(reason)" }
}
