/// GPT-2/CLIP's reversible map from bytes to printable characters: printable Latin-1 bytes map to
/// themselves, the rest to code points from U+0100 upward, so BPE never sees whitespace or control bytes.
enum ByteEncoder {
    /// Bytes in the map's own order: printable ones first, then the others (CLIP's vocabulary order).
    private static let order: [Int] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        return printable + (0..<256).filter { !printable.contains($0) }
    }()

    /// `table[byte]` is the character standing for that byte.
    static let table: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next = 0
        for byte in order {
            let shifted = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let code = shifted ? byte : 256 + next
            if !shifted { next += 1 }
            table[byte] = Character(Unicode.Scalar(UInt32(code))!)
        }
        return table
    }()

    /// The 256 byte characters in CLIP's vocabulary order (ids 0 to 255).
    static var alphabet: [String] { order.map { String(table[$0]) } }
}
