import CZlib
import Foundation
import Synchronization

/// CLIP's byte-level BPE tokenizer, producing the ids of `transformers`' `CLIPTokenizer`:
/// special tokens matched in the raw text, then NFC, whitespace runs to one space, per-character
/// lower-casing, CLIP's pre-tokenisation pattern, byte-level BPE with `</w>` word ends, start and
/// end tokens, truncation keeping the end token, padding with the configured pad token.
///
/// Safe to share between threads: the vocabulary is immutable and the word cache is locked.
public final class CLIPTokenizer: Sendable {
    /// The vocabulary, token → id.
    let vocabulary: [String: Int]
    /// Merge ranks keyed by "left right".
    let ranks: [String: Int]
    /// For each id, whether its token ends a word (`</w>`), for cutting long texts at word ends.
    private let wordEnds: [Bool]
    /// For each id, its token text.
    private let tokens: [String]
    public let startToken: Int
    public let endToken: Int
    /// The id that pads sequences (`pad_token` of `tokenizer_config.json`; the end token by default).
    public let padToken: Int
    /// Sequence length including start and end tokens (CLIP's 77).
    public let contextLength: Int
    private let cache = Mutex<[String: [Int]]>([:])

    static let startText = "<|startoftext|>"
    static let endText = "<|endoftext|>"

