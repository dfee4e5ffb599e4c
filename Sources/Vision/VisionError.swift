/// Errors of model loading and inference inputs. Errors caused by files name the file and the key.
public enum VisionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A file could not be read.
    case io(path: String, message: String)
    /// A safetensors file is malformed (header, offsets, sizes).
    case malformedSafeTensors(path: String, message: String)
    /// A tensor uses a dtype other than F32, F16 or BF16.
    case unsupportedDType(key: String, dtype: String)
    /// Strict loading found keys missing, unused or of the wrong shape; every problem is listed.
    case strictLoading(missing: [String], unused: [String], misshaped: [String])
    /// Tensors holding NaN or infinity, each as `key[index] = value` (the first bad element).
    case nonFiniteWeights([String])
    /// `config.json`, `preprocessor_config.json` or a tokenizer file is invalid.
    case invalidConfiguration(path: String, message: String)
    /// No model was found at a path or for a Hugging Face repo id; lists where it looked.
    case modelNotFound(reference: String, searched: [String])
    /// A model folder lacks a part a caller needs: `part` is `config`, `weights` or `tokenizer`,
    /// `message` names the file and where it was looked for.
    case incompleteModel(part: String, message: String)
    /// Input the model cannot take (wrong pixel tensor size, empty batch, …).
    case invalidInput(String)

    public var description: String {
        switch self {
        case .io(let path, let message): return "\(path): \(message)"
        case .malformedSafeTensors(let path, let message): return "\(path): malformed safetensors: \(message)"
        case .unsupportedDType(let key, let dtype):
            return "\(key): unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        case .strictLoading(let missing, let unused, let misshaped):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing: " + missing.joined(separator: ", ")) }
            if !unused.isEmpty { parts.append("unused: " + unused.joined(separator: ", ")) }
            if !misshaped.isEmpty { parts.append("wrong shape: " + misshaped.joined(separator: ", ")) }
            return "checkpoint does not match the configuration; " + parts.joined(separator: "; ")
        case .nonFiniteWeights(let tensors):
            return "checkpoint holds weights that are not finite numbers: " + tensors.joined(separator: ", ")
        case .invalidConfiguration(let path, let message): return "\(path): \(message)"
        case .modelNotFound(let reference, let searched):
            return "model \(reference) not found; looked in: " + searched.joined(separator: ", ")
                + ". Place a folder with config.json and model.safetensors there, or pass its path."
        case .incompleteModel(let part, let message): return "\(part): \(message)"
        case .invalidInput(let message): return message
        }
    }
}
