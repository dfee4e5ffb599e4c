import GuardrailCore

/// A still PNG or JPEG as a one-frame stream, decoded by ``ImageDecoder`` so that sampling an
/// image gives exactly the pixels (and the size checks) of decoding it.
final class StillImageSource: FrameSource {
    private let image: RGBImage
    private let path: String
    private var consumed = false
    var corruptPackets: Int { 0 }
    var decodedFrames: Int { consumed ? 1 : 0 }
    var endTime: Double? { nil }

    init(image: RGBImage, path: String) {
        self.image = image
        self.path = path
    }

    func advance() throws(MediaError) -> FrameStamp? {
        guard !consumed else { return nil }
        consumed = true
        return FrameStamp(index: 0, timestamp: 0, isKeyframe: true)
    }

    func currentImage(outputSize: FrameSize?) throws(MediaError) -> RGBImage {
        guard let outputSize, outputSize != FrameSize(width: image.width, height: image.height) else { return image }
        return try RGBResizer.resize(image, to: outputSize, path: path)
    }

    func prepare(forTarget seconds: Double) throws(MediaError) {}
}
