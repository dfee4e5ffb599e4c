import ArgumentParser
import Compute
import Evaluation
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import Vision

/// The model, policies and settings every evaluation command loads classifiers with.
struct EvaluationArguments: ParsableArguments {
    @Option(help: "Labelled data set: a CSV or JSONL manifest (path, category, label[, source, split]).")
    var dataset: String

    @Option(help: "Folder the manifest's relative paths resolve against (default: the manifest's folder).")
    var imagesRoot: String?

    @Option(help: ArgumentHelp("CLIP model: folder or Hugging Face repo id (local cache).", valueName: "path-or-id"))
    var model = "openai/clip-vit-base-patch32"

    @Option(help: "Policy file or folder for the zero-shot classifier (default: the shipped UnsafeBench pack).")
    var policy: String?

    @OptionGroup var scanning: ScanSettingsOptions

    @Option(
        help: "Cache folder for model hashes, encoded policies and per-item bench outputs (default ~/.cache/guardrail)."
    )
    var cache: String?

    @Flag(help: "Do not read or write any cache (an interrupted run then starts over).")
    var noCache = false

    func settings() throws -> ScanSettings { try scanning.settings() }

    var artifacts: ArtifactCache? { noCache ? nil : ArtifactCache(folder: cache ?? ArtifactCache.defaultFolder()) }

    func loadDataset() throws -> LabelledDataset {
        do {
            return try LabelledDataset(manifest: dataset, imagesRoot: imagesRoot)
        } catch {
            Output.error(error.description)
            throw ExitCode(2)
        }
    }

    func benchOptions(_ settings: ScanSettings) -> BenchOptions {
        var options = BenchOptions()
        options.sampling = settings.sampling
        options.limits = settings.limits
        options.cacheFolder = artifacts.map { $0.folder + "/bench" }
        return options
    }
}

/// A progress line on stderr while a bench runs, only when stderr is a terminal.
final class BenchProgressLine: Sendable {
    private let enabled = isatty(STDERR_FILENO) != 0
    private let start = Date()

