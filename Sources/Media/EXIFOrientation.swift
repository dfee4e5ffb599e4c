import CZlib

/// Reads the orientation the way Pillow's `getexif()` finds it: the EXIF tag 0x0112 in JPEG APP1,
/// PNG `eXIf` (or, without one, ImageMagick's `Raw profile type exif` text chunk), WebP `EXIF`, or
/// a TIFF file's own first IFD; failing that, `tiff:Orientation` in the XMP packet (PNG
/// `XML:com.adobe.xmp`, JPEG APP1, WebP `XMP `). Malformed metadata means "no orientation".
enum EXIFOrientation {
    static func read(from bytes: UnsafeRawBufferPointer, format: SniffedFormat) -> ImageOrientation {
        var value: Int?
        switch format {
        case .jpeg: value = jpegEXIF(bytes).flatMap { orientationTag(inTIFF: stripEXIFHeader($0, upTo: 1)) }
        case .png:
            if let exif = PNGChunks(bytes).first(type: "eXIf") {
                value = orientationTag(inTIFF: stripEXIFHeader(UnsafeRawBufferPointer(rebasing: bytes[exif])))
            } else if let raw = PNGText(bytes).value(of: "Raw profile type exif").flatMap(rawProfileBytes) {
                value = raw.withUnsafeBytes { orientationTag(inTIFF: stripEXIFHeader($0)) }
            }
        case .webp:
            value = RIFFChunks(bytes).first(type: "EXIF").flatMap {
                orientationTag(inTIFF: stripEXIFHeader(UnsafeRawBufferPointer(rebasing: bytes[$0])))
            }
        case .tiff: value = orientationTag(inTIFF: bytes)
        case .gif, .ico, .other: value = nil
        }
        if value == nil { value = xmpPacket(bytes, format: format).flatMap(xmpOrientation) }
        return value.flatMap(ImageOrientation.init(rawValue:)) ?? .up
    }

    /// ImageMagick's hex dump: a blank line, the profile name, the byte count, then hex lines.
    private static func rawProfileBytes(_ text: [UInt8]) -> [UInt8]? {
        let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count > 3 else { return nil }
        let hex = lines.dropFirst(3).joined().filter { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }
        guard hex.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var i = hex.startIndex
        while i < hex.endIndex {
            guard let high = nibble(hex[i]), let low = nibble(hex[hex.index(after: i)]) else { return nil }
            out.append(high << 4 | low)
            i = hex.index(i, offsetBy: 2)
        }
        return out
    }

    /// The XMP packet: PNG's `XML:com.adobe.xmp` text, JPEG's APP1 after Adobe's namespace, WebP's `XMP ` chunk.
    private static func xmpPacket(_ bytes: UnsafeRawBufferPointer, format: SniffedFormat) -> [UInt8]? {
        switch format {
        case .png: return PNGText(bytes).value(of: "XML:com.adobe.xmp")
        case .webp: return RIFFChunks(bytes).first(type: "XMP ").map { Array(bytes[$0]) }
        case .jpeg: return jpegAPP1(bytes, prefix: Array("http://ns.adobe.com/xap/1.0/\0".utf8)).map { Array($0) }
        default: return nil
        }
    }

    /// `tiff:Orientation="6"` or `<tiff:Orientation>6<…`: Pillow's pattern `tiff:Orientation(="|>)([0-9])`.
    private static func xmpOrientation(_ xmp: [UInt8]) -> Int? {
        let key = Array("tiff:Orientation".utf8)
        var i = 0
        while i + key.count + 2 < xmp.count {
            if xmp[i] == key[0] && Array(xmp[i..<(i + key.count)]) == key {
                var j = i + key.count
                if xmp[j] == UInt8(ascii: "=") && xmp[j + 1] == UInt8(ascii: "\"") {
                    j += 2
                } else if xmp[j] == UInt8(ascii: ">") {
                    j += 1
                } else {
                    i += 1
                    continue
                }
                if j < xmp.count, (0x30...0x39).contains(xmp[j]) { return Int(xmp[j] - 0x30) }
            }
            i += 1
        }
        return nil
    }

    /// Some writers keep the JPEG-style "Exif\0\0" prefix inside PNG's eXIf, WebP's EXIF chunk or
    /// the raw profile, some write it twice; Pillow reads past up to two (one more after JPEG
    /// APP1's own, hence `upTo`).
    private static func stripEXIFHeader(_ data: UnsafeRawBufferPointer, upTo limit: Int = 2) -> UnsafeRawBufferPointer {
        let prefix: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]
        var data = data
        for _ in 0..<limit where data.count >= 6 && (0..<6).allSatisfy({ data[$0] == prefix[$0] }) {
            data = UnsafeRawBufferPointer(rebasing: data[6...])
        }
        return data
    }

    /// The TIFF payload of the first APP1 "Exif" segment, scanning markers up to start-of-scan.
    private static func jpegEXIF(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        jpegAPP1(bytes, prefix: Array("Exif\0\0".utf8))
    }

    /// The body after `prefix` of the first APP1 segment that starts with it.
    private static func jpegAPP1(_ bytes: UnsafeRawBufferPointer, prefix: [UInt8]) -> UnsafeRawBufferPointer? {
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if marker == 0xFF {
                offset += 1
                continue
            }
            if marker == 0xDA || marker == 0xD9 { return nil }
            guard let length = bytes.uint16BE(at: offset + 2), length >= 2, offset + 2 + length <= bytes.count else {
                return nil
            }
            let data = UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 2 + length)])
            if marker == 0xE1, data.count >= prefix.count, prefix.indices.allSatisfy({ data[$0] == prefix[$0] }) {
                return UnsafeRawBufferPointer(rebasing: data[prefix.count...])
            }
            offset += 2 + length
        }
        return nil
    }

    /// The orientation value in IFD0 of a TIFF structure (a SHORT: the value field's first two bytes).
    static func orientationTag(inTIFF tiff: UnsafeRawBufferPointer) -> Int? {
        TIFFDirectory(tiff)?.orientationTag
    }
}

