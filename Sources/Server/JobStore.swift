import Foundation

/// A video job's life: `queued` → `running` → `succeeded` | `failed`; `cancelled` from the first
/// two by `DELETE`. A running job whose worker died (its lease expired) or hit a transient error is
/// queued again, until its attempts reach the cap: then it is `dead`, with the last error.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled, dead

    /// True once nothing more happens to the job (an operator may still queue it again).
    public var isFinal: Bool { self != .queued && self != .running }
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
    /// Why the job failed (or, when dead, why its last attempt did).
    public var error: String?
    /// The worker holding a running job, and until when (its heartbeat moves it on).
    public var worker: String?
    public var leaseUntil: Date?
    /// A queued job is not taken before this (a retry's back-off).
    public var availableAt: Date?
    public var callbackURL: String?
    public var callbackState: CallbackState
    public var callbackAttempts: Int
    /// When the next callback attempt is due.
    public var callbackDue: Date?

    /// Where an upload is: stored relative to the data dir, so that nodes mounting a shared volume at
    /// different paths find it (absolute in stores written before that).
    public static func file(_ upload: String, in dataDir: String) -> String {
        upload.hasPrefix("/") ? upload : dataDir + "/" + upload
    }

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
        worker: String? = nil, leaseUntil: Date? = nil, availableAt: Date? = nil,
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
        self.worker = worker
        self.leaseUntil = leaseUntil
        self.availableAt = availableAt
        self.callbackURL = callbackURL
        self.callbackState = callbackState
        self.callbackAttempts = callbackAttempts
        self.callbackDue = callbackDue
    }
}

/// Durable storage of video jobs. Every transition is atomic and conditional on the state it
/// leaves and on the attempt that makes it, so a job is held by one worker at a time and its
/// result recorded once (a worker that lost its job to a cancellation, a lease expiry or a restart
/// cannot overwrite it). Two stores: ``SQLiteJobStore`` (one server) and ``PostgresJobStore``
/// (many servers and workers on one queue); both pass the same test suite.
public protocol JobStore: Sendable {
    /// Stores a new queued job (and wakes listening workers).
    func insert(_ job: Job) async throws
    func job(_ id: String) async throws -> Job?
    /// Takes the oldest available queued job for `worker`: `running`, attempts + 1, leased for
    /// `lease` seconds.
    func claim(worker: String, lease: Double) async throws -> Job?
    /// A running job's heartbeat: records progress and extends the lease; false when the job is no
    /// longer this attempt's (cancelled, or re-claimed after the lease expired).
    func heartbeat(_ id: String, attempt: Int, framesDone: Int, lease: Double) async throws -> Bool
    /// Finishes a running job taken at `attempt` (with its final frame count); false when it is no
    /// longer that attempt's, so a result is recorded once.
    func finish(_ id: String, attempt: Int, state: JobState, framesDone: Int, result: Data?, error: String?)
        async throws -> Bool
    /// Ends attempt `attempt` with a transient `error`: queued again after `delay` seconds, or
    /// `dead` once `maxAttempts` attempts were made. Returns the state the job is left in, nil when
    /// the attempt no longer holds it.
    func retry(_ id: String, attempt: Int, error: String, delay: Double, maxAttempts: Int) async throws -> JobState?
    /// Running jobs whose lease ran out (their worker died): queued again, or `dead` with that reason
    /// once they had `maxAttempts` attempts. Returns how many of each.
    func reapExpired(maxAttempts: Int) async throws -> (requeued: Int, dead: Int)
    /// Cancels a queued or running job; returns the job as it was, nil when there is none.
    func cancel(_ id: String) async throws -> Job?
    /// Queues again every running job (at the start of a server that is the store's only user: their
    /// worker died with the last run).
    func requeueRunning() async throws -> Int
    /// An operator's retry: a finished job (failed, dead or cancelled; or succeeded, to scan it again)
    /// queued again with its attempts reset; returns the job as it was, nil when there is none.
    func requeue(_ id: String) async throws -> Job?
    /// Jobs in the queue (an index lookup: every upload asks).
    func queuedCount() async throws -> Int
    /// How many jobs are in each state.
    func counts() async throws -> [JobState: Int]
    /// The newest jobs first, optionally in one state.
    func list(state: JobState?, limit: Int) async throws -> [Job]
    /// Takes the callbacks due at `now`: their due time moves `lease` seconds on, so that no other
    /// node sends them meanwhile; ``callbackAttempted(_:state:attempts:due:)`` records the outcome.
    func takeDueCallbacks(now: Date, lease: Double) async throws -> [Job]
    /// Records a callback attempt's outcome.
    func callbackAttempted(_ id: String, state: CallbackState, attempts: Int, due: Date?) async throws
    /// Finished jobs (in `states`) older than `before`: their rows are removed and returned (to
    /// delete files). A callback still being retried keeps its job.
    func expire(before: Date, states: Set<JobState>) async throws -> [Job]
    /// Every upload file a stored job refers to.
    func uploads() async throws -> Set<String>
    /// Waits until a job may have been queued by another process, or `seconds` pass.
    func waitForJobs(seconds: Double) async
}

extension JobStore {
    /// Finished jobs of every final state older than `before`.
    public func expire(before: Date) async throws -> [Job] {
        try await expire(before: before, states: Set(JobState.allCases.filter(\.isFinal)))
    }

    /// ``expire(before:states:)`` and the removal of those jobs' uploads from `dataDir`.
    public func purge(
        before: Date, states: Set<JobState> = Set(JobState.allCases.filter(\.isFinal)), dataDir: String
    ) async throws -> [Job] {
        let jobs = try await expire(before: before, states: states)
        for job in jobs { try? FileManager.default.removeItem(atPath: Job.file(job.upload, in: dataDir)) }
        return jobs
    }
}

/// Wakes a store's idle workers when a job may have been queued; each also wakes when its own wait
/// runs out (and only it: the others' waits go on).
actor Doorbell {
    private var sleepers: [Int: CheckedContinuation<Void, Never>] = [:]
    private var next = 0

    func ring() {
        let woken = sleepers.values
        sleepers = [:]
        for sleeper in woken { sleeper.resume() }
    }

    func wait(seconds: Double) async {
        let id = next
        next += 1
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            self.wake(id)
        }
        await withCheckedContinuation { sleepers[id] = $0 }
        timer.cancel()
    }

    private func wake(_ id: Int) { sleepers.removeValue(forKey: id)?.resume() }
}
