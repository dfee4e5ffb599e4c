import CImageCodecs
import GuardrailCore

extension RGBImage {
    /// The image encoded as a baseline JPEG at `quality` (1–100, 4:2:0 as Pillow's default) by
    /// TurboJPEG and decoded again as a JPEG file is: what a re-compressing upload pipeline shows.
    public func jpegRecompressed(quality: Int) throws(MediaError) -> RGBImage {
        guard let handle = tjInitCompress() else {
            throw MediaError(.tooLarge, path: "<memory>", function: "tjInitCompress", message: "out of memory")
        }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer {
            tjCompress2(
                handle, $0.baseAddress, Int32(width), Int32(width * 3), Int32(height), Int32(TJPF_RGB.rawValue),
                &output, &size, Int32(TJSAMP_420.rawValue), Int32(min(max(quality, 1), 100)), 0)
        }
        defer { tjFree(output) }
        guard status == 0, let output else {
            throw MediaError(
                .corrupt, path: "<memory>", function: "tjCompress2", message: String(cString: tjGetErrorStr2(handle)))
        }
        let bytes = Array(UnsafeBufferPointer(start: output, count: Int(size)))
        return try ImageDecoder().decode(bytes: bytes, format: .jpeg, path: "<memory>").image
    }
}
