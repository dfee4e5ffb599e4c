import Compute
import Foundation
import TestSupport
import Testing
import Vision

@Suite struct SafeTensorsTests {
    func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "guardrail-\(name)-\(UInt32.random(in: 0...UInt32.max))"
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let path = temporaryPath("st") + ".safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func readError(_ bytes: [UInt8]) throws -> VisionError? {
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try SafeTensors.read(path: path)
            return nil
        } catch {
            return error
        }
    }

    /// Every one of the 65536 half-precision bit patterns converts as Swift's own Float16 does.
    @Test func halfPrecisionConversionIsExact() throws {
        let bytes = (0..<65536).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let path = try write(SafeTensorsWriter.encode(["h": .init(dtype: "F16", shape: [65536], bytes: bytes)]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values = try #require(try SafeTensors.read(path: path)["h"]).scalars
        for bits in 0..<65536 {
            let expected = Float(Float16(bitPattern: UInt16(bits)))
            #expect(values[bits].bitPattern == expected.bitPattern || (values[bits].isNaN && expected.isNaN))
        }
    }

    @Test func bfloat16AndFloat32RoundTrip() throws {
        let values: [Float] = [0, -0.0, 1, -2.5, 3.140625, .infinity, 1e-30, 65504]
        let f32 = Tensor(shape: [2, 4], scalars: values)
        let bf16 = values.flatMap { v -> [UInt8] in
            let b = v.bitPattern >> 16
            return [UInt8(b & 0xFF), UInt8(b >> 8)]
        }
        let path = try write(
            SafeTensorsWriter.encode([
                "f32": .init(f32), "bf16": .init(dtype: "BF16", shape: [8], bytes: bf16), "f16": .init(f32, half: true),
            ]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let read = try SafeTensors.read(path: path)
        #expect(read["f32"]?.scalars == values && read["f32"]?.shape == [2, 4])
        #expect(read["bf16"]?.scalars == values.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
        #expect(read["f16"]?.scalars == values.map { Float(Float16($0)) })
    }

    /// A tensor at an offset that is not a multiple of 4 is copied, not read misaligned.
    @Test func misalignedTensorsAreCopied() throws {
        let header = Array(
            #"{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}"#
                .utf8)
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + [0, 0x3C]
        bytes += withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian) { Array($0) }
        bytes += withUnsafeBytes(of: Float(-2).bitPattern.littleEndian) { Array($0) }
        #expect((8 + header.count + 2) % 4 != 0)
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try SafeTensors.read(path: path)
        #expect(file["b"]?.scalars == [1.5, -2] && file["a"]?.scalars == [1])
    }

    @Test func malformedFilesAreRejectedWithAReason() throws {
        func file(_ header: String, data: Int = 8) -> [UInt8] {
            let h = Array(header.utf8)
            return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h
                + [UInt8](repeating: 0, count: data)
        }
        let cases: [(String, [UInt8])] = [
            ("short", [1, 2, 3]),
            ("header past the end", withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) } + [0x7B, 0x7D]),
            ("not JSON", file("{nope")),
            ("size mismatch", file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#)),
            ("past the end", file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#)),
            (
                "overlap",
                file(
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
                )
            ),
            ("negative", file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#)),
            ("unknown dtype", file(#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#)),
            ("missing field", file(#"{"a":{"dtype":"F32","shape":[2]}}"#)),
        ]
        for (label, bytes) in cases {
            let error = try readError(bytes)
            #expect(error != nil, "\(label) was accepted")
        }
        if case .unsupportedDType(let key, let dtype) = try readError(cases.last(where: { $0.0 == "unknown dtype" })!.1)
        {
            #expect(key == "a" && dtype == "Q4")
        } else {
            Issue.record("unknown dtype should name the key")
        }
    }
}

/// Strict loading: a checkpoint that does not match its configuration is refused with every problem listed.
@Suite struct StrictLoadingTests {
    /// A copy of the tiny CLIP folder whose weights are rewritten by `edit`.
    func loadEdited(_ edit: (inout [String: SafeTensorsWriter.Entry]) -> Void) throws -> Result<CLIPModel, VisionError>
    {
        let source = Fixtures.path("models/clip-b32-tiny")
        let folder = NSTemporaryDirectory() + "guardrail-strict-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: folder + "/config.json")
        var entries = try SafeTensors.read(path: source + "/model.safetensors").mapValues {
            SafeTensorsWriter.Entry($0)
        }
        edit(&entries)
        try SafeTensorsWriter.write(entries, to: folder + "/model.safetensors")
        return Result { () throws(VisionError) in try CLIPModel(folder: folder) }
    }

    func problems(_ result: Result<CLIPModel, VisionError>) -> (
        missing: [String], unused: [String], misshaped: [String]
    )? {
        if case .failure(.strictLoading(let missing, let unused, let misshaped)) = result {
            return (missing, unused, misshaped)
        }
        return nil
    }

    @Test func unchangedCheckpointLoads() throws {
        #expect(throws: Never.self) { try loadEdited { _ in }.get() }
    }

    @Test func everyProblemIsListed() throws {
        let result = try loadEdited { entries in
            entries["text_model.final_layer_norm.bias"] = nil
            entries["vision_model.extra.weight"] = .init(Tensor(zeros: [2]))
            entries["visual_projection.weight"] = .init(Tensor(zeros: [3, 32]))
        }
        let found = try #require(problems(result))
        #expect(found.missing == ["text_model.final_layer_norm.bias"])
        #expect(found.unused == ["vision_model.extra.weight"])
        #expect(found.misshaped.count == 1 && found.misshaped[0].hasPrefix("visual_projection.weight [3, 32]"))
    }

    @Test func positionIdsBuffersAreIgnored() throws {
        let ids = (0..<77).flatMap { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } }
        let result = try loadEdited { entries in
            entries["text_model.embeddings.position_ids"] = .init(dtype: "I64", shape: [1, 77], bytes: ids)
        }
        #expect(throws: Never.self) { try result.get() }
    }

    @Test func integerWeightsAreRejectedByName() throws {
        let result = try loadEdited { entries in
            entries["logit_scale"] = nil
            entries["text_model.final_layer_norm.bias"] = .init(
                dtype: "I32", shape: [32], bytes: [UInt8](repeating: 0, count: 128))
        }
        guard case .failure(.unsupportedDType(let key, let dtype)) = result else {
            Issue.record("expected unsupportedDType, got \(result)")
            return
        }
        #expect(key == "text_model.final_layer_norm.bias" && dtype == "I32")
    }

    /// NaN or infinity in any dtype is a load error naming the tensor and the element.
    @Test(arguments: ["F32", "F16", "BF16"])
    func nonFiniteWeightsAreRefusedByName(dtype: String) throws {
        let result = try loadEdited { entries in
            var values = [Float](repeating: 0.5, count: 32)
            values[7] = .nan
            values[9] = .infinity
            let tensor = Tensor(shape: [32], scalars: values)
            // BF16 is the top half of each F32 (NaN and infinity keep their exponent bits).
            let bf16 = values.flatMap { v -> [UInt8] in
                let top = UInt16(v.bitPattern >> 16)
                return [UInt8(top & 0xff), UInt8(top >> 8)]
            }
            entries["text_model.final_layer_norm.bias"] =
                dtype == "F32"
                ? .init(tensor)
                : dtype == "F16" ? .init(tensor, half: true) : .init(dtype: "BF16", shape: [32], bytes: bf16)
            entries["vision_model.post_layernorm.weight"] = .init(
                Tensor(shape: [32], scalars: [Float](repeating: -.infinity, count: 32)))
        }
        guard case .failure(.nonFiniteWeights(let tensors)) = result else {
            Issue.record("expected nonFiniteWeights, got \(result)")
            return
        }
        #expect(
            tensors == ["text_model.final_layer_norm.bias[7] = nan", "vision_model.post_layernorm.weight[0] = -inf"])
    }
}
