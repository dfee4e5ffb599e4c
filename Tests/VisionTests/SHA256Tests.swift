import Testing
import Vision

@Suite struct SHA256Tests {
    /// FIPS 180-4 examples and lengths around the padding boundary, against Python's hashlib.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
    ])
    func digests(text: String, expected: String) {
        #expect(SHA256.hex(Array(text.utf8)) == expected)
    }

    /// Feeding the message in uneven pieces gives the same digest as at once.
    @Test func incrementalUpdates() {
        let message = (0..<1000).map { UInt8($0 % 251) }
        var hasher = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 7, 300, 500] {
            let end = min(start + size, message.count)
            hasher.update(message[start..<end])
            start = end
        }
        hasher.update(message[start...])
        #expect(hasher.hexDigest() == SHA256.hex(message))
    }
}
