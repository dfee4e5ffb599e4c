import CImageCodecs
import Glibc
import GuardrailCore

extension RGBImage {
    /// Writes the image as an 8-bit RGB PNG. The file appears complete or not at all: it is
    /// written under a temporary name in the same folder and renamed into place.
    public func writePNG(to path: String) throws(MediaError) {
        let temporary = path + ".partial-\(getpid())"
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_RGB)
        let written = pixels.withUnsafeBytes {
            png_image_write_to_file(&image, temporary, 0, $0.baseAddress, Int32(width * 3), nil)
        }
        guard written != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            png_image_free(&image)
            unlink(temporary)
            throw MediaError(.io, path: path, function: "png_image_write_to_file", message: message)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw MediaError(.io, path: path, function: "rename", code: code, message: String(cString: strerror(code)))
        }
    }
}
