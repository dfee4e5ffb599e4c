import ArgumentParser
import Foundation
import GuardrailEngine
import Media
import Policy
import Vision

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Moderate images and videos against safety policies, with evidence.",
        discussion: """
            For every policy: a verdict, a score, and the evidence (matched rule, frames and timestamps, \
            regions as pixel boxes). Folders are walked recursively; files are recognised by content. \
            Verdicts are null for policies without a calibrated threshold (give one with --threshold). \
            Exit status: 0 when every file was read; 1 with --fail-on-flag when something was flagged; \
            2 when a file could not be read (its result is an error object).
            """
    )

    @Argument(help: "Images, videos or folders.")
    var paths: [String]

    @Option(help: ArgumentHelp("CLIP model: folder or Hugging Face repo id (local cache).", valueName: "path-or-id"))
    var model = "openai/clip-vit-base-patch32"

    @Option(help: "Policy file or folder (default: the shipped UnsafeBench pack).")
    var policy: String?

    @Option(help: "Classifier: clip-policy (default) or sd-safety-checker (needs --safety-checker).")
    var classifier = "clip-policy"

    @Option(
        help: ArgumentHelp(
            "Safety checker folder or repo id, for --classifier sd-safety-checker.", valueName: "path-or-id"))
    var safetyChecker: String?

    @OptionGroup var sampling: SamplingArguments

    @Option(help: "At most this many frames per video (thinned evenly).")
    var maxFrames = 64

    @Option(help: "Frames that must be flagged for a policy's verdict.")
    var minFlaggedFrames = 1

    @Flag(help: "Stop decoding once every policy is flagged (no verdict can change).")
    var earlyExit = false

    @Option(
        name: .customLong("threshold"),
        help: ArgumentHelp("A threshold for a policy, by id or name (repeatable).", valueName: "policy=value"))
    var thresholds: [String] = []

    @Option(help: "Evidence for: flagged (default), all, or none.")
    var explain = "flagged"

    @Option(help: "Output: jsonl (default, one object per file), json (one document), or table.")
    var format = "jsonl"

    @Flag(help: "Exit with status 1 when anything is flagged.")
    var failOnFlag = false

    @Option(help: "Frames per forward pass.")
    var batch = 8

    @Option(
        help:
            "Compute threads per forward pass (the engine's workers, or OpenBLAS's without AVX-512); default: the number of cores, 1 when --jobs is above 1."
    )
    var threads: Int?

    @Option(
        help: "Files scanned at once. Above 1, each file's forward passes run on one thread (one owner of parallelism)."
    )
    var jobs = 1

    @Option(help: "Cache folder for model hashes and encoded policies (default ~/.cache/guardrail).")
    var cache: String?

    @Flag(help: "Do not read or write the cache.")
    var noCache = false

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        guard ["flagged", "all", "none"].contains(explain) else {
            throw ValidationError("--explain is flagged, all or none")
        }
        guard ["jsonl", "json", "table"].contains(format) else {
            throw ValidationError("--format is jsonl, json or table")
        }
        guard ["clip-policy", "sd-safety-checker"].contains(classifier) else {
            throw ValidationError("--classifier is clip-policy or sd-safety-checker")
        }
        if classifier == "sd-safety-checker" && safetyChecker == nil {
            throw ValidationError("--classifier sd-safety-checker needs --safety-checker PATH_OR_ID")
        }
        guard maxFrames > 0, minFlaggedFrames > 0, batch > 0, (threads ?? 1) > 0, jobs > 0 else {
            throw ValidationError("--max-frames, --min-flagged-frames, --batch, --threads and --jobs must be positive")
        }
        _ = try parsedThresholds()
    }

    func parsedThresholds() throws -> [String: Float] {
        var result: [String: Float] = [:]
        for item in thresholds {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Float(parts[1]), value.isFinite else {
                throw ValidationError("--threshold takes POLICY=VALUE, for example Violence=0.27, not '\(item)'")
            }
            result[parts[0]] = value
        }
        return result
    }

    /// The shipped UnsafeBench pack: `$GUARDRAIL_POLICIES`, beside the executable's checkout, or `./policies`.
    static func defaultPolicy() -> String {
        if let folder = ProcessInfo.processInfo.environment["GUARDRAIL_POLICIES"] {
            return folder + "/unsafebench.json"
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var url = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent("policies/unsafebench.json").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return "policies/unsafebench.json"
    }

    func run() throws {
        var settings = ScanSettings()
        let (strategy, _) = try sampling.strategy()
        settings.sampling = SamplingOptions(strategy: strategy, maxFrames: maxFrames)
        settings.limits = limitOptions.limits
        settings.scoring.minFlaggedFrames = minFlaggedFrames
        settings.explainAll = explain == "all"
        if explain == "none" { settings.scoring.evidenceFrames = 0 }
        settings.earlyExit = earlyExit
        settings.batch = batch
        settings.thresholdOverrides = try parsedThresholds()
        if let threads {
            GEMM.threads = threads
        } else if jobs > 1 {
            GEMM.threads = 1
        }
        let engineCache = noCache ? nil : EngineCache(folder: cache ?? EngineCache.defaultFolder())
        let scan: @Sendable (String, (Int) -> Void) throws -> ScanReport
        do {
            if classifier == "sd-safety-checker" {
                let scanner = try SafetyCheckerScanner(model: safetyChecker!, settings: settings, cache: engineCache)
                scan = { try scanner.scan($0, progress: $1) }
            } else {
                let engine = try GuardrailEngine(
                    model: model, policies: policy ?? Self.defaultPolicy(), settings: settings, cache: engineCache)
                scan = { try engine.scan($0, progress: $1) }
            }
        } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        let files = Self.expand(paths)
        let progress = Progress(total: files.count)
        let output = OrderedOutput(format: format)
        let scanOne: @Sendable (Int) -> Void = { i in
            let file = files[i]
            do {
                output.finish(i, .success(try scan(file) { frames in progress.update(file: i, frames: frames) }))
            } catch let error as MediaError {
                output.finish(i, .failure(error))
            } catch {
                output.finish(i, .failure(MediaError(.io, path: file, function: "scan", message: "\(error)")))
            }
        }
        if jobs > 1 {
            DispatchQueue.concurrentPerform(iterations: files.count) { scanOne($0) }
        } else {
            for i in files.indices { scanOne(i) }
        }
        progress.finish()
        let (reports, failed) = output.close()
        if failed { throw ExitCode(2) }
        if failOnFlag && reports.contains(where: \.flagged) { throw ExitCode(1) }
    }

    /// Files below the given paths, folders walked recursively in name order.
    static func expand(_ paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
                return [path]
            }
            let entries = (FileManager.default.subpaths(atPath: path) ?? []).sorted()
            return entries.map { path + "/" + $0 }.filter {
                var sub: ObjCBool = false
                return FileManager.default.fileExists(atPath: $0, isDirectory: &sub) && !sub.boolValue
                    && !($0 as NSString).lastPathComponent.hasPrefix(".")
            }
        }
    }

    static func table(_ report: ScanReport) -> String {
        var lines = [
            "\(report.path) (\(report.media.kind), \(report.media.framesSampled.count) frames): "
                + (report.unsafe == true ? "FLAGGED" : report.unsafe == false ? "ok" : "uncalibrated")
        ]
        let width = report.policies.map(\.name.count).max() ?? 0
        for policy in report.policies {
            let verdict = policy.verdict.map { $0 ? "flagged" : "ok" } ?? "–"
            let score = policy.score.map { String(format: "%.3f", $0) } ?? "–"
            let threshold = policy.threshold.map { String(format: "%.3f", $0) } ?? "uncalibrated"
            var line =
                "  \(policy.name.padding(toLength: width, withPad: " ", startingAt: 0)) \(verdict.padding(toLength: 8, withPad: " ", startingAt: 0)) score \(score)  θ \(threshold)"
            if !policy.segments.isEmpty {
                line +=
                    "  at "
                    + policy.segments.map { String(format: "%.1f–%.1f s", $0[0], $0[1]) }.joined(separator: ", ")
            }
            lines.append(line)
            if let explanation = policy.explanation { lines.append("    \(explanation)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// A one-line progress display on stderr, only when stderr is a terminal.
final class Progress: @unchecked Sendable {
    private let total: Int
    private let enabled = isatty(STDERR_FILENO) != 0
    private let start = Date()

    init(total: Int) { self.total = total }

    func update(file: Int, frames: Int) {
        guard enabled else { return }
        let elapsed = Date().timeIntervalSince(start)
        let line = String(
            format: "\rfile %d/%d  frames %d  %.1f frames/s ", file + 1, total, frames,
            Double(frames) / max(elapsed, 1e-3))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// `--format json`: every result and every unreadable file, in input order.
struct Document: Encodable {
    var results: [ScanReport]
    var errors: [ErrorReport]
}

/// Prints results in input order as soon as each one and all before it are done, whatever order
/// the workers finish in.
final class OrderedOutput: @unchecked Sendable {
    private let format: String
    private let lock = NSLock()
    private var pending: [Int: Result<ScanReport, MediaError>] = [:]
    private var next = 0
    private var reports: [ScanReport] = []
    private var errors: [ErrorReport] = []

    init(format: String) { self.format = format }

    func finish(_ index: Int, _ result: Result<ScanReport, MediaError>) {
        lock.lock()
        defer { lock.unlock() }
        pending[index] = result
        while let ready = pending.removeValue(forKey: next) {
            next += 1
            switch ready {
            case .success(let report):
                reports.append(report)
                if format == "jsonl" { Output.jsonLine(report) }
                if format == "table" { print(ScanCommand.table(report)) }
            case .failure(let error):
                errors.append(ErrorReport(error))
                if format == "table" { Output.error(error.description) }
                if format == "jsonl" { Output.jsonLine(ErrorReport(error)) }
            }
        }
    }

    /// All reports in order, and whether any file failed; prints the json document if asked for.
    func close() -> ([ScanReport], Bool) {
        lock.lock()
        defer { lock.unlock() }
        if format == "json" { Output.jsonDocument(Document(results: reports, errors: errors)) }
        return (reports, !errors.isEmpty)
    }
}
