import GuardrailCore

/// The images of an ICO file, the sizes a viewer picks from, over untrusted bytes. FFmpeg decodes
/// one of them as the main frame; the others are decoded here (see ``MediaSource/otherPictures()``)
/// because FFmpeg's ICO demuxer cannot go back for another pass.
struct ICODirectory {
    struct Entry {
        var width: Int
        var height: Int
        /// Where the entry's PNG file or BMP DIB is in the file.
        var range: Range<Int>
    }

    let entries: [Entry]

    /// The size a viewer opens first: the largest (Pillow's choice; the first of equal ones).
    var largest: Entry? {
        entries.reduce(nil) { best, entry in
            guard let best else { return entry }
            return entry.width * entry.height > best.width * best.height ? entry : best
        }
    }

    /// True when `head` starts like an ICO directory (type 1, at least one entry, the entries
    /// inside `head` pointing past it); the entries' data need not be in `head`.
    static func looksLikeICO(_ head: UnsafeRawBufferPointer) -> Bool {
        guard head.count >= 6, head[0] == 0, head[1] == 0, head[2] == 1, head[3] == 0 else { return false }
        let count = Int(head[4]) | Int(head[5]) << 8
        guard count >= 1, 6 + 16 * count <= head.count else { return false }
        return (0..<count).allSatisfy { (head.uint32LE(at: 6 + 16 * $0 + 12) ?? 0) >= 6 + 16 * count }
    }

    /// The entries whose data lies inside `bytes`, in directory order.
    init(_ bytes: UnsafeRawBufferPointer) {
        guard Self.looksLikeICO(bytes) else {
            entries = []
            return
        }
        let count = Int(bytes[4]) | Int(bytes[5]) << 8
        entries = (0..<count).compactMap { index in
            let o = 6 + 16 * index
            guard let size = bytes.uint32LE(at: o + 8), let offset = bytes.uint32LE(at: o + 12), size > 0,
                offset + size <= bytes.count
            else { return nil }
            return Entry(
                width: bytes[o] == 0 ? 256 : Int(bytes[o]), height: bytes[o + 1] == 0 ? 256 : Int(bytes[o + 1]),
                range: offset..<(offset + size))
        }
    }

    /// The colour image of a BMP entry (a DIB whose height counts the AND mask too) as Pillow's
    /// `IcoImagePlugin` shows it converted to RGB: the mask only sets alpha, which RGB drops.
    /// Uncompressed 1, 4, 8, 24 and 32 bits per pixel; nil for anything else.
    static func dibImage(_ dib: UnsafeRawBufferPointer, limits: MediaLimits, path: String) throws(MediaError)
        -> RGBImage?
    {
        guard let headerSize = dib.uint32LE(at: 0), headerSize >= 40, let rawWidth = dib.uint32LE(at: 4),
            let rawHeight = dib.uint32LE(at: 8), dib.count >= 16
        else { return nil }
        let bitCount = Int(dib[14]) | Int(dib[15]) << 8
        let (width, height) = (rawWidth, rawHeight / 2)
        guard dib.uint32LE(at: 16) == 0, [1, 4, 8, 24, 32].contains(bitCount), width > 0, height > 0,
            rawWidth < 1 << 31, rawHeight < 1 << 31
        else { return nil }
        try limits.checkPixels(width: width, height: height, path: path, function: "ico")
        // Palette entries: as many as stated, or all 2^bits when the count is 0.
        let stated = dib.uint32LE(at: 32) ?? 0
        let colours = bitCount > 8 ? 0 : stated > 0 ? stated : 1 << bitCount
        let paletteStart = headerSize
        let stride = (width * bitCount + 31) / 32 * 4
        let pixelStart = paletteStart + 4 * colours
        guard pixelStart + stride * height <= dib.count else { return nil }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            // Rows are stored bottom-up.
            let row = pixelStart + (height - 1 - y) * stride
            for x in 0..<width {
                let o = 3 * (y * width + x)
                switch bitCount {
                case 24, 32:
                    let p = row + x * bitCount / 8
                    (pixels[o], pixels[o + 1], pixels[o + 2]) = (dib[p + 2], dib[p + 1], dib[p])
                default:
                    let bit = x * bitCount
                    let byte = Int(dib[row + bit / 8])
                    let index = (byte >> (8 - bitCount - bit % 8)) & ((1 << bitCount) - 1)
                    guard index < colours else { continue }
                    let p = paletteStart + 4 * index
                    (pixels[o], pixels[o + 1], pixels[o + 2]) = (dib[p + 2], dib[p + 1], dib[p])
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
