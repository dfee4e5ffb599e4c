/// What the first bytes of a file say it is. Content decides the decoder, never the file name.
enum SniffedFormat: Equatable {
    case png(animated: Bool)
    case jpeg
    case webp(animated: Bool)
    case tiff
    /// GIF87a/GIF89a: FFmpeg demuxes it, frames are composited as Pillow does (``GIFAnimation``).
    case gif
    /// An ICO directory: FFmpeg decodes one size, the others are decoded from ``ICODirectory``.
    case ico
    /// Anything else: left to FFmpeg's probing.
    case other

    init(_ bytes: UnsafeRawBufferPointer) {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + magic.count && magic.indices.allSatisfy { bytes[offset + $0] == magic[$0] }
        }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png(animated: PNGChunks(bytes).contains(type: "acTL", before: "IDAT"))
        } else if starts([0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) {
            self = .webp(animated: RIFFChunks(bytes).first(type: "ANIM") != nil)
        } else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) {
            self = .tiff
        } else if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) {
            self = .gif
        } else if ICODirectory.looksLikeICO(bytes) {
            self = .ico
        } else {
            self = .other
        }
    }
}

/// Big-endian reads that return nil instead of trapping past the end.
extension UnsafeRawBufferPointer {
    func uint16BE(at offset: Int) -> Int? {
        guard offset >= 0, offset + 2 <= count else { return nil }
        return Int(self[offset]) << 8 | Int(self[offset + 1])
    }

    func uint32BE(at offset: Int) -> Int? {
        guard let hi = uint16BE(at: offset), let lo = uint16BE(at: offset + 2) else { return nil }
        return hi << 16 | lo
    }

    func uint32LE(at offset: Int) -> Int? {
        guard offset >= 0, offset + 4 <= count else { return nil }
        return (0..<4).reduce(0) { $0 | Int(self[offset + $1]) << (8 * $1) }
    }

    func fourCC(at offset: Int) -> String? {
        guard offset >= 0, offset + 4 <= count else { return nil }
        return String(decoding: self[offset..<offset + 4], as: UTF8.self)
    }
}

/// PNG chunk walker over untrusted bytes: stops at the first malformed length.
struct PNGChunks {
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Calls `body` with each chunk's type and data range until it returns false.
    func walk(_ body: (String, Range<Int>) -> Bool) {
        var offset = 8
        while let length = bytes.uint32BE(at: offset), let type = bytes.fourCC(at: offset + 4) {
            let start = offset + 8
            guard length <= bytes.count - start else { return }
            if !body(type, start..<start + length) { return }
            offset = start + length + 4
        }
    }

    func contains(type wanted: String, before stop: String) -> Bool {
        var found = false
        walk { type, _ in
            if type == wanted { found = true }
            return !found && type != stop
        }
        return found
    }

    /// True for an APNG whose `IDAT` image is not an animation frame: its first `fcTL` comes after
    /// the `IDAT` (or there is none).
    var defaultImageOutsideAnimation: Bool {
        var seenImageData = false
        var outside = false
        walk { type, _ in
            if type == "IDAT" { seenImageData = true }
            if type == "fcTL" {
                outside = seenImageData
                return false
            }
            return true
        }
        return outside
    }

    func first(type wanted: String) -> Range<Int>? {
        var range: Range<Int>?
        walk { type, data in
            if type == wanted { range = data }
            return range == nil
        }
        return range
    }
}

/// RIFF (WebP) chunk walker over untrusted bytes.
struct RIFFChunks {
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func first(type wanted: String) -> Range<Int>? {
        var offset = 12
        while let type = bytes.fourCC(at: offset), let length = bytes.uint32LE(at: offset + 4) {
            let start = offset + 8
            guard length <= bytes.count - start else { return nil }
            if type == wanted { return start..<start + length }
            offset = start + length + (length & 1)
        }
        return nil
    }
}