/// IFD0 of a TIFF structure (EXIF payloads, MPO index segments) over untrusted bytes: every read is
/// bounds-checked and a malformed structure reads as absent.
struct TIFFDirectory {
    let tiff: UnsafeRawBufferPointer
    let little: Bool
    let ifd: Int

    /// IFD0, or the directory at offset `ifd` of the same structure (a later TIFF page).
    init?(_ tiff: UnsafeRawBufferPointer, ifd: Int? = nil) {
        guard tiff.count >= 8 else { return nil }
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        self.tiff = tiff
        guard let first = Self.read32(tiff, 4, little: little) else { return nil }
        self.ifd = ifd ?? first
        guard u16(2) == 42 else { return nil }
    }

    private static func read32(_ tiff: UnsafeRawBufferPointer, _ o: Int, little: Bool) -> Int? {
        guard o >= 0, o + 4 <= tiff.count else { return nil }
        let b = (0..<4).map { Int(tiff[o + $0]) }
        return little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
    }

    func u16(_ o: Int) -> Int? {
        guard o >= 0, o + 2 <= tiff.count else { return nil }
        return little ? Int(tiff[o]) | Int(tiff[o + 1]) << 8 : Int(tiff[o]) << 8 | Int(tiff[o + 1])
    }

    func u32(_ o: Int) -> Int? { Self.read32(tiff, o, little: little) }

    /// The offsets of the directories (a multi-page TIFF's pages) the chain from this one links,
    /// this one first, stopping at a loop, a malformed link or 10,000.
    var chain: [Int] {
        var (offsets, offset, seen) = ([Int](), ifd, Set<Int>())
        while offset != 0, offsets.count < 10_000, seen.insert(offset).inserted, let entries = u16(offset) {
            offsets.append(offset)
            guard let next = u32(offset + 2 + entries * 12) else { break }
            offset = next
        }
        return offsets
    }

    /// The orientation value (tag 0x0112, a SHORT: the value field's first two bytes), if any.
    var orientationTag: Int? {
        guard let entry = entry(0x0112), entry.type == 3 else { return nil }
        return u16(entry.valueField)
    }

    /// The entry for `tag`: its type, count and where its 4-byte value field is.
    func entry(_ tag: Int) -> (type: Int, count: Int, valueField: Int)? {
        guard let count = u16(ifd), count <= 4096 else { return nil }
        for index in 0..<count {
            let o = ifd + 2 + index * 12
            guard let found = u16(o), let type = u16(o + 2), let values = u32(o + 4) else { return nil }
            if found == tag { return (type, values, o + 8) }
        }
        return nil
    }
}

/// PNG text chunks (`tEXt`, `zTXt`, `iTXt`) by keyword, inflating compressed ones up to 16 MiB
/// (libpng's own cap for ancillary chunks), as Pillow reads them into `info`.
struct PNGText {
    let chunks: PNGChunks
    let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        chunks = PNGChunks(bytes)
    }

    /// The text of the first chunk with `keyword`, or nil.
    func value(of keyword: String) -> [UInt8]? {
        let key = Array(keyword.utf8) + [0]
        var found: [UInt8]?
        chunks.walk { type, range in
            guard ["tEXt", "zTXt", "iTXt"].contains(type), range.count > key.count,
                key.indices.allSatisfy({ bytes[range.lowerBound + $0] == key[$0] })
            else { return true }
            let body = Array(bytes[(range.lowerBound + key.count)..<range.upperBound])
            switch type {
            case "tEXt": found = body
            case "zTXt": found = body.first == 0 ? Self.inflate(Array(body.dropFirst())) : nil
            default:
                // compression flag, method, language tag\0, translated keyword\0, text
                guard body.count >= 2 else { return false }
                let rest = Array(body.dropFirst(2))
                let parts = rest.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3 else { return false }
                let text = Array(parts[2])
                found = body[0] == 1 ? Self.inflate(text) : text
            }
            return false
        }
        return found
    }

    private static func inflate(_ data: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var input = data
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        return input.withUnsafeMutableBufferPointer { source -> [UInt8]? in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while true {
                let status = buffer.withUnsafeMutableBufferPointer { chunk -> Int32 in
                    stream.next_out = chunk.baseAddress
                    stream.avail_out = UInt32(chunk.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                output += buffer[0..<(buffer.count - Int(stream.avail_out))]
                guard output.count <= 16 << 20 else { return nil }
                if status == Z_STREAM_END { return output }
                guard status == Z_OK else { return nil }
            }
        }
    }
}
