/// The images of a Multi-Picture Object (stereo cameras, some phones): JPEGs one after another,
/// listed by the MP Index in the first image's APP2 "MPF" segment. Pillow opens them as frames
/// (`n_frames`, `seek(n)`); a viewer can show any of them.
enum MPOIndex {
    /// Byte ranges of the images after the first, in index order (empty for a plain JPEG).
    static func additionalImages(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        guard let header = mpfHeader(bytes),
            let directory = TIFFDirectory(UnsafeRawBufferPointer(rebasing: bytes[header...])),
            let entry = directory.entry(0xB002), entry.type == 7, entry.count % 16 == 0, entry.count <= 16 * 1024,
            let offset = directory.u32(entry.valueField)
        else { return [] }
        // Pillow reads each image from its offset to its own end-of-image marker and ignores the
        // stated sizes (its writer's are not exact): each range runs to the next image, or the end.
        var starts: [Int] = []
        for index in 1..<(entry.count / 16) {
            guard let start = directory.u32(offset + index * 16 + 8) else { break }
            let begin = header + start
            if begin > 0, begin < bytes.count, bytes.uint16BE(at: begin) == 0xFFD8 { starts.append(begin) }
        }
        starts.sort()
        return zip(starts, starts.dropFirst().map { $0 } + [bytes.count]).map { $0..<$1 }
    }

    /// Where the MP Index's TIFF structure starts: after "MPF\0" in the first APP2 carrying it.
    private static func mpfHeader(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if marker == 0xDA || marker == 0xD9 { return nil }
            guard let length = bytes.uint16BE(at: offset + 2), length >= 2 else { return nil }
            if marker == 0xE2, bytes.fourCC(at: offset + 4) == "MPF\u{0}" { return offset + 8 }
            offset += 2 + length
        }
        return nil
    }
}
