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

/// The heap-ordered BPE against the reference's algorithm written out plainly (CLIP's Python
/// `bpe`: lowest-ranked bigram, all its occurrences left to right, repeat), on words made to need
/// many merges; and inputs that used to cost minutes or gigabytes.
@Suite struct BPETests {
    static let folder = Fixtures.path("models/clip-b32-tiny")

    /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the others for
    /// code points from 256 on, in byte order.
    static let byteCharacters: [Character] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var table = [Character](repeating: " ", count: 256)
        var extra = 0
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = Character(Unicode.Scalar(UInt32(byte))!)
            } else {
                table[byte] = Character(Unicode.Scalar(UInt32(256 + extra))!)
                extra += 1
            }
        }
        return table
    }()

    /// Python's loop, on the fixture's vocabulary and merges.
    static func referenceBPE(_ word: String, ranks: [String: Int]) -> [String] {
        var symbols = Array(word.utf8).map { String(Self.byteCharacters[Int($0)]) }
        symbols[symbols.count - 1] += "</w>"
        while symbols.count > 1 {
            let pairs = (0..<(symbols.count - 1)).map { (symbols[$0], symbols[$0 + 1]) }
            guard
                let best = pairs.filter({ ranks["\($0.0) \($0.1)"] != nil })
                    .min(by: { ranks["\($0.0) \($0.1)"]! < ranks["\($1.0) \($1.1)"]! })
            else { break }
            var merged: [String] = []
            var i = 0
            while i < symbols.count {
                if i < symbols.count - 1 && symbols[i] == best.0 && symbols[i + 1] == best.1 {
                    merged.append(best.0 + best.1)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    @Test func heapMergesMatchTheReference() throws {
        let tokenizer = try CLIPTokenizer(folder: Self.folder)
        let merges = try String(contentsOfFile: Self.folder + "/merges.txt", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#version") }.map(String.init)
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/vocab.json"))
        let vocabulary = try JSONSerialization.jsonObject(with: data) as! [String: Int]
        var rng = SeededGenerator(seed: 42)
        // Repetitive letters (overlapping occurrences), real words glued together, accented text.
        let alphabets = ["ab", "aaab", "thequickbrownfox", "éèàôü", "lolololol", "abcdefghijklmnopqrstuvwxyz"]
        for _ in 0..<300 {
            let alphabet = Array(alphabets.randomElement(using: &rng)!)
            let word = String(
                (0..<Int.random(in: 1...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let expected = [49406] + Self.referenceBPE(word, ranks: ranks).map { vocabulary[$0]! } + [49407]
            #expect(tokenizer.encode(word) == expected, "\(word)")
        }
    }

    /// One 100 000-character "word" (quadratic before: minutes) gives 77 ids at once.
    @Test func hugeWordsStayCheap() throws {
        let tokenizer = try CLIPTokenizer(folder: Self.folder)
        let word = String(repeating: "abcdefghij", count: 10_000)
        let (ids, truncated) = tokenizer.encodePadded(word)
        #expect(ids.count == 77 && truncated && ids.last == tokenizer.endToken)
    }

    /// Vocabularies that would allocate absurdly, or leave pieces without ids, are refused by name.
    @Test func badVocabulariesAreRefused() throws {
        let folder = NSTemporaryDirectory() + "guardrail-vocab-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Self.folder + "/merges.txt", toPath: folder + "/merges.txt")
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/vocab.json"))
        let vocabulary = try JSONSerialization.jsonObject(with: data) as! [String: Int]
        func message(_ edit: (inout [String: Int]) -> Void) throws -> String {
            var edited = vocabulary
            edit(&edited)
            try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
            do {
                _ = try CLIPTokenizer(folder: folder)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        #expect(try message { $0["hello</w>"] = -5 }.contains("id -5"))
        #expect(try message { $0["hello</w>"] = 1 << 62 }.contains("outside"))
        #expect(try message { $0["a</w>"] = nil }.contains("byte piece \"a</w>\""))
        #expect(try message { $0["th</w>"] = nil }.contains("th</w>"))
        #expect(try message { _ in } == "loaded")
    }
}
