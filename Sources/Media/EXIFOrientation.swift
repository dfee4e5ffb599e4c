/// Reads the EXIF orientation tag (0x0112) the way Pillow's `getexif()` finds it: JPEG APP1,
/// PNG `eXIf`, WebP `EXIF`, or a TIFF file's own first IFD. Malformed EXIF means "no orientation".
enum EXIFOrientation {
    static func read(from bytes: UnsafeRawBufferPointer, format: SniffedFormat) -> ImageOrientation {
        let tiff: UnsafeRawBufferPointer?
        switch format {
        case .jpeg: tiff = jpegEXIF(bytes)
        case .png: tiff = PNGChunks(bytes).first(type: "eXIf").map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
        case .webp:
            tiff = RIFFChunks(bytes).first(type: "EXIF").map {
                stripEXIFHeader(UnsafeRawBufferPointer(rebasing: bytes[$0]))
            }
        case .tiff: tiff = bytes
        case .other: tiff = nil
        }
        guard let tiff, let value = orientationTag(inTIFF: tiff), let orientation = ImageOrientation(rawValue: value)
        else { return .up }
        return orientation
    }

    /// Some writers keep the JPEG-style "Exif\0\0" prefix inside WebP's EXIF chunk.
    private static func stripEXIFHeader(_ data: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let prefix: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]
        if data.count >= 6 && (0..<6).allSatisfy({ data[$0] == prefix[$0] }) {
            return UnsafeRawBufferPointer(rebasing: data[6...])
        }
        return data
    }

    /// The TIFF payload of the first APP1 "Exif" segment, scanning markers up to start-of-scan.
    private static func jpegEXIF(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
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
            if marker == 0xE1 {
                let body = stripEXIFHeader(data)
                if body.count != data.count { return body }
            }
            offset += 2 + length
        }
        return nil
    }

    /// The orientation value in IFD0 of a TIFF structure.
    static func orientationTag(inTIFF tiff: UnsafeRawBufferPointer) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[o]) | Int(tiff[o + 1]) << 8 : Int(tiff[o]) << 8 | Int(tiff[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let o = ifd + 2 + entry * 12
            guard let tag = u16(o) else { return nil }
            // Type 3 is SHORT: the value sits in the first two bytes of the value field.
            if tag == 0x0112 { return u16(o + 2) == 3 ? u16(o + 8) : nil }
        }
        return nil
    }
}
