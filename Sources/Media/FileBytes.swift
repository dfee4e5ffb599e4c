import Glibc

/// Reads exactly `count` bytes (fewer only at the end of the file) from `descriptor`'s position.
func readBytes(_ descriptor: Int32, count: Int, path: String) throws(MediaError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw posixError(path, "read") }
        if n == 0 { break }
        filled += n
    }
    bytes.removeLast(bytes.count - filled)
    return bytes
}

func checkRegularFile(_ info: stat, maxBytes: Int64, path: String, function: String) throws(MediaError) {
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw MediaError(.io, path: path, function: function, message: "not a regular file")
    }
    guard Int64(info.st_size) <= maxBytes else {
        throw MediaError(
            .tooLarge, path: path, function: function,
            message: "file is \(info.st_size) bytes, over the limit of \(maxBytes)")
    }
}

func posixError(_ path: String, _ function: String) -> MediaError {
    let code = errno
    return MediaError(.io, path: path, function: function, code: code, message: String(cString: strerror(code)))
}

/// `withUnsafeBytes` for a body with typed throws (the standard one rethrows untyped).
func withRawBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(MediaError) -> R) throws(MediaError) -> R
{
    let result = bytes.withUnsafeBytes { raw in Result { () throws(MediaError) -> R in try body(raw) } }
    return try result.get()
}
