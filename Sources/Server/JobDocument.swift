import Foundation

/// `GET /v1/videos/{id}`'s body, which is also what a callback posts: the job's status, progress,
/// and the scan report once it succeeded or the reason once it failed.
public enum JobDocument {
    public static func object(_ job: Job) -> [String: Any] {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var object: [String: Any] = [
            "id": job.id, "status": job.state.rawValue, "filename": job.filename,
            "created_at": iso.string(from: job.createdAt), "updated_at": iso.string(from: job.updatedAt),
            "finished_at": job.finishedAt.map(iso.string(from:)) ?? NSNull(), "attempts": job.attempts,
            "progress": ["frames_done": job.framesDone],
        ]
        object["result"] =
            job.result.flatMap { try? JSONSerialization.jsonObject(with: $0, options: [.fragmentsAllowed]) } ?? NSNull()
        object["error"] =
            job.error.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull()
        object["callback"] =
            job.callbackURL.map {
                ["url": $0, "state": job.callbackState.rawValue, "attempts": job.callbackAttempts] as [String: Any]
            } ?? NSNull()
        return object
    }

    public static func encode(_ job: Job) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object(job), options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// The `error` column: `{"type": …, "message": …}`.
    static func error(type: String, message: String) -> String {
        let data = try? JSONSerialization.data(
            withJSONObject: ["type": type, "message": message], options: [.sortedKeys])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
