import ArgumentParser
import Compute
import Detector
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Synchronization
import Vision

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Moderate images and videos against safety policies, with evidence.",
        discussion: """
            For every policy: a verdict, a score, and the evidence (matched rule, frames and timestamps, \
            regions as pixel boxes). Folders are walked recursively; files are recognised by content. \
            Verdicts are null for policies without a calibrated threshold (give one with --threshold, or fit \
            them with guardrail calibrate); a policy with a detector rule (the shipped Sexual policy) is decided \
            by NudeNet's detections when its model is installed (scripts/setup.sh), with the detections as evidence. \
            Damaged files are scanned as far as they decode and say so in video.warnings; cover art, \
            further video streams and other pictures a viewer could see are scanned as frames of their own. \
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

    @Option(
        help:
            "Linear heads (a train-heads file) to classify with instead of the policies; they need --model they were trained on."
    )
    var heads: String?

    @OptionGroup var scanning: ScanSettingsOptions

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
        help: "Files scanned at once. Above 1, each file's forward passes run on one thread (one owner of parallelism)."
    )
    var jobs = 1

    @Option(help: "Cache folder for model hashes and encoded policies (default ~/.cache/guardrail).")
    var cache: String?

    @Flag(help: "Do not read or write the cache.")
    var noCache = false

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
        if heads != nil && (classifier != "clip-policy" || policy != nil) {
            throw ValidationError("--heads replaces the policies: leave out --policy and --classifier")
        }
        try OptionBounds.check(jobs, "--jobs", OptionBounds.workers)
        guard minFlaggedFrames > 0, batch > 0 else {
            throw ValidationError("--min-flagged-frames and --batch must be positive")
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

    func run() throws {
        var settings = try scanning.settings(concurrentScans: jobs)
        settings.scoring.minFlaggedFrames = minFlaggedFrames
        settings.explainAll = explain == "all"
        if explain == "none" { settings.scoring.evidenceFrames = 0 }
        settings.earlyExit = earlyExit
        settings.batch = batch
        settings.thresholdOverrides = try parsedThresholds()
        let artifacts = noCache ? nil : ArtifactCache(folder: cache ?? ArtifactCache.defaultFolder())
        let scanner: any MediaClassifier
        let files: [String]
        do {
            files = try MediaFiles.expand(paths)
            if classifier == "sd-safety-checker" {
                scanner = try SafetyCheckerScanner(model: safetyChecker!, settings: settings, cache: artifacts)
            } else if let heads {
                let loaded = try HeadsScanner(
                    model: ModelBundle(model, hashCache: artifacts), heads: heads, settings: settings)
                loaded.thresholdWarnings.forEach(Output.error)
                scanner = loaded
            } else {
                let engine = try GuardrailEngine(
                    model: model, policies: policy ?? PolicyPacks.unsafeBench, settings: settings, cache: artifacts)
                engine.thresholdWarnings.forEach(Output.error)
                if let warning = engine.detectorWarning { Output.error(warning) }
                scanner = engine
            }
        } catch {
            Output.error(EngineError(wrapping: error, file: heads ?? model).description)
            throw ExitCode(2)
        }
        let progress = Progress(total: files.count)
        let output = ScanOutput(format: format)
        scanner.scan(
            files: files, jobs: jobs, progress: { file, frames in progress.update(file: file, frames: frames) },
            deliver: { output.deliver($0) })
        progress.finish()
        let (reports, failed) = try output.close()
        if reports.isEmpty && !failed { Output.error("no files to scan in \(paths.joined(separator: ", "))") }
        if failed { throw ExitCode(2) }
        if failOnFlag && reports.contains(where: \.flagged) { throw ExitCode(1) }
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
            // A policy decided by its detector rule has no CLIP threshold but a verdict.
            let threshold =
                policy.threshold.map { String(format: "%.3f", $0) }
                ?? (policy.detections != nil ? "– (decided by the detector)" : "uncalibrated")
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
final class Progress: Sendable {
    private let total: Int
    private let enabled = isatty(STDERR_FILENO) != 0
    private let start = Date()
    /// Serialises the lines of concurrent scans.
    private let writing = Mutex(())

    init(total: Int) { self.total = total }

    func update(file: Int, frames: Int) {
        guard enabled else { return }
        writing.withLock { _ in
            let elapsed = Date().timeIntervalSince(start)
            let line = String(
                format: "\rfile %d/%d  frames %d  %.1f frames/s ", file + 1, total, frames,
                Double(frames) / max(elapsed, 1e-3))
            FileHandle.standardError.write(Data(line.utf8))
        }
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

/// Prints each outcome as it arrives (the engine delivers them in input order): a JSON line, a
/// table, or, for `json`, one document at the end. An outcome that cannot be encoded is recorded
/// as a failure.
final class ScanOutput: Sendable {
    private let format: String
    private struct Collected {
        var reports: [ScanReport] = []
        var errors: [ErrorReport] = []
        var failed = false
    }
    private let collected = Mutex(Collected())

    init(format: String) { self.format = format }

    func deliver(_ outcome: ScanOutcome) {
        collected.withLock { collected in
            switch outcome.result {
            case .success(let report):
                collected.reports.append(report)
                if format == "jsonl" { line(report, &collected) }
                if format == "table" { print(ScanCommand.table(report)) }
            case .failure(let error):
                collected.failed = true
                collected.errors.append(ErrorReport(error))
                if format == "table" { Output.error(error.description) }
                if format == "jsonl" { line(ErrorReport(error), &collected) }
            }
        }
    }

    private func line<T: Encodable>(_ value: T, _ collected: inout Collected) {
        do { try Output.jsonLine(value) } catch { collected.failed = true }
    }

    /// All reports in order, and whether any file failed; prints the json document if asked for.
    func close() throws -> ([ScanReport], Bool) {
        try collected.withLock { collected in
            if format == "json" {
                try Output.jsonDocument(Document(results: collected.reports, errors: collected.errors))
            }
            return (collected.reports, collected.failed)
        }
    }
}
