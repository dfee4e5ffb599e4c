import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import ServiceLifecycle
import Synchronization

/// The video job workers and the reaper of expired leases, and on API nodes the callback sender
/// and the retention sweep, as one service. On graceful shutdown no new job is taken; running ones
/// finish (within the grace period the command enforces) and queued ones stay for the next start.
final class VideoJobs: Service, Sendable {
    let state: ServerState

    init(state: ServerState) { self.state = state }

    func run() async throws {
        let state = self.state
        await withGracefulShutdownHandler {
            await self.runLoops()
        } onGracefulShutdown: {
            state.logger.info("shutting down: no new jobs are taken; running ones finish")
        }
        await state.callbacks.shutdown()
        state.logger.info("job workers stopped")
    }

    private func runLoops() async {
        let configuration = state.configuration
        await withDiscardingTaskGroup { group in
            for worker in 0..<configuration.videoWorkers {
                group.addTask { await self.work(worker) }
            }
            if configuration.videoWorkers > 0 { group.addTask { await self.reap() } }
            if configuration.housekeeping {
                group.addTask { await self.sendCallbacks() }
                group.addTask { await self.sweep() }
            }
        }
    }

    private var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    private func work(_ worker: Int) async {
        let name = state.configuration.nodeName + "/\(worker)"
        while !stopping {
            guard let moderator = state.models.moderator else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let job: Job?
            do {
                job = try await state.store.claim(worker: name, lease: state.configuration.lease)
            } catch {
                state.logger.error("worker \(worker): the job store failed: \(error)")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            guard let job else {
                await state.store.waitForJobs(seconds: 1)
                continue
            }
            await process(job, moderator: moderator)
        }
    }

    /// Queues again (or dead-letters) the jobs of workers that stopped renewing their leases.
    private func reap() async {
        let configuration = state.configuration
        while !stopping {
            if let (requeued, dead) = try? await state.store.reapExpired(maxAttempts: configuration.maxAttempts),
                requeued + dead > 0
            {
                state.metrics.leaseExpiries.increment(by: Int64(requeued + dead))
                state.logger.warning("leases expired: \(requeued) job(s) queued again, \(dead) dead")
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .seconds(max(0.2, configuration.lease / 3)))
            }
        }
    }

    private func process(_ job: Job, moderator: Moderator) async {
        var logger = state.logger
        logger[metadataKey: "job"] = .string(job.id)
        logger.info("job started", metadata: ["attempt": .stringConvertible(job.attempts)])
        let frames = FrameCounter()
        let (store, configuration) = (state.store, state.configuration)
        // Progress as it changes, and the lease renewed every third of its length.
        let heartbeat = Task {
            var (reported, beat) = (0, Date())
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                let now = frames.value
                guard now != reported || Date().timeIntervalSince(beat) >= configuration.lease / 3 else { continue }
                if (try? await store.heartbeat(
                    job.id, attempt: job.attempts, framesDone: now, lease: configuration.lease)) != nil
                {
                    (reported, beat) = (now, Date())
                }
            }
        }
        let path = configuration.file(job.upload)
        let outcome: Result<ScanReport, any Error>
        do {
            // The upload was stored before the job: missing here means this node does not see the
            // shared volume (yet), which another attempt, or another worker, may.
            guard FileManager.default.fileExists(atPath: path) else {
                logger.error("the upload \(path) is not on this node: is --data-dir the API nodes' shared volume?")
                throw EngineError(
                    .io, file: job.filename, message: "the upload is missing from the worker's data dir")
            }
            outcome = .success(
                try await state.slots.run(deadline: nil, queued: false) {
                    try moderator.scan(path: path, name: job.filename) { frames.value = $0 }
                })
        } catch {
            outcome = .failure(error)
        }
        heartbeat.cancel()
        if case .failure(let error) = outcome, error is CancellationError {
            // The shutdown grace ran out: the job stays running in the store, queued again at the
            // next start (SQLite) or when its lease expires (a jobs database).
            logger.info("job interrupted by the shutdown; it runs again")
            return
        }
        // What happened, for the log; `ended`: this attempt recorded the job's final outcome.
        var (recorded, ended) = ("dropped (no longer this attempt's: cancelled or taken over)", false)
        do {
            switch outcome {
            case .success(let report):
                state.metrics.scanned(report)
                let data = Data(try JSONText.compactData(report))
                ended = try await store.finish(
                    job.id, attempt: job.attempts, state: .succeeded, framesDone: report.media.framesSampled.count,
                    result: data, error: nil)
                if ended { recorded = "finished" }
            case .failure(let error):
                let engine = EngineError(wrapping: error, file: job.filename)
                let message = engine.message.replacingOccurrences(of: path, with: job.filename)
                let reason = JobDocument.error(type: engine.kind.rawValue, message: message)
                if engine.isRetryable {
                    // The file could not be read (a shared volume's hiccup, an upload not there yet):
                    // worth another attempt. Damaged media, model and policy errors are final.
                    let delay = configuration.retryDelay * pow(2, Double(job.attempts - 1))
                    if let left = try await store.retry(
                        job.id, attempt: job.attempts, error: reason, delay: delay,
                        maxAttempts: configuration.maxAttempts)
                    {
                        ended = left == .dead
                        if !ended { state.metrics.retries.increment() }
                        recorded = (ended ? "dead after \(job.attempts) attempts: " : "to be retried: ") + message
                    }
                } else {
                    ended = try await store.finish(
                        job.id, attempt: job.attempts, state: .failed, framesDone: frames.value, result: nil,
                        error: reason)
                    if ended { recorded = "failed: " + message }
                }
            }
        } catch {
            logger.error("could not record the job's outcome: \(error)")
        }
        if ended { state.metrics.jobLatency.recordNanoseconds(Int64(Date().timeIntervalSince(job.createdAt) * 1e9)) }
        logger.info("job \(recorded)")
    }

    private func sendCallbacks() async {
        while !stopping {
            await state.callbacks.deliverDue { try JobDocument.encode($0) }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private func sweep() async {
        while !stopping {
            await state.expire()
            let pause = min(60, max(1, state.configuration.retention / 10))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(pause)) }
        }
    }
}

/// The latest frame count of a running scan, written by its thread and read by the reporter.
final class FrameCounter: Sendable {
    private let frames = Mutex(0)

    var value: Int {
        get { frames.withLock { $0 } }
        set { frames.withLock { $0 = newValue } }
    }
}