    /// Loads `vocab.json` + `merges.txt` (+ `tokenizer_config.json`) from `folder`, or OpenAI's
    /// `bpe_simple_vocab_16e6.txt.gz` when that is what the folder holds.
    public convenience init(folder: String) throws(VisionError) {
        let fm = FileManager.default
        let configPath = folder + "/tokenizer_config.json"
        var padText = Self.endText
        var length = 77
        if let data = fm.contents(atPath: configPath) {
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw VisionError.invalidConfiguration(path: configPath, message: "not a JSON object")
            }
            if let pad = json["pad_token"] as? String {
                padText = pad
            } else if let pad = json["pad_token"] as? [String: Any], let content = pad["content"] as? String {
                padText = content
            }
            if let max = json["model_max_length"] as? Int, max > 2, max <= 77 { length = max }
        }
        let vocabPath = folder + "/vocab.json"
        let mergesPath = folder + "/merges.txt"
        let openAIPath = folder + "/bpe_simple_vocab_16e6.txt.gz"
        if fm.fileExists(atPath: vocabPath) {
            guard let data = fm.contents(atPath: vocabPath),
                let vocabulary = try? JSONSerialization.jsonObject(with: data) as? [String: Int]
            else {
                throw VisionError.invalidConfiguration(path: vocabPath, message: "vocab.json must map tokens to ids")
            }
            guard let text = try? String(contentsOfFile: mergesPath, encoding: .utf8) else {
                throw VisionError.io(path: mergesPath, message: "cannot read merges.txt")
            }
            let merges = text.split(separator: "\n", omittingEmptySubsequences: true)
                .filter { !$0.hasPrefix("#version") }.map(String.init)
            try self.init(vocabulary: vocabulary, merges: merges, padText: padText, contextLength: length, path: folder)
        } else if fm.fileExists(atPath: openAIPath) {
            let lines = try gunzip(openAIPath).split(separator: "\n", omittingEmptySubsequences: false)
            // CLIP uses the merges on lines 1 … 48894 of the file (49152 − 256 − 2 of them).
            let merges = lines.dropFirst().prefix(49152 - 256 - 2).map(String.init)
            var tokens = ByteEncoder.alphabet
            tokens += tokens.map { $0 + "</w>" }
            tokens += merges.map { $0.replacingOccurrences(of: " ", with: "") }
            tokens += [Self.startText, Self.endText]
            let vocabulary = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            try self.init(vocabulary: vocabulary, merges: merges, padText: padText, contextLength: length, path: folder)
        } else {
            throw VisionError.modelNotFound(reference: folder, searched: [vocabPath, openAIPath])
        }
    }

    init(vocabulary: [String: Int], merges: [String], padText: String, contextLength: Int, path: String)
        throws(VisionError)
    {
        guard let start = vocabulary[Self.startText], let end = vocabulary[Self.endText] else {
            throw VisionError.invalidConfiguration(
                path: path, message: "vocabulary lacks <|startoftext|> or <|endoftext|>")
        }
        guard let pad = vocabulary[padText] else {
            throw VisionError.invalidConfiguration(path: path, message: "pad_token \(padText) is not in the vocabulary")
        }
        // Ids index tables below: refuse ids that are negative or far past the vocabulary's size
        // (an absurd id would allocate gigabytes) by name.
        if let bad = vocabulary.first(where: { $0.value < 0 || $0.value >= vocabulary.count + 1024 }) {
            throw VisionError.invalidConfiguration(
                path: path,
                message: "token \(bad.key.debugDescription) has id \(bad.value), outside 0..<\(vocabulary.count)")
        }
        // Every piece BPE can produce must have an id: the 256 byte symbols, at word ends too, and
        // every merge's result. Then no piece is ever unknown (none is silently replaced).
        for byte in ByteEncoder.table {
            for piece in [String(byte), String(byte) + "</w>"] where vocabulary[piece] == nil {
                throw VisionError.invalidConfiguration(
                    path: path, message: "the vocabulary lacks the byte piece \(piece.debugDescription)")
            }
        }
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() where ranks[merge] == nil {
            let parts = merge.split(separator: " ")
            guard parts.count == 2 else {
                throw VisionError.invalidConfiguration(path: path, message: "merge \(rank + 1) is not a pair: \(merge)")
            }
            guard vocabulary[String(parts[0] + parts[1])] != nil else {
                throw VisionError.invalidConfiguration(
                    path: path, message: "merge \(rank + 1) (\(merge)) gives \(parts[0] + parts[1]), which has no id")
            }
            ranks[merge] = rank
        }
        self.vocabulary = vocabulary
        self.ranks = ranks
        var wordEnds = [Bool](repeating: false, count: (vocabulary.values.max() ?? 0) + 1)
        var tokens = [String](repeating: "", count: wordEnds.count)
        for (token, id) in vocabulary where id >= 0 {
            wordEnds[id] = token.hasSuffix("</w>")
            tokens[id] = token
        }
        self.wordEnds = wordEnds
        self.tokens = tokens
        startToken = start
        endToken = end
        padToken = pad
        self.contextLength = contextLength
    }

    /// The ids of `text` with start and end tokens, neither truncated nor padded.
    public func encode(_ text: String) -> [Int] {
        var ids = [startToken]
        for segment in Self.splitSpecialTokens(text) {
            switch segment {
            case .special(let id): ids.append(id == 0 ? startToken : endToken)
            case .text(let part):
                for word in Self.preTokenize(Self.normalize(part)) { ids += bpe(word) }
            }
        }
        ids.append(endToken)
        return ids
    }

    /// The vocabulary entry of `id` (byte-level characters, `</w>` at word ends), or nil.
    public func token(_ id: Int) -> String? { id >= 0 && id < tokens.count && !tokens[id].isEmpty ? tokens[id] : nil }

    /// True when the token `id` ends a word (carries CLIP's `</w>` marker).
    public func endsWord(_ id: Int) -> Bool { id >= 0 && id < wordEnds.count && wordEnds[id] }

    /// Exactly `contextLength` ids: truncated keeping the end token, then padded with ``padToken``.
    /// `truncated` tells whether tokens were dropped.
    public func encodePadded(_ text: String) -> (ids: [Int], truncated: Bool) {
        var ids = encode(text)
        let truncated = ids.count > contextLength
        if truncated {
            ids = Array(ids.prefix(contextLength - 1)) + [endToken]
        }
        ids += [Int](repeating: padToken, count: contextLength - ids.count)
        return (ids, truncated)
    }

    private enum Segment {
        case special(Int)
        case text(Substring)
    }

    /// Special tokens are recognised in the raw text, before normalisation (as `tokenizers` does
    /// for added tokens); 0 stands for the start token, 1 for the end token.
    private static func splitSpecialTokens(_ text: String) -> [Segment] {
        var segments: [Segment] = []
        var rest = text[...]
        while let range = rest.range(of: "<|") {
            let tail = rest[range.lowerBound...]
            let special = tail.hasPrefix(startText) ? 0 : tail.hasPrefix(endText) ? 1 : nil
            guard let special else {
                segments.append(.text(rest[..<range.upperBound]))
                rest = rest[range.upperBound...]
                continue
            }
            segments.append(.text(rest[..<range.lowerBound]))
            segments.append(.special(special))
            rest = tail.dropFirst(special == 0 ? startText.count : endText.count)
        }
        segments.append(.text(rest))
        // Adjacent text pieces were cut only to look for specials: join them back.
        var merged: [Segment] = []
        var pending = ""
        for segment in segments {
            switch segment {
            case .text(let part): pending += part
            case .special:
                if !pending.isEmpty { merged.append(.text(pending[...])) }
                pending = ""
                merged.append(segment)
            }
        }
        if !pending.isEmpty { merged.append(.text(pending[...])) }
        return merged
    }

    /// NFC, every whitespace run to one space, then per-character lower-casing (no context rules,
    /// like Rust's `char::to_lowercase` that `tokenizers` applies).
    static func normalize(_ text: Substring) -> [Unicode.Scalar] {
        let composed = String(text).precomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.unicodeScalars.count)
        var inSpace = false
        for scalar in composed.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            out += scalar.properties.lowercaseMapping.unicodeScalars
        }
        return out
    }

    /// CLIP's pattern `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
    /// leftmost-first at each position, whitespace dropped. (Special tokens typed in other case
    /// reach this point as text once lower-cased.)
    static func preTokenize(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        func isLetter(_ c: Unicode.Scalar) -> Bool {
            switch c.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return false
            }
        }
        func isNumber(_ c: Unicode.Scalar) -> Bool {
            switch c.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func matches(_ literal: String, at i: Int) -> Bool {
            let scalars = Array(literal.unicodeScalars)
            return i + scalars.count <= s.count && (0..<scalars.count).allSatisfy { s[i + $0] == scalars[$0] }
        }
        var words: [[Unicode.Scalar]] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace {
                i += 1
                continue
            }
            var end = i + 1
            if let special = [startText, endText].first(where: { matches($0, at: i) }) {
                // The byte-level stage splits this piece again with GPT-2's pattern: "<|", name, "|>".
                let scalars = Array(special.unicodeScalars)
                words += [Array(scalars[0..<2]), Array(scalars[2..<(scalars.count - 2)]), Array(scalars.suffix(2))]
                i += scalars.count
                continue
            } else if let contraction = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].first(where: {
                matches($0, at: i)
            }) {
                end = i + contraction.unicodeScalars.count
            } else if isLetter(c) {
                while end < s.count && isLetter(s[end]) { end += 1 }
            } else if isNumber(c) {
                end = i + 1
            } else {
                while end < s.count && !s[end].properties.isWhitespace && !isLetter(s[end]) && !isNumber(s[end]) {
                    end += 1
                }
            }
            words.append(Array(s[i..<end]))
            i = end
        }
        return words
    }

    /// Byte-level BPE of one pre-token, as CLIP's reference merges: the lowest-ranked adjacent pair
    /// first, every occurrence of it left to right (non-overlapping), then the next lowest among the
    /// pairs that result. Pairs wait in a heap and symbols form a linked list, so a word costs
    /// O(n log n) rather than a rescan of all pairs per merge: a 100 000-character "word" takes
    /// milliseconds, with the same ids.
    private func bpe(_ word: [Unicode.Scalar]) -> [Int] {
        var text = ""
        text.unicodeScalars.append(contentsOf: word)
        if let cached = cache.withLock({ $0[text] }) { return cached }
        var symbols = Array(text.utf8).map { String(ByteEncoder.table[Int($0)]) }
        symbols[symbols.count - 1] += "</w>"
        var merger = BPEMerger(symbols: symbols, ranks: ranks)
        // Load-time checks guarantee every piece has an id.
        let ids = merger.merged().map { vocabulary[$0]! }
        cache.withLock { cache in
            if cache.count > 50_000 { cache.removeAll() }
            cache[text] = ids
        }
        return ids
    }
}

