import CFFmpeg
import CGuardrailShims
import CImageCodecs
import GuardrailCore

/// Decodes a still image (or the first frame of an animation) to RGB the way the reference
/// pipeline does: `ImageOps.exif_transpose(Image.open(p)).convert("RGB")` in Pillow.
///
/// PNG goes through libpng, JPEG through TurboJPEG, WebP through libwebp (Pillow's own decoder,
/// so pixels match); every other format FFmpeg knows (GIF, BMP, TIFF, …) through FFmpeg.
/// Dimensions are checked against ``MediaLimits/maxPixels`` from the header, before any pixel
/// buffer is allocated.
public struct ImageDecoder: Sendable {
    /// The limits applied to every file.
    public var limits: MediaLimits

    /// Creates a decoder with the given limits.
    public init(limits: MediaLimits = .default) {
        self.limits = limits
    }

    /// Decodes the image at `path`, orientation applied (``MediaSource/decodeImage()``).
    public func decode(path: String) throws(MediaError) -> RGBImage {
        try MediaSource(path: path, limits: limits).decodeImage()
    }

    /// Decodes a PNG (its default image), JPEG or WebP (its first frame) held in memory, orientation
    /// applied, with the decoder's ``MediaWarning``s: damaged data it read past, or data that ended
    /// early (what is present is decoded; a file of which nothing decodes still throws).
    func decode(bytes: [UInt8], format: SniffedFormat, path: String) throws(MediaError) -> (
        image: RGBImage, warnings: [MediaWarning]
    ) {
        try withRawBytes(bytes) { (raw) throws(MediaError) -> (RGBImage, [MediaWarning]) in
            let decoded: (RGBImage, [MediaWarning])
            switch format {
            case .png: decoded = try decodePNG(raw, path: path)
            case .jpeg: decoded = try decodeJPEG(raw, path: path)
            // WebP frames come oriented from their decoder (for every frame of an animation too).
            case .webp: return (try decodeWebP(raw, path: path), [])
            case .tiff, .gif, .ico, .other: preconditionFailure("\(format) is not decoded from memory here")
            }
            return (EXIFOrientation.read(from: raw, format: format).apply(to: decoded.0), decoded.1)
        }
    }

    func pngSize(_ raw: UnsafeRawBufferPointer, path: String) throws(MediaError) -> FrameSize {
        var message = [CChar](repeating: 0, count: Int(GR_MESSAGE_CAPACITY))
        var width: UInt32 = 0
        var height: UInt32 = 0
        var depth: Int32 = 0
        var colorType: Int32 = 0
        let status = gr_png_read_info(raw.baseAddress, raw.count, &width, &height, &depth, &colorType, &message)
        try check(status, message, path: path, function: "png_read_info")
        try limits.checkPixels(width: Int(width), height: Int(height), path: path, function: "png_read_info")
        return FrameSize(width: Int(width), height: Int(height))
    }

    private func decodePNG(_ raw: UnsafeRawBufferPointer, path: String) throws(MediaError) -> (
        RGBImage, [MediaWarning]
    ) {
        let size = try pngSize(raw, path: path)
        let (width, height) = (size.width, size.height)
        var message = [CChar](repeating: 0, count: Int(GR_MESSAGE_CAPACITY))
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let decoded = pixels.withUnsafeMutableBytes {
            gr_png_decode_rgb8(raw.baseAddress, raw.count, $0.baseAddress, $0.count, &message)
        }
        let warnings = try check(decoded, message, path: path, function: "png_read_row")
        return (RGBImage(width: width, height: height, pixels: pixels), warnings)
    }

    func jpegInfo(_ raw: UnsafeRawBufferPointer, path: String) throws(MediaError) -> (
        size: FrameSize, cmyk: Bool
    ) {
        var message = [CChar](repeating: 0, count: Int(GR_MESSAGE_CAPACITY))
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        let status = gr_jpeg_read_info(raw.baseAddress, raw.count, &width, &height, &subsampling, &colorspace, &message)
        try check(status, message, path: path, function: "tjDecompressHeader3")
        try limits.checkPixels(width: Int(width), height: Int(height), path: path, function: "tjDecompressHeader3")
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        return (FrameSize(width: Int(width), height: Int(height)), cmyk)
    }

    private func decodeJPEG(_ raw: UnsafeRawBufferPointer, path: String) throws(MediaError) -> (
        RGBImage, [MediaWarning]
    ) {
        let (size, cmyk) = try jpegInfo(raw, path: path)
        let (width, height) = (size.width, size.height)
        var message = [CChar](repeating: 0, count: Int(GR_MESSAGE_CAPACITY))
        let channels = cmyk ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let decoded = pixels.withUnsafeMutableBytes {
            gr_jpeg_decode(raw.baseAddress, raw.count, $0.baseAddress, $0.count, Int32(channels), &message)
        }
        let warnings = try check(decoded, message, path: path, function: "tjDecompress2")
        if cmyk {
            pixels = Self.cmykToRGB(pixels, adobeInverted: Self.hasAdobeMarker(raw))
        }
        return (RGBImage(width: width, height: height, pixels: pixels), warnings)
    }

    /// Pillow's CMYK → RGB: `r = (255 - k) - (c · (255 - k)) / 255` with its rounding; Adobe files
    /// store inverted CMYK (Pillow's `CMYK;I` raw mode).
    static func cmykToRGB(_ cmyk: [UInt8], adobeInverted: Bool) -> [UInt8] {
        let count = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        let flip: UInt8 = adobeInverted ? 0xFF : 0
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let k = Int(src[4 * i + 3] ^ flip)
                    let nk = 255 - k
                    for c in 0..<3 {
                        let t = Int(src[4 * i + c] ^ flip) * nk + 128
                        let scaled = ((t >> 8) + t) >> 8
                        dst[3 * i + c] = UInt8(clamping: nk - scaled)
                    }
                }
            }
        }
        return rgb
    }

    /// True when an APP14 "Adobe" segment precedes the scan data.
    static func hasAdobeMarker(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            guard marker != 0xDA, let length = bytes.uint16BE(at: offset + 2) else { return false }
            if marker == 0xEE && bytes.fourCC(at: offset + 4) == "Adob" { return true }
            offset += 2 + length
        }
        return false
    }

    private func decodeWebP(_ raw: UnsafeRawBufferPointer, path: String) throws(MediaError) -> RGBImage {
        let animation = try WebPAnimation(raw, path: path, limits: limits)
        guard let frame = try animation.nextFrame() else {
            throw MediaError(.corrupt, path: path, function: "WebPAnimDecoderGetNext", message: "no frame")
        }
        return frame.image
    }

    /// Throws for a failed decode; returns the warnings of one that went through.
    @discardableResult
    private func check(_ status: Int32, _ message: [CChar], path: String, function: String) throws(MediaError)
        -> [MediaWarning]
    {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if status == Int32(GR_STATUS_OK) { return text.isEmpty ? [] : [.damaged(text)] }
        if status == Int32(GR_STATUS_PARTIAL) { return [.truncated] }
        let kind: MediaError.Kind
        switch Int(status) {
        case GR_STATUS_TRUNCATED: kind = .truncated
        case GR_STATUS_UNSUPPORTED: kind = .unsupportedFormat
        case GR_STATUS_TOO_LARGE, GR_STATUS_NO_MEMORY: kind = .tooLarge
        default: kind = .corrupt
        }
        throw MediaError(kind, path: path, function: function, code: status, message: text)
    }
}
