import Foundation
import GuardrailCore
import Sanitizer
import TestSupport
import Testing
import Vision

/// SAFREE on the tiny SD-style text encoder against an independent numpy/PyTorch implementation of
/// the spec (`scripts/gen_safree_goldens.py`): trigger positions and t′ identical, embeddings within
/// 1e-4, β within 1e-5.
@Suite struct SanitizerGoldenTests {
    struct Golden: Decodable {
        struct Prompt: Decodable {
            var prompt: String
            var ids: [Int]
            var n: Int
            var triggers: [Int]
            var distances: [Double]
            var thresholds: [Double?]
            var beta: Double
            var tPrime: Int
            /// σ_max / σ_min of the masked embeddings kept by the projector.
            var mCondition: Double?
        }

        var sets: [String: [Prompt]]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/safree/goldens.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Golden.self, from: data)
    }()

    static let tensors = try! SafeTensors.read(path: Fixtures.path("goldens/safree/goldens.safetensors"))

    static func conceptPath(_ set: String) -> String {
        set == "small"
            ? Fixtures.path("concepts/small.txt")
            : URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../policies/concepts/nudity.txt"
            ).standardizedFileURL.path
    }

    static func sanitizer(_ set: String, concepts: [String]? = nil) throws -> PromptSanitizer {
        var conceptSet = try ConceptSet.load(conceptPath(set), folder: "")
        if let concepts { conceptSet = ConceptSet(name: conceptSet.name, concepts: concepts) }
        return try PromptSanitizer(
            bundle: ModelBundle(Fixtures.path("models/sd-tiny")), concepts: conceptSet, settings: SAFREESettings(),
            cache: nil)
    }

    static func matrix(_ name: String) -> [[Float]] {
        let t = tensors[name]!
        let width = t.shape.last!
        let flat = t.scalars
        return stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<($0 + width)]) }
    }

    static func maxDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
        zip(a, b).map { zip($0, $1).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
    }

    static func minRowCosine(_ a: [[Float]], _ b: [[Float]]) -> Double {
        zip(a, b).map { x, y in
            let dot = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let nx = x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let ny = y.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return nx * ny > 0 ? dot / (nx * ny) : 1
        }.min() ?? 1
    }

    @Test(arguments: ["nudity", "small"])
    func matchesTheReference(set: String) throws {
        let sanitizer = try Self.sanitizer(set)
        let expected = try #require(Self.golden.sets[set])
        #expect(Self.maxDifference(sanitizer.negative, Self.matrix("\(set)/negative")) <= 1e-4)
        let results = try sanitizer.sanitize(expected.map(\.prompt))
        for (i, (result, reference)) in zip(results, expected).enumerated() {
            let label = "\(set) \(reference.prompt.debugDescription)"
            #expect(result.inputIDs == reference.ids, "\(label) ids")
            #expect(result.tokens.count == reference.n)
            // A distance within 1e-4 of its threshold may fall either way (spec §12).
            let borderline = zip(reference.distances, reference.thresholds).contains { d, t in
                t.map { abs(d - $0) <= 1e-4 * $0 } ?? false
            }
            if !borderline { #expect(result.result.triggerPositions == reference.triggers, "\(label) triggers") }
            #expect(result.result.tPrime == reference.tPrime, "\(label) t′")
            #expect(
                abs(result.result.beta - reference.beta) <= 1e-5,
                "\(label) β \(result.result.beta) vs \(reference.beta)")
            for (d, r) in zip(result.result.distances, reference.distances) { #expect(abs(d - r) <= 1e-4 * max(1, r)) }
            #expect(Self.maxDifference(result.original, Self.matrix("\(set)/original_\(i)")) <= 1e-4, "\(label) E")
            if !borderline {
                let reference = Self.matrix("\(set)/sanitized_\(i)")
                if (expected[i].mCondition ?? 1) < 1e4 {
                    #expect(Self.maxDifference(result.result.sanitized, reference) <= 1e-4, "\(label) E_safe")
                } else {
                    // An ill-conditioned input span amplifies float32 differences in M (spec §4, §12):
                    // compare row directions instead.
                    #expect(Self.minRowCosine(result.result.sanitized, reference) >= 0.9999, "\(label) E_safe rows")
                }
            }
        }
    }

    @Test func properties() throws {
        let sanitizer = try Self.sanitizer("small")
        let prompts = Self.golden.sets["small"]!.map(\.prompt)
        let results = try sanitizer.sanitize(prompts)
        for result in results {
            let replaced = Set(result.result.triggerPositions)
            for p in result.original.indices where !replaced.contains(p) {
                #expect(result.result.sanitized[p] == result.original[p], "untouched rows are the input's bytes")
            }
            for p in replaced {
                let row = result.result.sanitized[p].map(Double.init)
                let inside = sanitizer.toxic.project(row)
                let size = max(1, row.reduce(0) { $0 + $1 * $1 }.squareRoot())
                #expect(
                    inside.reduce(0) { $0 + $1 * $1 }.squareRoot() <= 1e-5 * size,
                    "projected rows leave the toxic subspace")
            }
            #expect(result.changed == !replaced.isEmpty)
        }
        // One prompt alone gives what it gives inside the batch.
        for (i, prompt) in prompts.enumerated().prefix(6) {
            let alone = try sanitizer.sanitize([prompt])[0]
            #expect(alone.result.triggerPositions == results[i].result.triggerPositions)
            #expect(Self.maxDifference(alone.result.sanitized, results[i].result.sanitized) <= 1e-5)
        }
        // The concept order does not matter.
        let reversed = try Self.sanitizer("small", concepts: Array(sanitizer.concepts.concepts.reversed()))
        for (a, b) in zip(try reversed.sanitize(Array(prompts.prefix(8))), results) {
            #expect(a.result.triggerPositions == b.result.triggerPositions)
            #expect(Self.maxDifference(a.result.sanitized, b.result.sanitized) <= 1e-6)
        }
    }

    @Test func conceptEmbeddingsAreCachedPerModelAndSet() throws {
        let folder = NSTemporaryDirectory() + "guardrail-safree-cache-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let set = try ConceptSet.load(Self.conceptPath("small"), folder: "")
        func make(_ concepts: ConceptSet) throws -> PromptSanitizer {
            try PromptSanitizer(
                bundle: ModelBundle(Fixtures.path("models/sd-tiny")), concepts: concepts, settings: SAFREESettings(),
                cache: ArtifactCache(folder: folder))
        }
        let first = try make(set)
        let second = try make(set)
        #expect(!first.conceptsFromCache && second.conceptsFromCache)
        #expect(first.toxic == second.toxic && first.negative == second.negative)
        let other = try make(ConceptSet(name: "other", concepts: ["Violence", "Gore"]))
        #expect(!other.conceptsFromCache)
    }

    @Test func badInputs() throws {
        let sanitizer = try Self.sanitizer("small")
        let results = try sanitizer.sanitize(["", "!!!???", String(repeating: "word ", count: 200)])
        #expect(results[0].result.skipped == "empty_prompt" && !results[0].changed && results[0].result.tPrime == -1)
        #expect(results[1].tokens.count > 0)
        #expect(results[2].truncated && results[2].tokens.count == 75)
        #expect(throws: VisionError.self) { try ConceptSet.load("no-such-set", folder: Fixtures.path("concepts")) }
        #expect(throws: (any Error).self) {
            try PromptSanitizer(
                bundle: ModelBundle(Fixtures.path("models/safety-checker-tiny")),
                concepts: ConceptSet(name: "x", concepts: ["a"]), settings: SAFREESettings(), cache: nil)
        }
    }
}
