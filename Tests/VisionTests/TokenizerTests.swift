import Foundation
import TestSupport
import Testing
import Vision

@Suite struct TokenizerTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int]
            var padded77: [Int]
        }

        var tokenizer: String
        var cases: [Case]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/vision/tokenizer.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Golden.self, from: data)
    }()

    static let tokenizer = try! CLIPTokenizer(folder: Fixtures.path("models/clip-b32-tiny"))

    /// Every prompt gives the ids of `transformers`' CLIPTokenizer, unpadded and padded to 77.
    @Test func idsMatchTransformers() {
        var mismatches: [String] = []
        for c in Self.golden.cases {
            let ids = Self.tokenizer.encode(c.text)
            let padded = Self.tokenizer.encodePadded(c.text)
            if ids != c.ids || padded.ids != c.padded77 {
                mismatches.append("\(c.text.debugDescription): \(ids.prefix(12)) vs \(c.ids.prefix(12))")
            }
            #expect(padded.truncated == (c.ids.count > 77))
        }
        #expect(Self.golden.cases.count > 300)
        #expect(
            mismatches.isEmpty,
            "\(mismatches.count) of \(Self.golden.cases.count):\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }

    @Test func openAIVocabularyFileGivesTheSameIds() throws {
        let folder = NSTemporaryDirectory() + "guardrail-openai-vocab-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(
            atPath: Fixtures.path("tokenizers/bpe_simple_vocab_16e6.txt.gz"),
            toPath: folder + "/bpe_simple_vocab_16e6.txt.gz")
        let openAI = try CLIPTokenizer(folder: folder)
        for c in Self.golden.cases.prefix(80) { #expect(openAI.encode(c.text) == c.ids, "\(c.text.debugDescription)") }
    }

    @Test func concurrentUseGivesTheSameIds() async {
        let cases = Self.golden.cases
        await withTaskGroup(of: Bool.self) { group in
            for start in 0..<4 {
                group.addTask {
                    stride(from: start, to: cases.count, by: 4).allSatisfy {
                        Self.tokenizer.encode(cases[$0].text) == cases[$0].ids
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    /// Stable Diffusion 2 (open_clip) pads with "!" (id 0) instead of the end token.
    @Test func padTokenComesFromTheTokenizerConfig() throws {
        let folder = NSTemporaryDirectory() + "guardrail-pad-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(
                atPath: Fixtures.path("models/clip-b32-tiny/\(file)"), toPath: folder + "/" + file)
        }
        try #"{"pad_token": {"content": "!", "special": true}}"#.write(
            toFile: folder + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        let tokenizer = try CLIPTokenizer(folder: folder)
        let padded = tokenizer.encodePadded("a cat").ids
        #expect(tokenizer.padToken == 0 && padded.count == 77)
        #expect(Array(padded.prefix(5)) == [49406, 320, 2368, 49407, 0] && padded.last == 0)
    }
}
