import Dispatch
import Foundation
import Synchronization

/// The bounded worker pool: at most `capacity` scans run at once (each on its own thread, off the
/// event loops), at most `maxWaiting` more wait for a turn in arrival order; past that a request
/// is refused at once (`429`), and one that waits longer than its deadline gives up (`503`).
public actor ScanSlots {
    public let capacity: Int
    public let maxWaiting: Int
    private var busy = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextID: UInt64 = 0

    public init(capacity: Int, maxWaiting: Int) {
        precondition(capacity > 0 && maxWaiting >= 0)
        self.capacity = capacity
        self.maxWaiting = maxWaiting
    }

    /// Scans running and waiting, for `/metrics`.
    public var load: (running: Int, waiting: Int) { (busy, waiters.count) }

    /// Runs `work` on a thread of its own once a slot is free. `queued: false` (a video worker,
    /// whose job already waited in the job queue) is not refused when the waiting line is full.
    /// A cancelled caller gets `CancellationError` at once; the work cannot be interrupted, so its
    /// slot stays taken until it ends and its result is dropped.
    public nonisolated func run<T: Sendable>(
        deadline: Duration?, queued: Bool = true, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await acquire(deadline: deadline, queued: queued)
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.wait(continuation)
                DispatchQueue.global().async {
                    let result = Result { try work() }
                    Task { await self.release() }
                    outcome.resolve(result)
                }
            }
        } onCancel: {
            outcome.resolve(.failure(CancellationError()))
        }
    }

    private func acquire(deadline: Duration?, queued: Bool) async throws {
        if busy < capacity {
            busy += 1
            return
        }
        guard !queued || waiters.count < maxWaiting else { throw APIError.queueFull("the scan") }
        nextID += 1
        let id = nextID
        if let deadline {
            Task {
                try? await Task.sleep(for: deadline)
                self.timeOut(id)
            }
        }
        // A resumed waiter was handed the slot of the scan that finished (busy stays the same).
        try await withCheckedThrowingContinuation { waiters.append((id, $0)) }
    }

    private func timeOut(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(
            throwing: APIError(
                .serviceUnavailable, "timeout", "no worker was free within the request deadline", retryAfter: 1))
    }

    private func release() {
        if waiters.isEmpty {
            busy -= 1
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }
}

/// A result handed to a continuation once, whichever comes first: the work's, or a cancellation
/// (which may come before the continuation is there).
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var delivered = false
    }
    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { state in
            if let result = state.result {
                state.delivered = true
                return result
            }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func resolve(_ outcome: Result<T, any Error>) {
        let waiting: CheckedContinuation<T, any Error>? = state.withLock { state in
            guard !state.delivered, state.result == nil else { return nil }
            state.result = outcome
            guard let continuation = state.continuation else { return nil }
            state.delivered = true
            state.continuation = nil
            return continuation
        }
        waiting?.resume(with: outcome)
    }
}
