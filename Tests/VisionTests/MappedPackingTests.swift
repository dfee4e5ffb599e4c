import Compute
import Foundation
import Testing

@testable import Vision

/// Packing a weight borrowed from a memory-mapped checkpoint drops the mapping's pages; they read
/// back from the file unchanged, and the packed product matches the values.
@Suite(.enabled(if: ComputeConfiguration.availableKernels.first != .openblas, "needs AVX2 or AVX-512F"))
struct MappedPackingTests {
    @Test func droppedPagesReadBackFromTheFile() throws {
        let (n, k) = (256, 300)
        let values = (0..<n * k).map { Float($0 % 977) / 977 - 0.5 }
        let path = NSTemporaryDirectory() + "guardrail-pages-\(UInt32.random(in: 0...UInt32.max)).safetensors"
        try Data(SafeTensorsWriter.encode(["w": .init(Tensor(shape: [n, k], scalars: values))]))
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tensor = try #require(try SafeTensors.read(path: path)["w"])
        let weight = LinearWeight(
            tensor, compute: ComputeConfiguration(kernel: ComputeConfiguration.availableKernels.first))
        let x = [Float](repeating: 1, count: k)
        var out = [Float](repeating: 0, count: n)
        // The first product packs the weight and drops the pages.
        x.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { weight.multiply(x, rows: 1, into: $0) } }
        #expect(tensor.scalars == values)
        for j in 0..<n {
            let expected = values[(j * k)..<((j + 1) * k)].reduce(0.0) { $0 + Double($1) }
            #expect(abs(Double(out[j]) - expected) < 1e-3, "column \(j)")
        }
    }
}