/// The merge loop of ``CLIPTokenizer``'s BPE over a linked list of symbols.
private struct BPEMerger {
    var symbols: [String]
    var next: [Int]
    var previous: [Int]
    /// Bumped when a symbol changes, so heap entries made before are recognised as stale.
    var version: [Int]
    let ranks: [String: Int]
    var heap = PairHeap()

    init(symbols: [String], ranks: [String: Int]) {
        self.symbols = symbols
        self.ranks = ranks
        next = Array(1...symbols.count)
        previous = Array(-1..<(symbols.count - 1))
        version = [Int](repeating: 0, count: symbols.count)
        for i in 0..<(symbols.count - 1) { push(i) }
    }

    /// Queues the pair starting at `left`, if it has a rank.
    mutating func push(_ left: Int) {
        let right = next[left]
        guard left >= 0, right < symbols.count, let rank = ranks[symbols[left] + " " + symbols[right]] else { return }
        heap.insert(PairHeap.Entry(rank: rank, left: left, right: right, versions: (version[left], version[right])))
    }

    func isCurrent(_ entry: PairHeap.Entry) -> Bool {
        version[entry.left] == entry.versions.0 && version[entry.right] == entry.versions.1
            && next[entry.left] == entry.right
    }

    mutating func merged() -> [String] {
        while let rank = heap.minimumRank {
            // Every occurrence of this pair, left to right, before any pair the merges create.
            var batch: [PairHeap.Entry] = []
            while heap.minimumRank == rank, let entry = heap.popMinimum() { batch.append(entry) }
            for entry in batch.sorted(by: { $0.left < $1.left }) where isCurrent(entry) {
                let (left, right) = (entry.left, entry.right)
                symbols[left] += symbols[right]
                version[left] += 1
                version[right] += 1
                next[left] = next[right]
                if next[right] < symbols.count { previous[next[right]] = left }
                if previous[left] >= 0 { push(previous[left]) }
                push(left)
            }
        }
        var out: [String] = []
        var i = 0
        while i < symbols.count {
            out.append(symbols[i])
            i = next[i]
        }
        return out
    }
}

