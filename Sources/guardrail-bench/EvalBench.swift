import ArgumentParser
import Compute
import Evaluation
import Foundation
import GuardrailCore
import GuardrailEngine
import Media
import RepositoryFiles
import Vision

struct EvalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "guardrail bench's throughput: linear heads on a random ViT-B/32 over generated images, with two perturbations.",
        discussion: """
            Generates N labelled images (crops of the fixture photos, 320x240 PNG, three categories, two \
            sources), random heads for the model, and runs the bench (heads classifier, noise:0.01 and \
            jpeg:50 on up to N correctly classified items, no cache), then the same figures as a Python \
            loop (scripts/bench_eval_reference.py: transformers + scikit-learn, batches of 8) when python3 \
            has torch and transformers. Prints items per second of both and the ratio, and the two runs' \
            micro F1 and AUROC as an agreement check.
            """
    )

    @Option(help: "Images in the generated set.")
    var images = 500

    @Option(help: "Keep the random checkpoint in this folder (reused when it exists).")
    var checkpoint: String?

    @Option(help: "Keep the generated set (images, manifest, heads) in this folder (reused when it exists).")
    var set: String?

    @Flag(help: "Skip the Python reference.")
    var noReference = false

    func run() throws {
        let folder = NSTemporaryDirectory() + "guardrail-eval-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try benchmarkModel(checkpoint: checkpoint, folder: folder)
        let setFolder = set ?? folder + "/set"
        try FileManager.default.createDirectory(atPath: setFolder, withIntermediateDirectories: true)
        let existing = setFolder + "/manifest.csv"
        let manifest =
            FileManager.default.fileExists(atPath: existing)
            ? existing : try Self.generateSet(in: setFolder, count: images)
        let bundle = try ModelBundle(model)
        var random = SplitMix64(seed: 99)
        let categories = ["Hate", "Sexual", "Violence"]
        let dimension = try CLIPModel(folder: model).configuration.projectionDim
        let heads = LinearHeads(
            categories: categories,
            weight: categories.map { _ in (0..<dimension).map { _ in random.nextGaussian() * 3 } },
            bias: categories.map { _ in 0 }, modelSHA256: bundle.sha256, trainingSetSHA256: "random",
            c: categories.map { _ in 1 })
        let headsFile = setFolder + "/heads.safetensors"
        try heads.write(to: headsFile)
        var settings = ScanSettings()
        settings.compute = ComputeConfiguration(threads: 2)
        let classifier = HeadsClassifier(scanner: try HeadsScanner(model: bundle, heads: headsFile, settings: settings))
        var options = BenchOptions()
        options.perturbations = [.gaussianNoise(l2: 0.01), .jpeg(quality: 50)]
        options.robustItems = images
        let dataset = try LabelledDataset(manifest: manifest)
        print("engine: \(images) items, heads on a random ViT-B/32, noise:0.01 and jpeg:50 …")
        let report = try BenchRunner(dataset: dataset, classifiers: [classifier], options: options).run()
        let engine = report.runtime.seconds
        let e = report.classifiers[0].effectiveness.micro.both
        let robust = report.classifiers[0].robustness
        print(
            String(
                format:
                    "engine   %6.1f s  %5.1f items/s  (%d outputs: clean + %d perturbed per perturbation)  micro F1 %.4f  AUROC %.4f  robust %@",
                engine, Double(images) / engine, report.runtime.computed, robust.first?.items ?? 0, e.f1 ?? .nan,
                e.auroc ?? .nan,
                robust.map { "\($0.perturbation) \(String(format: "%.3f", $0.robustAccuracy ?? .nan))" }.joined(
                    separator: ", ")))
        guard !noReference else { return }
        let repository = URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repository + "/scripts/bench_eval_reference.py", model, headsFile, manifest, String(images),
        ]
        let pipe = Pipe()
        let errors = folder + "/reference.log"
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: errors)
        guard (try? process.run()) != nil else { return print("python3 not available: no reference run") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let reference = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let seconds = reference["seconds"] as? Double
        else {
            let last = (try? String(contentsOfFile: errors, encoding: .utf8))?.split(separator: "\n").last ?? ""
            return print("reference run unavailable (needs torch, transformers and scikit-learn in python3): \(last)")
        }
        print(
            String(
                format:
                    "python   %6.1f s  %5.1f items/s  (%d perturbed per perturbation)  micro F1 %.4f  AUROC %.4f  robust %@",
                seconds, Double(images) / seconds, reference["robust_items"] as? Int ?? 0,
                reference["micro_f1"] as? Double ?? .nan, reference["micro_auroc"] as? Double ?? .nan,
                "\(reference["robust"] ?? "")"))
        print(String(format: "engine %.2fx faster (target 2x)", seconds / engine))
    }

    /// `count` PNGs of 320x240 cut from the fixture photos at random places and scales, labelled
    /// at random (three categories, two sources, 80/20 split), and their manifest.
    static func generateSet(in folder: String, count: Int) throws -> String {
        let photos = try ["landscape", "portrait", "square"].map {
            try ImageDecoder().decode(path: Fixtures.path("images/preprocess-\($0).jpg"))
        }
        var random = SplitMix64(seed: 2023)
        var lines = ["path,category,label,source,split"]
        for i in 0..<count {
            let photo = photos[i % photos.count]
            let fraction = 0.5 + 0.5 * random.nextUniform()
            let crop = try Perturbation.crop(fraction: fraction).apply(to: photo)
            let image = PillowResample.bicubic.resize(crop, width: 320, height: 240)
            let name = String(format: "%04d.png", i)
            try image.writePNG(to: folder + "/" + name)
            let category = ["Hate", "Sexual", "Violence"][i % 3]
            let label = random.nextUniform() < 0.4 ? "unsafe" : "safe"
            lines.append(
                "\(name),\(category),\(label),\(i % 2 == 0 ? "real" : "generated"),\(i % 5 == 0 ? "test" : "train")")
        }
        let manifest = folder + "/manifest.csv"
        try (lines.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        return manifest
    }
}
