import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import ServiceLifecycle

/// Wakes idle workers when a job is queued (they also look every half second).
actor Doorbell {
    private var sleepers: [CheckedContinuation<Void, Never>] = []

    func ring() {
        let woken = sleepers
        sleepers = []
        for sleeper in woken { sleeper.resume() }
    }

    func wait(seconds: Double) async {
        await withCheckedContinuation { continuation in
            sleepers.append(continuation)
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                self.ring()
            }
        }
    }
}

/// The video job workers, the callback sender and the retention sweep, as one service. On
/// graceful shutdown no new job is taken; running ones finish (within the grace period the
/// command enforces) and queued ones stay for the next start.
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
        let state = self.state
        await withDiscardingTaskGroup { group in
            for worker in 0..<state.configuration.workers {
                group.addTask { await self.work(worker) }
            }
            group.addTask { await self.sendCallbacks() }
            group.addTask { await self.sweep() }
        }
    }

    private var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    private func work(_ worker: Int) async {
        while !stopping {
            guard let moderator = state.models.moderator else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let job: Job?
            do {
                job = try await state.store.claim()
            } catch {
                state.logger.error("worker \(worker): the job store failed: \(error)")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            guard let job else {
                await state.doorbell.wait(seconds: 0.5)
                continue
            }
            await process(job, moderator: moderator)
        }
    }

    private func process(_ job: Job, moderator: Moderator) async {
        var logger = state.logger
        logger[metadataKey: "job"] = .string(job.id)
        logger.info("job started", metadata: ["attempt": .stringConvertible(job.attempts)])
        let frames = FrameCounter()
        let store = state.store
        let reporter = Task {
            var reported = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                let now = frames.value
                if now != reported, (try? await store.progress(job.id, framesDone: now)) != nil { reported = now }
            }
        }
        let outcome: Result<ScanReport, any Error>
        do {
            outcome = .success(
                try await state.slots.run(deadline: nil, queued: false) {
                    try moderator.scan(path: job.upload, name: job.filename) { frames.value = $0 }
                })
        } catch {
            outcome = .failure(error)
        }
        reporter.cancel()
        if case .failure(let error) = outcome, error is CancellationError {
            // The shutdown grace ran out: the job stays running in the store and is queued again at
            // the next start.
            logger.info("job interrupted by the shutdown; it runs again at the next start")
            return
        }
        var finished = false
        do {
            switch outcome {
            case .success(let report):
                state.metrics.scanned(report)
                let data = Data(try JSONText.compactData(report))
                finished = try await store.finish(
                    job.id, attempt: job.attempts, state: .succeeded, framesDone: report.media.framesSampled.count,
                    result: data, error: nil)
            case .failure(let error):
                let engine = EngineError(wrapping: error, file: job.filename)
                let message = engine.message.replacingOccurrences(of: job.upload, with: job.filename)
                finished = try await store.finish(
                    job.id, attempt: job.attempts, state: .failed, framesDone: frames.value, result: nil,
                    error: JobDocument.error(type: engine.kind.rawValue, message: message))
            }
        } catch {
            logger.error("could not record the job's outcome: \(error)")
        }
        // Not finished: cancelled meanwhile, so the outcome is dropped.
        logger.info("job \(finished ? "finished" : "dropped (cancelled)")")
        if finished { await state.doorbell.ring() }
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
final class FrameCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var frames = 0

    var value: Int {
        get { lock.withLock { frames } }
        set { lock.withLock { frames = newValue } }
    }
}