/// A binary min-heap of candidate pairs by rank, then position.
private struct PairHeap {
    struct Entry {
        var rank: Int
        var left: Int
        var right: Int
        var versions: (Int, Int)

        func precedes(_ other: Entry) -> Bool { (rank, left) < (other.rank, other.left) }
    }

    private var entries: [Entry] = []

    var minimumRank: Int? { entries.first?.rank }

    mutating func insert(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMinimum() -> Entry? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let minimum = entries.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var smallest = parent
            if left < entries.count && entries[left].precedes(entries[smallest]) { smallest = left }
            if right < entries.count && entries[right].precedes(entries[smallest]) { smallest = right }
            guard smallest != parent else { return minimum }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// The text of a gzip file (the OpenAI vocabulary is shipped gzipped).
private func gunzip(_ path: String) throws(VisionError) -> String {
    guard let file = gzopen(path, "rb") else { throw VisionError.io(path: path, message: "cannot open") }
    defer { gzclose(file) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 { throw VisionError.io(path: path, message: "corrupt gzip data") }
        if n == 0 { break }
        data += buffer[0..<Int(n)]
        guard data.count < 64 << 20 else { throw VisionError.io(path: path, message: "vocabulary larger than 64 MB") }
    }
    return String(decoding: data, as: UTF8.self)
}
