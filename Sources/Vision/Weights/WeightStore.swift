import Compute
import Foundation

/// The tensors of a checkpoint (one file or a sharded set), handed out by key with strict
/// bookkeeping: every key a model asks for must exist with the expected shape, and every key in
/// the checkpoint must be taken or explicitly ignored. Problems are collected so that one error
/// lists all of them.
final class WeightStore {
    private var files: [String: SafeTensorsFile] = [:]
    private var location: [String: SafeTensorsFile] = [:]
    private var taken: Set<String> = []
    private var missing: [String] = []
    private var misshaped: [String] = []
    private var nonFinite: [String] = []
    /// How the layers loaded from here compute; they keep it for their lifetime.
    var compute = ComputeConfiguration.default
    /// Whether ``linearWeight(_:shape:)`` packs weights on the packed kernel (the default) or keeps
    /// the checkpoint's layout.
    var packsLinearWeights = true

    /// Opens `model.safetensors`, or the shards listed by `model.safetensors.index.json`, in `folder`.
    init(folder: String, baseName: String = "model") throws(VisionError) {
        let single = folder + "/\(baseName).safetensors"
        let index = folder + "/\(baseName).safetensors.index.json"
        if FileManager.default.fileExists(atPath: single) {
            try add(SafeTensorsFile(path: single))
        } else if FileManager.default.fileExists(atPath: index) {
            guard let data = FileManager.default.contents(atPath: index),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = json["weight_map"] as? [String: String]
            else {
                throw VisionError.invalidConfiguration(path: index, message: "weight_map missing or not a string map")
            }
            for shard in Set(map.values).sorted() {
                guard !shard.contains("/") else {
                    throw VisionError.invalidConfiguration(
                        path: index, message: "shard name \(shard) must be a file name")
                }
                try add(SafeTensorsFile(path: folder + "/" + shard))
            }
            for (key, shard) in map where location[key]?.path != folder + "/" + shard {
                throw VisionError.invalidConfiguration(path: index, message: "\(key) is not in \(shard)")
            }
        } else {
            throw VisionError.modelNotFound(reference: folder, searched: [single, index])
        }
    }

    /// A store without a checkpoint that records every key and shape a model asks for, handing out
    /// zero placeholders that take no memory: the checkpoint layout, read from the loading code.
    init(recording: ()) {
        recorded = [:]
    }

    /// Keys and shapes asked for, in recording mode.
    private(set) var recorded: [String: [Int]]?

    /// A store over one opened file (tests, and tools that name a file directly).
    init(file: SafeTensorsFile) throws(VisionError) {
        try add(file)
    }

    private func add(_ file: SafeTensorsFile) throws(VisionError) {
        files[file.path] = file
        for key in file.entries.keys {
            if let other = location[key] {
                throw VisionError.malformedSafeTensors(path: file.path, message: "\(key) also appears in \(other.path)")
            }
            location[key] = file
        }
    }

    /// All keys of the checkpoint with their shapes and dtypes.
    var inventory: [(key: String, shape: [Int], dtype: String)] {
        location.map { ($0.key, $0.value.entries[$0.key]!.shape, $0.value.entries[$0.key]!.dtype.rawValue) }
            .sorted { $0.key < $1.key }
    }

    /// The stored shape of `key`, if present.
    func shape(of key: String) -> [Int]? { location[key]?.entries[key]?.shape }

    /// True when the checkpoint holds `key`.
    func contains(_ key: String) -> Bool { location[key] != nil }

    /// The tensor for `key`, which must have `shape`. A missing or mis-shaped key is recorded
    /// (reported by ``verify()``) and a zero tensor of the expected shape stands in.
    func take(_ key: String, shape: [Int]) throws(VisionError) -> Tensor {
        if recorded != nil {
            recorded?[key] = shape
            let count = shape.reduce(1, *)
            let pages = ZeroPages(bytes: count * 4)
            return Tensor(shape: shape, storage: TensorStorage(borrowing: pages.floats, count: count, owner: pages))
        }
        taken.insert(key)
        guard let file = location[key], let entry = file.entries[key] else {
            missing.append(key)
            return Tensor(zeros: shape)
        }
        guard entry.shape == shape else {
            misshaped.append("\(key) \(entry.shape) (expected \(shape))")
            return Tensor(zeros: shape)
        }
        let tensor = try file.tensor(key)
        // A NaN or infinity in a weight poisons every score it touches; refuse it by name.
        if let index = firstNonFinite(tensor) { nonFinite.append("\(key)[\(index)] = \(tensor.pointer[index])") }
        return tensor
    }

    /// The weight of a linear layer (`shape` is `[out, in…]`, trailing dimensions flattened), in the
    /// layout of the kernel that will multiply by it.
    func linearWeight(_ key: String, shape: [Int]) throws(VisionError) -> LinearWeight {
        let tensor = try take(key, shape: shape)
        return LinearWeight(
            tensor.reshaped([shape[0], tensor.count / shape[0]]), compute: compute, packed: packsLinearWeights)
    }

    /// Marks keys the model does not use on purpose (`position_ids` buffers, for example).
    func ignore(_ keys: String...) {
        for key in keys where location[key] != nil { taken.insert(key) }
    }

    /// Throws ``VisionError/strictLoading(missing:unused:misshaped:)`` listing every problem, or
    /// ``VisionError/nonFiniteWeights(_:)`` naming every tensor with a NaN or infinity.
    func verify() throws(VisionError) {
        guard nonFinite.isEmpty else { throw VisionError.nonFiniteWeights(nonFinite.sorted()) }
        let unused = Set(location.keys).subtracting(taken).sorted()
        guard missing.isEmpty, unused.isEmpty, misshaped.isEmpty else {
            throw VisionError.strictLoading(missing: missing.sorted(), unused: unused, misshaped: misshaped.sorted())
        }
    }
}

/// The index of the first NaN or infinity in `tensor`, if any (exponent bits all set), scanning
/// the whole tensor with one branch at the end.
func firstNonFinite(_ tensor: Tensor) -> Int? {
    let bits = UnsafeRawPointer(tensor.pointer).assumingMemoryBound(to: UInt32.self)
    var any: UInt32 = 0
    for i in 0..<tensor.count { any |= (bits[i] & 0x7f80_0000) == 0x7f80_0000 ? 1 : 0 }
    guard any != 0 else { return nil }
    return (0..<tensor.count).first { !tensor.pointer[$0].isFinite }
}
