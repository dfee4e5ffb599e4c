import Compute
import Foundation
import Vision

/// A copy of the tiny ViT-B/32 fixture whose weights are finite (so loading accepts them) but whose
/// products overflow Float: every image embedding comes out non-finite, which must fail the file.
public enum OverflowingModel {
    /// Writes the model into `folder` (which must exist) and returns the folder.
    @discardableResult
    public static func write(to folder: String) throws -> String {
        let source = Fixtures.path("models/clip-b32-tiny")
        for file in ["config.json", "vocab.json", "merges.txt", "preprocessor_config.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: folder + "/" + file)
        }
        var entries = try SafeTensors.read(path: source + "/model.safetensors").mapValues {
            SafeTensorsWriter.Entry($0)
        }
        entries["visual_projection.weight"] = .init(
            Tensor(shape: [16, 32], scalars: [Float](repeating: 3e38, count: 16 * 32)))
        try SafeTensorsWriter.write(entries, to: folder + "/model.safetensors")
        return folder
    }
}
