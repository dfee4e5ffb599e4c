import Foundation

/// A video job's life: `queued` → `running` → `succeeded` | `failed`; `cancelled` from the first
/// two by `DELETE`. A running job whose server died is queued again at the next start.
public enum JobState: String, Sendable, Codable {
    case queued, running, succeeded, failed, cancelled

    /// True once nothing more happens to the job.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Where a job's callback stands: none asked for, waiting for the result, due to be (re)sent, sent,
/// or given up after the last retry.
public enum CallbackState: String, Sendable, Codable {
    case none, waiting, pending, delivered, abandoned
}

/// One video job as stored.
public struct Job: Sendable, Equatable {
    public var id: String
    public var state: JobState
    /// The upload's file in the data dir (removed on cancellation and after the retention).
    public var upload: String
    /// The name the client gave the upload, for the report.
    public var filename: String
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    /// Times a worker took the job (a restart after a crash takes it again).
    public var attempts: Int
    public var framesDone: Int
    /// The scan report's JSON once succeeded.
    public var result: Data?
    /// Why the job failed.
    public var error: String?
    public var callbackURL: String?
    public var callbackState: CallbackState
    public var callbackAttempts: Int
    /// When the next callback attempt is due.
    public var callbackDue: Date?

    /// A new queued job for a stored upload.
    public init(id: String, upload: String, filename: String, callbackURL: String?, createdAt: Date = Date()) {
        self.init(
            id: id, state: .queued, upload: upload, filename: filename, createdAt: createdAt, updatedAt: createdAt,
            attempts: 0, framesDone: 0, callbackURL: callbackURL, callbackState: callbackURL == nil ? .none : .waiting,
            callbackAttempts: 0)
    }

    init(
        id: String, state: JobState, upload: String, filename: String, createdAt: Date, updatedAt: Date,
        finishedAt: Date? = nil, attempts: Int, framesDone: Int, result: Data? = nil, error: String? = nil,
        callbackURL: String?, callbackState: CallbackState, callbackAttempts: Int, callbackDue: Date? = nil
    ) {
        self.id = id
        self.state = state
        self.upload = upload
        self.filename = filename
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.attempts = attempts
        self.framesDone = framesDone
        self.result = result
        self.error = error
        self.callbackURL = callbackURL
        self.callbackState = callbackState
        self.callbackAttempts = callbackAttempts
        self.callbackDue = callbackDue
    }
}

/// Durable storage of video jobs. Every transition is atomic and conditional on the state it
/// leaves, so a job is taken by one worker at a time and finished once (a worker that lost its
/// job to a cancellation or a restart cannot overwrite it).
public protocol JobStore: Sendable {
    /// Stores a new queued job.
    func insert(_ job: Job) async throws
    func job(_ id: String) async throws -> Job?
    /// Takes the oldest queued job: `running`, attempts + 1.
    func claim() async throws -> Job?
    /// Records progress of a running job; false when it is no longer running (cancelled).
    func progress(_ id: String, framesDone: Int) async throws -> Bool
    /// Finishes a running job taken at `attempt` (with its final frame count); false when it is no
    /// longer that job's run.
    func finish(_ id: String, attempt: Int, state: JobState, framesDone: Int, result: Data?, error: String?)
        async throws -> Bool
    /// Cancels a queued or running job; returns the job as it was, nil when there is none.
    func cancel(_ id: String) async throws -> Job?
    /// Queues again every running job (at start-up: their worker died with the last server).
    func requeueRunning() async throws -> Int
    /// Jobs in the queue.
    func queuedCount() async throws -> Int
    /// Jobs whose callback is due at `now`.
    func dueCallbacks(now: Date) async throws -> [Job]
    /// Records a callback attempt's outcome.
    func callbackAttempted(_ id: String, state: CallbackState, attempts: Int, due: Date?) async throws
    /// Finished jobs older than `before`: their rows are removed and returned (to delete files).
    func expire(before: Date) async throws -> [Job]
    /// Every upload file a stored job refers to.
    func uploads() async throws -> Set<String>
}
