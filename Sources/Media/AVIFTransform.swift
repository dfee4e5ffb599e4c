/// An AVIF's `irot`/`imir` transforms (HEIF image properties, which FFmpeg 5.1's demuxer ignores)
/// as the EXIF orientation Pillow's AVIF reader turns them into: what a viewer shows.
enum AVIFTransform {
    /// The orientation of the primary item, or nil when the bytes are not an AVIF with transforms.
    static func orientation(_ bytes: UnsafeRawBufferPointer) -> ImageOrientation? {
        guard bytes.fourCC(at: 4) == "ftyp", ["avif", "avis"].contains(bytes.fourCC(at: 8)),
            let meta = box("meta", in: bytes, range: 0..<bytes.count)
        else { return nil }
        // `meta` is a full box: its children start after version and flags.
        let children = (meta.lowerBound + 4)..<meta.upperBound
        guard let properties = box("iprp", in: bytes, range: children),
            let container = box("ipco", in: bytes, range: properties),
            let associations = box("ipma", in: bytes, range: properties)
        else { return nil }
        let primary = box("pitm", in: bytes, range: children).flatMap { bytes.uint16BE(at: $0.lowerBound + 4) }
        let list = boxes(in: bytes, range: container)
        var rotation: Int?
        var mirror: Int?
        for index in associated(bytes, ipma: associations, item: primary) where index >= 1 && index <= list.count {
            let (type, body) = list[index - 1]
            guard body.count >= 1 else { continue }
            if type == "irot" { rotation = Int(bytes[body.lowerBound] & 0x3) }
            if type == "imir" { mirror = Int(bytes[body.lowerBound] & 0x1) }
        }
        return ImageOrientation(rawValue: exifOrientation(rotation: rotation, mirror: mirror))
    }

    /// Pillow's mapping (what its AVIF writer stores for each EXIF orientation and its reader turns
    /// back): `irot` counts quarter turns anticlockwise; `imir` axis 1 alone is orientation 2.
    static func exifOrientation(rotation: Int?, mirror: Int?) -> Int {
        switch (rotation ?? 0, mirror) {
        case (1, nil): return 8
        case (1, let axis?): return axis == 1 ? 7 : 5
        case (2, nil): return 3
        case (2, let axis?): return axis == 1 ? 4 : 2
        case (3, nil): return 6
        case (3, let axis?): return axis == 1 ? 5 : 7
        case (_, let axis?): return axis == 1 ? 2 : 4
        default: return 1
        }
    }

    /// Property indices (1-based) associated with `item` (the first item when nil), in order.
    private static func associated(_ bytes: UnsafeRawBufferPointer, ipma: Range<Int>, item: Int?) -> [Int] {
        guard ipma.count >= 8 else { return [] }
        let flags = Int(bytes[ipma.lowerBound + 3])
        let version = Int(bytes[ipma.lowerBound])
        guard let count = bytes.uint32BE(at: ipma.lowerBound + 4) else { return [] }
        var offset = ipma.lowerBound + 8
        for _ in 0..<min(count, 4096) {
            let id: Int?
            if version < 1 {
                id = bytes.uint16BE(at: offset)
                offset += 2
            } else {
                id = bytes.uint32BE(at: offset)
                offset += 4
            }
            guard let id, offset < ipma.upperBound else { return [] }
            let entries = Int(bytes[offset])
            offset += 1
            var indices: [Int] = []
            for _ in 0..<entries {
                guard offset < ipma.upperBound else { return [] }
                if flags & 1 != 0 {
                    guard let value = bytes.uint16BE(at: offset) else { return [] }
                    indices.append(value & 0x7FFF)
                    offset += 2
                } else {
                    indices.append(Int(bytes[offset] & 0x7F))
                    offset += 1
                }
            }
            if item == nil || id == item { return indices }
        }
        return []
    }

    /// The body of the first box of `type` directly inside `range`.
    private static func box(_ type: String, in bytes: UnsafeRawBufferPointer, range: Range<Int>) -> Range<Int>? {
        boxes(in: bytes, range: range).first { $0.type == type }?.body
    }

    /// The boxes directly inside `range`, stopping at the first malformed size.
    private static func boxes(in bytes: UnsafeRawBufferPointer, range: Range<Int>) -> [(type: String, body: Range<Int>)]
    {
        var out: [(String, Range<Int>)] = []
        var offset = range.lowerBound
        while offset + 8 <= range.upperBound, let size = bytes.uint32BE(at: offset),
            let type = bytes.fourCC(at: offset + 4)
        {
            guard size >= 8, size <= range.upperBound - offset else { break }
            out.append((type, (offset + 8)..<(offset + size)))
            offset += size
        }
        return out
    }
}
