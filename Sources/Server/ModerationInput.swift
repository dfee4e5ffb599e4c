import Foundation
import Hummingbird
import MultipartKit

/// One image of a moderation request: the name it is reported under and its bytes.
struct ModerationItem: Sendable {
    var name: String
    var bytes: [UInt8]
}

/// The images of a `POST /v1/moderations` body, in the three shapes the API takes:
/// - a raw body (any content type but the two below): one image;
/// - `multipart/form-data`: every file part (parsed by MultipartKit), named by its file name;
/// - `application/json`: `{"input": …}` with a base64 string or `data:` URL, an object
///   `{"type": "image_url", "image_url": {"url": "data:…"}}` (OpenAI's shape), or a list of those.
/// URLs other than `data:` are refused: the server never fetches what a client points it at.
enum ModerationInput {
    /// More images than this in one request is an error (send a video job instead).
    static let maxItems = 64

    static func parse(_ body: ByteBuffer, contentType: String?) throws(APIError) -> [ModerationItem] {
        let type = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let items: [ModerationItem]
        switch type {
        case "multipart/form-data": items = try multipart(body, contentType: contentType!)
        case "application/json": items = try json(body)
        default: items = [ModerationItem(name: "input", bytes: Array(buffer: body))]
        }
        guard !items.isEmpty else { throw .invalid("the request has no image") }
        guard items.count <= maxItems else {
            throw .invalid("\(items.count) images in one request; at most \(maxItems)")
        }
        if let empty = items.first(where: { $0.bytes.isEmpty }) { throw .invalid("\(empty.name) is empty") }
        return items
    }

    private static func multipart(_ body: ByteBuffer, contentType: String) throws(APIError) -> [ModerationItem] {
        guard let boundary = parameter("boundary", of: contentType) else {
            throw .invalid("multipart/form-data without a boundary")
        }
        let parser = MultipartParser(boundary: boundary)
        var items: [ModerationItem] = []
        var disposition = ""
        var bytes: [UInt8] = []
        parser.onHeader = { field, value in
            if field.lowercased() == "content-disposition" { disposition = value }
        }
        parser.onBody = { buffer in bytes += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        parser.onPartComplete = {
            // Text fields (no file name) are not images.
            if let filename = parameter("filename", of: disposition) {
                items.append(ModerationItem(name: filename.isEmpty ? "file\(items.count)" : filename, bytes: bytes))
            }
            disposition = ""
            bytes = []
        }
        do {
            try parser.execute(body)
        } catch {
            throw .invalid("malformed multipart body: \(error)")
        }
        return items
    }

    /// A `name=value` or `name="value"` parameter of a header value.
    static func parameter(_ name: String, of header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            var value = pair[1]
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            return value
        }
        return nil
    }

    private static func json(_ body: ByteBuffer) throws(APIError) -> [ModerationItem] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let input = object["input"]
        else { throw .invalid("the JSON body needs an \"input\": a base64 image, a data: URL, or a list of them") }
        let entries = (input as? [Any]) ?? [input]
        return try entries.enumerated().map { (i, entry) throws(APIError) -> ModerationItem in
            let name = "input[\(i)]"
            var text: String?
            if let string = entry as? String {
                text = string
            } else if let part = entry as? [String: Any], part["type"] as? String == "image_url",
                let url = (part["image_url"] as? [String: Any])?["url"] as? String
            {
                text = url
            } else if let part = entry as? [String: Any], part["type"] as? String == "text" {
                throw .invalid("\(name) is text; this endpoint moderates images (prompts go to /v1/prompts:sanitize)")
            }
            guard let text else { throw .invalid("\(name) is neither a string nor an image_url object") }
            return ModerationItem(name: name, bytes: try decode(text, name: name))
        }
    }

    private static func decode(_ text: String, name: String) throws(APIError) -> [UInt8] {
        var payload = Substring(text)
        if text.hasPrefix("data:") {
            guard let comma = text.firstIndex(of: ","), text[..<comma].hasSuffix(";base64") else {
                throw .invalid("\(name): only base64 data: URLs are accepted")
            }
            payload = text[text.index(after: comma)...]
        } else if text.contains("://") {
            throw .invalid("\(name): the server does not fetch URLs; send the image itself (base64 or a data: URL)")
        }
        guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters) else {
            throw .invalid("\(name) is not valid base64")
        }
        return Array(data)
    }
}
