import ArgumentParser
import Foundation
import Server

/// `guardrail jobs list|show|retry|purge`: the operator's view of the video job queue.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List, inspect, retry and purge video jobs (the SQLite store of a data dir, or --jobs-db).",
        subcommands: [List.self, Show.self, Retry.self, Purge.self])

    /// Which store: `--jobs-db`, else DATA_DIR/jobs.sqlite.
    struct StoreOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The PostgreSQL job queue (postgres://…).", valueName: "url"))
        var jobsDb: String?

        @Option(help: "The data dir (its jobs.sqlite without --jobs-db; its uploads either way).")
        var dataDir = "guardrail-data"

        func open() async throws -> any JobStore {
            do {
                if let jobsDb { return try await PostgresJobStore(url: jobsDb) }
                let path = dataDir + "/jobs.sqlite"
                guard FileManager.default.fileExists(atPath: path) else {
                    Output.error("\(path): no job store here (give --data-dir or --jobs-db)")
                    throw ExitCode(2)
                }
                return try SQLiteJobStore(path: path)
            } catch let exit as ExitCode {
                throw exit
            } catch {
                Output.error("\(jobsDb.map(PostgresJobStore.redacted) ?? dataDir): cannot open the job store: \(error)")
                throw ExitCode(2)
            }
        }
    }

    static func line(_ job: Job) -> String {
        let iso = ISO8601DateFormatter()
        return [
            job.id, job.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0),
            "attempts \(job.attempts)", iso.string(from: job.createdAt), job.filename,
        ].joined(separator: "  ")
    }

    static func printJSON(_ job: Job) throws {
        FileHandle.standardOutput.write(Data(try JobDocument.encode(job) + [0x0A]))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest jobs first, with a count per state.")

        @OptionGroup var store: StoreOptions

        @Option(help: "Only jobs in this state (queued, running, succeeded, failed, cancelled, dead).")
        var state: String?

        @Option(help: "At most this many jobs.")
        var limit = 50

        @Flag(help: "One JSON object per job (without results).")
        var json = false

        func validate() throws {
            if let state, JobState(rawValue: state) == nil { throw ValidationError("no job state '\(state)'") }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            let jobs = try await store.open()
            let listed = try await jobs.list(state: state.flatMap(JobState.init(rawValue:)), limit: limit)
            if json {
                for var job in listed {
                    job.result = nil
                    try JobsCommand.printJSON(job)
                }
                return
            }
            let counts = try await jobs.counts()
            print(JobState.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
            for job in listed { print(JobsCommand.line(job)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One job as GET /v1/videos/ID gives it (JSON).")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The job id.")
        var id: String

        func run() async throws {
            guard let job = try await store.open().job(id) else {
                Output.error("no job \(id)")
                throw ExitCode(1)
            }
            try JobsCommand.printJSON(job)
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Queue a finished job again (dead, failed, cancelled, or succeeded to rescan), its attempts reset.",
            discussion: "Its upload must still be in the data dir (give --data-dir with --jobs-db).")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The job id.")
        var id: String

        func run() async throws {
            let jobs = try await store.open()
            guard let job = try await jobs.job(id) else {
                Output.error("no job \(id)")
                throw ExitCode(1)
            }
            guard job.state.isFinal else {
                Output.error("job \(id) is \(job.state.rawValue): only a finished job can be retried")
                throw ExitCode(1)
            }
            guard FileManager.default.fileExists(atPath: Job.file(job.upload, in: store.dataDir)) else {
                Output.error("job \(id): its upload is gone (removed by cancellation or retention)")
                throw ExitCode(1)
            }
            _ = try await jobs.requeue(id)
            print("\(id): queued again (was \(job.state.rawValue) after \(job.attempts) attempt(s))")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove finished jobs (rows and uploads) older than --older-than, optionally of some states only."
        )

        @OptionGroup var store: StoreOptions

        @Option(help: "Only jobs finished longer ago than this: 7d, 24h, 0 (all).")
        var olderThan = "0"

        @Option(help: "Only jobs in this final state (repeatable; default: every final state).")
        var state: [String] = []

        func validate() throws {
            guard parseDuration(olderThan) != nil else { throw ValidationError("--older-than takes 7d, 24h, 3600, …") }
            for name in state where JobState(rawValue: name)?.isFinal != true {
                throw ValidationError("'\(name)' is not a final state (succeeded, failed, cancelled, dead)")
            }
        }

        func run() async throws {
            let states = state.isEmpty ? Set(JobState.allCases.filter(\.isFinal)) : Set(state.compactMap(JobState.init))
            let removed = try await store.open().purge(
                before: Date().addingTimeInterval(-parseDuration(olderThan)!), states: states, dataDir: store.dataDir)
            print("purged \(removed.count) job(s)")
        }
    }
}