    func update(_ progress: BenchProgress) {
        guard enabled, progress.total > 0 else { return }
        let width = 30
        let filled = width * progress.done / progress.total
        let rate = Double(progress.done) / max(Date().timeIntervalSince(start), 1e-3)
        let line = String(
            format: "\r%@ [%@%@] %d/%d  %.1f items/s \u{1B}[K", progress.stage, String(repeating: "#", count: filled),
            String(repeating: ".", count: width - filled), progress.done, progress.total, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Loads the classifiers named by `--classifier` values, printing their warnings; a bad name is a
/// usage error (status 64), a model or policy that does not load status 2.
func loadBenchClassifiers(
    _ names: [String], arguments: EvaluationArguments, settings: ScanSettings, safetyChecker: String?
) throws -> [any BenchClassifier] {
    do {
        let (classifiers, warnings) = try BenchClassifiers.load(
            names, model: arguments.model, policy: arguments.policy, safetyChecker: safetyChecker, settings: settings,
            cache: arguments.artifacts)
        warnings.forEach(Output.error)
        return classifiers
    } catch  where error.kind == .input {
        throw ValidationError(error.message)
    } catch {
        Output.error(error.description)
        throw ExitCode(2)
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark image-safety classifiers on a labelled data set (UnsafeBench protocol).",
        discussion: """
            Every classifier is scored on the categories it covers: per category, per source (real, \
            generated, both) and overall (micro: items pooled; macro: mean over categories), with n, \
            confusion counts, precision, recall and F1 of the unsafe class, accuracy, FPR, AUROC and \
            AUPRC (null where undefined). Classifiers: zero-shot (the engine's policy scoring, decisions \
            at calibrated thresholds), heads:FILE (train-heads), sd-safety-checker, and external ones as \
            prediction files (--predictions NAME=FILE: CSV/JSONL of path, category, score or label, or \
            scan's JSONL). --robustness perturbs the items each classifier got right (up to \
            --robust-items, drawn with --seed) and reports robust accuracy. Per-item outputs are cached: \
            an interrupted run continues where it stopped. Prints a Markdown table; --out-json writes \
            every figure, --out-html a self-contained report.
            """
    )

    @OptionGroup var arguments: EvaluationArguments

    @Option(
        name: .customLong("classifier"),
        help: ArgumentHelp(
            "zero-shot, heads:FILE or sd-safety-checker (repeatable; default zero-shot unless --predictions).",
            valueName: "name"))
    var classifiers: [String] = []

    @Option(help: ArgumentHelp("Safety checker folder or repo id, for sd-safety-checker.", valueName: "path-or-id"))
    var safetyChecker: String?

    @Option(
        name: .customLong("predictions"),
        help: ArgumentHelp("An external classifier's outputs (repeatable).", valueName: "name=file"))
    var predictions: [String] = []

    @Option(help: "Evaluate one split only: train or test (default: every item).")
    var split: String?

    @Option(help: "category-conditioned (default: the slice's own category decides) or agnostic (any category).")
    var mode = "category-conditioned"

    @Option(
        name: .customLong("robustness"),
        help: ArgumentHelp(
            "noise:L2,… jpeg:Q,… blur:SIGMA,… resize:SCALE,… crop:FRACTION,… (repeatable).", valueName: "spec"))
    var robustness: [String] = []

    @Option(help: "Items per classifier for robustness, drawn from those it classified correctly.")
    var robustItems = 500

    @Option(help: "Seed of the robustness draw and the noise.")
    var seed: UInt64 = 2023

    @Option(help: "Write every figure as JSON here.")
    var outJson: String?

    @Option(help: "Write a self-contained HTML report here.")
    var outHtml: String?

    func validate() throws {
        if let split, DatasetSplit(rawValue: split) == nil { throw ValidationError("--split is train or test") }
        guard EvaluationMode(rawValue: mode) != nil else {
            throw ValidationError("--mode is category-conditioned or agnostic")
        }
        guard robustItems > 0 else { throw ValidationError("--robust-items must be positive") }
        for spec in robustness {
            do { _ = try Perturbation.parse(spec) } catch { throw ValidationError(error.description) }
        }
        for item in predictions where !item.contains("=") {
            throw ValidationError("--predictions takes NAME=FILE, not '\(item)'")
        }
    }

    func run() throws {
        let dataset = try arguments.loadDataset()
        let settings = try arguments.settings()
        var options = arguments.benchOptions(settings)
        options.split = split.flatMap(DatasetSplit.init(rawValue:))
        options.mode = EvaluationMode(rawValue: mode)!
        options.perturbations = try robustness.flatMap { try Perturbation.parse($0) }
        options.robustItems = robustItems
        options.seed = seed
        let names = classifiers.isEmpty && predictions.isEmpty ? ["zero-shot"] : classifiers
        let loaded = try loadBenchClassifiers(
            names, arguments: arguments, settings: settings, safetyChecker: safetyChecker)
        var external: [(outputs: ClassifierOutputs, file: String)] = []
        do {
            for item in predictions {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                let rows = try PredictionFile.read(parts[1])
                var unmatched: [String] = []
                external.append(
                    (
                        try PredictionFile.outputs(
                            rows, name: parts[0], dataset: dataset, file: parts[1], unmatched: &unmatched),
                        parts[1]
                    ))
                if let first = unmatched.first {
                    Output.error("\(parts[1]): \(unmatched.count) rows name no item of the data set (first: \(first))")
                }
            }
        } catch {
            Output.error(error.description)
            throw ExitCode(2)
        }
        let runner = BenchRunner(dataset: dataset, classifiers: loaded, external: external, options: options)
        var report = try runWithProgress(runner)
        report.command = ["guardrail"] + CommandLine.arguments.dropFirst()
        try write(report, json: outJson, html: outHtml)
        Output.write(report.markdown())
        for item in report.dataset.unreadable { Output.error("row \(item.row): \(item.error)") }
    }
}

/// Runs a bench with a progress line on stderr; a failure is printed and exits 2.
func runWithProgress(_ runner: BenchRunner) throws -> BenchReport {
    let progress = BenchProgressLine()
    do {
        let report = try runner.run(progress: progress.update)
        progress.finish()
        return report
    } catch {
        // The progress line is cleared first, so the error starts a line of its own.
        progress.finish()
        Output.error("\(error)")
        throw ExitCode(2)
    }
}

/// Writes the JSON and HTML renderings where asked, atomically.
func write(_ report: BenchReport, json: String?, html: String?) throws {
    do {
        if let json { try AtomicFile.write(Data((try JSONText.pretty(report) + "\n").utf8), to: json) }
        if let html { try AtomicFile.write(Data(report.html().utf8), to: html) }
    } catch {
        Output.error("cannot write the report: \(error)")
        throw ExitCode(2)
    }
}

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract:
            "Fit per-policy thresholds on a data set's train split and write them into a copy of the policy file.",
        discussion: """
            Each policy's (or head's) threshold is chosen on the train items of its category: the highest \
            F1 (ties to the smaller threshold), or --target precision=P / recall=R. The copy records the \
            model's hash and the scoring settings (rho, tau, lambda, delta, patch variant, sampling, \
            min-flagged-frames): scan applies a threshold only for that model and those settings, and \
            says on stderr when it does not. Prints the test split's figures at the chosen thresholds.
            """
    )

    @OptionGroup var arguments: EvaluationArguments

    @Option(help: "Calibrate linear heads (a train-heads file) instead of the policies.")
    var heads: String?

    @Option(help: "f1 (default), precision=P or recall=R.")
    var target = "f1"

    @Option(help: "Where to write the calibrated copy (policy JSON, or heads safetensors).")
    var out: String

    func validate() throws {
        do { _ = try CalibrationTarget(parsing: target) } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        let dataset = try arguments.loadDataset()
        guard dataset.items.contains(where: { $0.split == .train }) else {
            Output.error("\(dataset.manifest): no item has split train; calibration fits on the train split only")
            throw ExitCode(2)
        }
        let settings = try arguments.settings()
        let name = heads.map { "heads:" + $0 } ?? "zero-shot"
        let classifier = try loadBenchClassifiers([name], arguments: arguments, settings: settings, safetyChecker: nil)[
            0]
        let runner = BenchRunner(dataset: dataset, classifiers: [classifier], options: arguments.benchOptions(settings))
        let goal = try CalibrationTarget(parsing: target)
        let calibration = CalibrationRun(
            runner: runner, uncalibrated: try runWithProgress(runner), target: goal, destination: out)
        do {
            if let heads {
                try CalibrationWriter.writeHeads(
                    try LinearHeads(contentsOf: heads), to: out, thresholds: calibration.thresholds,
                    settings: ThresholdSettings.of(settings).filter {
                        ["sampling", "min_flagged_frames"].contains($0.key)
                    })
            } else if let engine = (classifier as? ZeroShotClassifier)?.engine {
                try CalibrationWriter.writePolicies(
                    from: engine.policySet.path, to: out, thresholds: calibration.thresholds,
                    modelSHA256: engine.modelSHA256, settings: ThresholdSettings.of(settings))
            }
        } catch {
            Output.error("cannot write \(out): \(error)")
            throw ExitCode(2)
        }
        for f in calibration.fitted {
            let value = f.threshold.map { String(format: "%.4f", $0) } ?? "not reachable"
            Output.write(
                "\(f.category): θ \(value) (\(goal), \(f.trainItems) train items"
                    + (f.trainF1.map { String(format: ", train F1 %.3f", $0) } ?? "") + ")\n")
        }
        guard let report = calibration.testReport else {
            Output.write("\nno test split: nothing to evaluate at the chosen thresholds\n")
            return
        }
        Output.write("\n" + report.markdown())
    }
}

struct TrainHeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-heads",
        abstract: "Train one logistic-regression head per category on frozen CLIP image embeddings (train split).",
        discussion: """
            UnsafeBench's MultiHeaded baseline as a linear probe: per category, the unit image embeddings \
            of its train items (a video's: the mean of its sampled frames', re-normalised), class weights \
            for imbalance, the L2 strength chosen by stratified k-fold cross-validation (held-out log \
            loss) with --seed. Writes a small safetensors file with the categories, the model's hash, \
            the embedding size and the training set's hash; use it with scan --heads or \
            bench --classifier heads:FILE, and calibrate its thresholds with calibrate --heads.
            """
    )

    @OptionGroup var arguments: EvaluationArguments

    @Option(help: "Where to write the heads (safetensors).")
    var out: String

    @Option(help: "Cross-validation folds.")
    var folds = 5

    @Option(help: "Seed of the fold assignment.")
    var seed: UInt64 = 2023

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
    }

    func run() throws {
        let dataset = try arguments.loadDataset()
        let settings = try arguments.settings()
        let train = dataset.items.indices.filter { dataset.items[$0].split == .train }
        guard !train.isEmpty else {
            Output.error("\(dataset.manifest): no item has split train")
            throw ExitCode(2)
        }
        let embedder: ImageEmbedder
        do {
            embedder = try ImageEmbedder(
                model: ModelBundle(arguments.model, hashCache: arguments.artifacts), compute: settings.compute)
        } catch {
            Output.error("\(error)")
            throw ExitCode(2)
        }
        let progress = BenchProgressLine()
        let training = HeadTraining(dataset: dataset, embedder: embedder, settings: settings, folds: folds, seed: seed)
        {
            progress.update(BenchProgress(stage: "embedding", done: $0, total: $1))
        }
        progress.finish()
        for (row, reason) in training.leftOut { Output.error("row \(row): \(reason) (left out)") }
        for category in training.untrainable {
            Output.error("\(category): the train split needs both safe and unsafe items; no head trained")
        }
        for head in training.heads {
            Output.write(
                String(
                    format: "%@: %d items (%d unsafe), C %g (cv log loss %.4f), train accuracy %.3f\n", head.category,
                    head.items, head.unsafeItems, head.crossValidation.c, head.crossValidation.losses.min() ?? .nan,
                    head.trainAccuracy))
        }
        guard let heads = training.linearHeads(embedder: embedder, dataset: dataset) else {
            Output.error("no head could be trained")
            throw ExitCode(2)
        }
        do {
            try heads.write(to: out)
        } catch {
            Output.error("cannot write \(out): \(error)")
            throw ExitCode(2)
        }
        Output.write("wrote \(heads.categories.count) heads to \(out)\n")
    }
}
