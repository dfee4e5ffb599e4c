import ArgumentParser
import Compute
import Detector
import GuardrailEngine
import Media

/// The options of every command that samples and scans media (`scan`, `serve`, `worker`, `bench`,
/// `calibrate`, `train-heads`), and the ``ScanSettings`` they make: one place, so the same flags
/// mean the same thing everywhere.
struct ScanSettingsOptions: ParsableArguments {
    @OptionGroup var sampling: SamplingArguments

    @Option(help: "At most this many frames per video (thinned evenly).")
    var maxFrames = 64

    @Option(
        help:
            "Compute threads per forward pass (the engine's workers, or OpenBLAS's on CPUs without AVX2); default: the number of cores, 1 when several scans run at once."
    )
    var threads: Int?

    @Option(help: "NudeNet's ONNX file for policies with detector rules (default: where scripts/setup.sh puts it).")
    var detectorModel: String?

    @Flag(help: "Do not run the detector: policies with detector rules use their CLIP rules alone.")
    var noDetector = false

    @OptionGroup var limitOptions: LimitOptions

    func validate() throws {
        try OptionBounds.check(threads, "--threads", OptionBounds.workers)
        try OptionBounds.check(maxFrames, "--max-frames", 1...1_000_000)
    }

    /// The settings for `concurrentScans` scans at once (one compute thread each unless
    /// `--threads` says otherwise).
    func settings(concurrentScans: Int = 1) throws -> ScanSettings {
        var settings = ScanSettings()
        settings.sampling = SamplingOptions(strategy: try sampling.strategy().0, maxFrames: maxFrames)
        settings.limits = limitOptions.limits
        settings.compute = ComputeConfiguration(threads: threads ?? (concurrentScans > 1 ? 1 : nil))
        settings.detectorModel = noDetector ? nil : (detectorModel ?? NudeNetDetector.defaultModelPath())
        return settings
    }
}
