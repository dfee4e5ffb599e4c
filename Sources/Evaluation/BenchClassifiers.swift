import Foundation
import GuardrailCore
import GuardrailEngine
import Vision

/// The classifiers `bench` and `calibrate` name: `zero-shot` (the engine's policy scoring),
/// `heads:FILE` (a `train-heads` file) and `sd-safety-checker`.
public enum BenchClassifiers {
    /// Loads the classifiers `names` on `model` (`policy`: the zero-shot classifier's pack, default
    /// the shipped UnsafeBench one; `safetyChecker`: the checker's folder or repo id). Returns them
    /// with the warnings their loading gave (thresholds calibrated for other settings, a missing
    /// detector model), for stderr.
    public static func load(
        _ names: [String], model: String, policy: String?, safetyChecker: String?, settings: ScanSettings,
        cache: ArtifactCache?
    ) throws(EngineError) -> (classifiers: [any BenchClassifier], warnings: [String]) {
        var classifiers: [any BenchClassifier] = []
        var warnings: [String] = []
        for name in names {
            if name == "zero-shot" {
                let engine = try GuardrailEngine(
                    model: model, policies: policy ?? PolicyPacks.unsafeBench, settings: settings, cache: cache)
                warnings += engine.thresholdWarnings + [engine.detectorWarning].compactMap { $0 }
                classifiers.append(ZeroShotClassifier(engine: engine))
            } else if name.hasPrefix("heads:") {
                let file = String(name.dropFirst("heads:".count))
                let bundle: ModelBundle
                do {
                    bundle = try ModelBundle(model, hashCache: cache)
                } catch {
                    throw EngineError(error, file: model)
                }
                let scanner = try HeadsScanner(model: bundle, heads: file, settings: settings)
                warnings += scanner.thresholdWarnings
                classifiers.append(
                    HeadsClassifier(scanner: scanner, name: "heads:" + (file as NSString).lastPathComponent))
            } else if name == "sd-safety-checker" {
                guard let safetyChecker else {
                    throw EngineError(
                        .input, file: name, message: "--classifier sd-safety-checker needs --safety-checker PATH_OR_ID")
                }
                classifiers.append(
                    SafetyCheckerClassifier(
                        scanner: try SafetyCheckerScanner(model: safetyChecker, settings: settings, cache: cache)))
            } else {
                throw EngineError(
                    .input, file: name,
                    message: "--classifier is zero-shot, heads:FILE or sd-safety-checker, not '\(name)'")
            }
        }
        return (classifiers, warnings)
    }
}
