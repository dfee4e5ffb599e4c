import Dispatch
import Foundation

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
    public nonisolated func run<T: Sendable>(
        deadline: Duration?, queued: Bool = true, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await acquire(deadline: deadline, queued: queued)
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Result { try work() }) }
        }
        await release()
        return try result.get()
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
