import CImageCodecs
import Foundation
import GuardrailCore

extension RGBImage {
    /// Writes the image as an 8-bit RGB PNG. The file appears complete or not at all
    /// (``AtomicFile``): encoded in memory, written under a temporary name, renamed into place.
    public func writePNG(to path: String) throws(MediaError) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        var encoded = [UInt8]()
        let written = pixels.withUnsafeBytes { pixels -> Int32 in
            // The first call measures, the second encodes.
            guard png_image_write_to_memory(&image, nil, &size, 0, pixels.baseAddress, Int32(width * 3), nil) != 0
            else { return 0 }
            encoded = [UInt8](repeating: 0, count: size)
            return encoded.withUnsafeMutableBytes {
                png_image_write_to_memory(&image, $0.baseAddress, &size, 0, pixels.baseAddress, Int32(width * 3), nil)
            }
        }
        guard written != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            png_image_free(&image)
            throw MediaError(.io, path: path, function: "png_image_write_to_memory", message: message)
        }
        do {
            try AtomicFile.write(Data(encoded.prefix(size)), to: path)
        } catch {
            throw MediaError(.io, path: path, function: "write", message: error.message)
        }
    }
}
