import GuardrailCore

/// A still PNG or JPEG, whole in memory; a JPEG's further MPO images are its other pictures.
final class StillContainer: Container {
    let info: MediaInfo
    private let bytes: [UInt8]
    private let format: SniffedFormat
    private let context: ContainerContext

    init(bytes: [UInt8], format: SniffedFormat, context: ContainerContext) throws(MediaError) {
        (self.bytes, self.format, self.context) = (bytes, format, context)
        let (path, limits) = (context.path, context.limits)
        info = try withRawBytes(bytes) { (raw) throws(MediaError) -> MediaInfo in
            let orientation = EXIFOrientation.read(from: raw, format: format)
            let decoder = ImageDecoder(limits: limits)
            if case .png = format {
                return MediaInfo(
                    image: ImageHeader(size: try decoder.pngSize(raw, path: path), orientation: orientation),
                    path: path, container: "png", codec: "png")
            }
            return MediaInfo(
                image: ImageHeader(size: try decoder.jpegInfo(raw, path: path).size, orientation: orientation),
                path: path, container: "jpeg", codec: "mjpeg")
        }
    }

    var pictureStreamCount: Int { 1 }

    func decodeImage() throws(MediaError) -> RGBImage { try context.decodeStill(bytes, format: format) }

    func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        guard format == .jpeg else { return [] }
        var pictures: [(name: String, image: RGBImage)] = []
        let images = bytes.withUnsafeBytes { MPOIndex.additionalImages($0) }
        try context.decodeCapped(images, name: "mpo_image", noun: "MPO images", into: &pictures) {
            (range) throws(MediaError) in
            try context.decodeStill(Array(bytes[range]), format: .jpeg)
        }
        return pictures
    }

    func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource {
        StillImageSource(image: try decodeImage(), path: context.path)
    }

    func countKeyframes(stream: Int) throws(MediaError) -> Int? { 1 }
    func startSeconds(stream: Int) -> Double { 0 }
    func containerEnd(stream: Int) -> Double? { nil }
}

/// A WebP, still or animated, whole in memory (libwebp's demuxer).
final class WebPContainer: Container {
    let info: MediaInfo
    private let bytes: [UInt8]
    private let format: SniffedFormat
    private let context: ContainerContext

    init(bytes: [UInt8], format: SniffedFormat, context: ContainerContext) throws(MediaError) {
        (self.bytes, self.format, self.context) = (bytes, format, context)
        let (path, limits) = (context.path, context.limits)
        info = try withRawBytes(bytes) { (raw) throws(MediaError) -> MediaInfo in
            let animation = try WebPAnimation(raw, path: path, limits: limits)
            var info = MediaInfo(
                image: ImageHeader(
                    size: animation.canvas, orientation: EXIFOrientation.read(from: raw, format: format)),
                path: path, container: "webp", codec: "webp")
            if animation.frameCount > 1 {
                info.kind = .animation
                info.frameCount = animation.frameCount
                info.durationSeconds = animation.duration
            }
            return info
        }
    }

    var pictureStreamCount: Int { 1 }

    func decodeImage() throws(MediaError) -> RGBImage { try context.decodeStill(bytes, format: format) }

    func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] { [] }

    func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource {
        try WebPAnimation(bytes: bytes, path: context.path, limits: context.limits)
    }

    func countKeyframes(stream: Int) throws(MediaError) -> Int? { info.frameCount }
    func startSeconds(stream: Int) -> Double { 0 }
    func containerEnd(stream: Int) -> Double? { nil }
}
