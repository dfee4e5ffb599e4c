import Foundation

/// Checks JSON values against the JSON Schema subset `openapi.yaml` uses (type, enum, required,
/// properties, additionalProperties, items, oneOf, $ref, minItems, maxItems, minLength,
/// maxLength), so every request and response
/// the tests make and see is held to the published contract.
struct SchemaValidator: @unchecked Sendable {
    let document: [String: Any]

    /// The schema a response must match: by path template, method, status and content type.
    func responseSchema(path: String, method: String, status: Int, contentType: String = "application/json")
        -> [String: Any]?
    {
        guard let paths = document["paths"] as? [String: Any], let item = paths[path] as? [String: Any],
            let operation = item[method.lowercased()] as? [String: Any],
            let responses = operation["responses"] as? [String: Any],
            var response = responses[String(status)] as? [String: Any]
        else { return nil }
        if let ref = response["$ref"] as? String { response = resolve(ref) }
        guard let content = response["content"] as? [String: Any], let media = content[contentType] as? [String: Any]
        else { return nil }
        return media["schema"] as? [String: Any]
    }

    /// The JSON request body's schema of an operation.
    func requestSchema(path: String, method: String) -> [String: Any]? {
        guard let paths = document["paths"] as? [String: Any], let item = paths[path] as? [String: Any],
            let operation = item[method.lowercased()] as? [String: Any],
            let body = operation["requestBody"] as? [String: Any], let content = body["content"] as? [String: Any],
            let media = content["application/json"] as? [String: Any]
        else { return nil }
        return media["schema"] as? [String: Any]
    }

    func resolve(_ ref: String) -> [String: Any] {
        var node: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    /// Every way `value` breaks `schema`, with the JSON path where.
    func errors(_ value: Any, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String { return errors(value, resolve(ref), at: path) }
        var found: [String] = []
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matching = options.filter { errors(value, $0, at: path).isEmpty }.count
            if matching != 1 { found.append("\(path): matches \(matching) of oneOf's \(options.count) schemas") }
        }
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as? String ?? ""]
            guard types.contains(where: { Self.matches(value, $0) }) else {
                return found + ["\(path): \(Self.describe(value)) is not of type \(types)"]
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { "\($0)" == "\(value)" }) {
            found.append("\(path): \(value) not in \(options)")
        }
        if let string = value as? String {
            if let least = schema["minLength"] as? Int, string.count < least {
                found.append("\(path): shorter than \(least)")
            }
            if let most = schema["maxLength"] as? Int, string.count > most {
                found.append("\(path): longer than \(most)")
            }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                found.append("\(path): missing \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, item) in object {
                if let property = properties[key] as? [String: Any] {
                    found += errors(item, property, at: "\(path).\(key)")
                } else if let extra = schema["additionalProperties"] {
                    if let allowed = extra as? Bool, !allowed { found.append("\(path): unexpected \(key)") }
                    if let extraSchema = extra as? [String: Any] {
                        found += errors(item, extraSchema, at: "\(path).\(key)")
                    }
                }
            }
        }
        if let array = value as? [Any] {
            if let items = schema["items"] as? [String: Any] {
                for (i, item) in array.enumerated() { found += errors(item, items, at: "\(path)[\(i)]") }
            }
            if let least = schema["minItems"] as? Int, array.count < least {
                found.append("\(path): fewer than \(least)")
            }
            if let most = schema["maxItems"] as? Int, array.count > most { found.append("\(path): more than \(most)") }
        }
        return found
    }

    static func matches(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "boolean": return (value as? NSNumber).map(isBool) ?? false
        case "integer":
            guard let number = value as? NSNumber, !isBool(number) else { return false }
            return number.doubleValue.rounded() == number.doubleValue
        case "number": return (value as? NSNumber).map { !isBool($0) } ?? false
        case "string": return value is String
        case "array": return value is [Any]
        case "object": return value is [String: Any]
        default: return false
        }
    }

    /// JSONSerialization gives booleans as NSNumbers of Objective-C type `c` (char).
    static func isBool(_ number: NSNumber) -> Bool {
        return String(cString: number.objCType) == "c"
    }

    static func describe(_ value: Any) -> String { String("\(value)".prefix(60)) }
}
