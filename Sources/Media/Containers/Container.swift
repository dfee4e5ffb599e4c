import GuardrailCore

/// One container family's reading of an opened file (still bytes, WebP, GIF, TIFF and ICO pages,
/// everything else through FFmpeg): what it is, its picture, the other pictures a viewer could
/// see, its frames and its keyframes. ``MediaSource`` opens the file, picks the family once and
/// hands every question to it.
protocol Container: AnyObject {
    /// What the file is, as probing found it.
    var info: MediaInfo { get }
    /// Picture streams a viewer could pick (at least 1; cover art is not one).
    var pictureStreamCount: Int { get }
    /// The picture as `ImageOps.exif_transpose(Image.open(p)).convert("RGB")` gives it.
    func decodeImage() throws(MediaError) -> RGBImage
    /// Pictures besides the sampled frames (see ``MediaSource/otherPictures()``).
    func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)]
    /// A decoder of picture stream `stream` positioned at its start; each call starts over.
    func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource
    /// Keyframes of picture stream `stream` without decoding; nil when unknown.
    func countKeyframes(stream: Int) throws(MediaError) -> Int?
    /// The first timestamp of picture stream `stream`.
    func startSeconds(stream: Int) -> Double
    /// The stream's end from the container's duration, before decoding; nil when unknown.
    func containerEnd(stream: Int) -> Double?
}

/// What the decoders of one source read past (``MediaWarning``), each once, in the order met;
/// shared by the source and its container.
final class WarningLog {
    private(set) var warnings: [MediaWarning] = []

    func note(_ new: [MediaWarning]) {
        for warning in new where !warnings.contains(warning) { warnings.append(warning) }
    }
}

/// What every container needs of the file: its path, its limits, where warnings go.
struct ContainerContext {
    let path: String
    let limits: MediaLimits
    let log: WarningLog

    /// A still's bytes decoded (PNG, JPEG, WebP), its warnings noted.
    func decodeStill(_ bytes: [UInt8], format: SniffedFormat) throws(MediaError) -> RGBImage {
        let (image, warnings) = try ImageDecoder(limits: limits).decode(bytes: bytes, format: format, path: path)
        log.note(warnings)
        return image
    }

    /// Appends the images `decode` gives for the first ``MediaSource/maxOtherPictures`` of `items`
    /// as pictures named `name`, and reports the rest as skipped.
    func decodeCapped<Item>(
        _ items: [Item], name: String, noun: String, into pictures: inout [(name: String, image: RGBImage)],
        _ decode: (Item) throws(MediaError) -> RGBImage?
    ) throws(MediaError) {
        let cap = MediaSource.maxOtherPictures
        for item in items.prefix(cap) {
            if let image = try decode(item) { pictures.append((name, image)) }
        }
        if items.count > cap {
            log.note([.skipped("\(items.count - cap) more \(noun) past the cap of \(cap)")])
        }
    }
}
