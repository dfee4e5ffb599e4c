import CFFmpeg
import GuardrailCore

/// A GIF: described by FFmpeg, its frames by the engine's own decoder (Pillow's compositing;
/// FFmpeg drops an image cut short).
final class GIFContainer: FFmpegContainer {
    override init(input: InputContext, bytes: [UInt8], format: SniffedFormat, context: ContainerContext)
        throws(MediaError)
    {
        try super.init(input: input, bytes: bytes, format: format, context: context)
        let frames = try GIFAnimation(bytes: bytes, path: context.path, limits: context.limits).countFrames()
        try adjustInfo { info in
            info.frameCount = frames
            info.kind = frames == 1 ? .image : .animation
        }
    }

    override var orientation: ImageOrientation { .up }

    override func decodeImage() throws(MediaError) -> RGBImage {
        let source = try GIFAnimation(bytes: bytes, path: context.path, limits: context.limits)
        guard try source.advance() != nil else {
            throw MediaError(.corrupt, path: context.path, function: "gif", message: "no image in the GIF")
        }
        context.log.note(source.warnings)
        return try source.currentImage(outputSize: nil)
    }

    override func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource {
        try GIFAnimation(bytes: bytes, path: context.path, limits: context.limits, keyframesOnly: keyframesOnly)
    }
}

/// A TIFF: the first page through FFmpeg, its EXIF orientation applied; the further pages are
/// other pictures, each decoded from the file with its header pointed at that page.
final class TIFFContainer: FFmpegContainer {
    override var orientation: ImageOrientation {
        bytes.withUnsafeBytes { EXIFOrientation.read(from: $0, format: .tiff) }
    }

    override func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        var pictures = try super.otherPictures()
        let pages = bytes.withUnsafeBytes { TIFFPages($0) }
        try context.decodeCapped(
            Array(pages.offsets.dropFirst()), name: "tiff_page", noun: "TIFF pages", into: &pictures
        ) { (offset) throws(MediaError) in
            do throws(MediaError) {
                return try pages.decode(page: offset, of: bytes, limits: context.limits, path: context.path)
            } catch  where error.kind != .tooLarge {
                context.log.note([.skipped("a TIFF page FFmpeg cannot decode (\(error.message))")])
                return nil
            }
        }
        return pictures
    }
}

/// An ICO: a viewer shows one size at a time, so the largest is the image (as Pillow opens it) and
/// the others are further pictures; FFmpeg's one stream per size are not a video.
final class ICOContainer: FFmpegContainer {
    private let directory: ICODirectory?

    override init(input: InputContext, bytes: [UInt8], format: SniffedFormat, context: ContainerContext)
        throws(MediaError)
    {
        directory = bytes.withUnsafeBytes { ICODirectory($0) }
        try super.init(input: input, bytes: bytes, format: format, context: context)
        if let main = directory?.largest {
            try adjustInfo { info in
                (info.kind, info.frameCount, info.width, info.height) = (.image, 1, main.width, main.height)
                (info.displayWidth, info.displayHeight) = (main.width, main.height)
                info.frameRate = nil  // the demuxer's 90 kHz clock, not a rate
            }
        }
    }

    override var orientation: ImageOrientation { .up }

    override var pictureStreams: [UnsafeMutablePointer<AVStream>] { best.map { [$0] } ?? [] }

    /// The largest size, decoded by the engine; else what FFmpeg decodes of the file.
    override func decodeImage() throws(MediaError) -> RGBImage {
        if let image = try decodeLargest() { return image }
        return try super.decodeImage()
    }

    override func otherPictures() throws(MediaError) -> [(name: String, image: RGBImage)] {
        var pictures = try super.otherPictures()
        if let directory, let main = directory.largest {
            let others = directory.entries.filter { $0.range != main.range }
            try context.decodeCapped(others, name: "ico_image", noun: "ICO sizes", into: &pictures) {
                (entry) throws(MediaError) in
                try decode(entry)
            }
        }
        return pictures
    }

    override func frameSource(threads: Int, keyframesOnly: Bool, stream: Int) throws(MediaError) -> any FrameSource {
        if let image = try decodeLargest() { return StillImageSource(image: image, path: context.path) }
        return try super.frameSource(threads: threads, keyframesOnly: keyframesOnly, stream: stream)
    }

    /// The largest size; nil (with a warning) when it is in a format this build does not decode.
    private func decodeLargest() throws(MediaError) -> RGBImage? {
        guard let main = directory?.largest else { return nil }
        return try decode(main)
    }

    /// One size: a PNG through the PNG decoder, a BMP DIB as Pillow reads it; nil with a warning
    /// for what this build does not decode.
    private func decode(_ entry: ICODirectory.Entry) throws(MediaError) -> RGBImage? {
        let data = Array(bytes[entry.range])
        if case .png = data.withUnsafeBytes({ SniffedFormat($0) }) {
            return try context.decodeStill(data, format: .png(animated: false))
        }
        let (limits, path) = (context.limits, context.path)
        if let image = try withRawBytes(
            data, { (raw) throws(MediaError) in try ICODirectory.dibImage(raw, limits: limits, path: path) })
        {
            return image
        }
        context.log.note([
            .skipped("an ICO size (\(entry.width)x\(entry.height)) in a format this build does not decode")
        ])
        return nil
    }
}
