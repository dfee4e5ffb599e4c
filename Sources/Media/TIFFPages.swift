import CFFmpeg
import GuardrailCore

/// The pages of a multi-page TIFF, which FFmpeg's TIFF decoder (reading the first only) cannot
/// reach: page n is decoded from a copy of the file whose header points at page n's directory.
/// Directory and strip offsets are absolute, so nothing else has to move.
struct TIFFPages {
    /// Each page's directory offset, the first page's first.
    let offsets: [Int]
    private let little: Bool

    init(_ bytes: UnsafeRawBufferPointer) {
        let directory = TIFFDirectory(bytes)
        offsets = directory?.chain ?? []
        little = directory?.little ?? true
    }

    /// The page whose directory is at `offset`, as `ImageOps.exif_transpose(im.seek(n))` shows it:
    /// decoded by FFmpeg, then turned by the page's own orientation tag.
    func decode(page offset: Int, of bytes: [UInt8], limits: MediaLimits, path: String) throws(MediaError)
        -> RGBImage
    {
        var header = Array(bytes.prefix(8))
        for i in 0..<4 { header[4 + i] = UInt8(truncatingIfNeeded: offset >> (little ? 8 * i : 24 - 8 * i)) }
        let image = try PacketImageDecoder.decode(
            bytes, header: header, codec: AV_CODEC_ID_TIFF, limits: limits, path: path)
        let tag = bytes.withUnsafeBytes { TIFFDirectory($0, ifd: offset)?.orientationTag }
        return (tag.flatMap(ImageOrientation.init(rawValue:)) ?? .up).apply(to: image)
    }
}
