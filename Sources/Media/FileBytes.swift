import Glibc

/// Reads a whole file after checking that it is a regular file within `maxBytes`.
/// With `prefix`, reads at most that many bytes from the start (no size limit applies then).
func readFileBytes(_ path: String, maxBytes: Int64, prefix: Int? = nil) throws(MediaError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw posixError(path, "open") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw posixError(path, "fstat") }
    try checkRegularFile(info, maxBytes: maxBytes, path: path, function: "fstat")
    var bytes = [UInt8](repeating: 0, count: min(Int(info.st_size), prefix ?? .max))
    var filled = 0
    while filled < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw posixError(path, "read") }
        if n == 0 { break }
        filled += n
    }
    bytes.removeLast(bytes.count - filled)
    return bytes
}

/// Checks that `path` is a readable regular file within `maxBytes` without reading it.
func checkFile(_ path: String, maxBytes: Int64) throws(MediaError) -> Int64 {
    var info = stat()
    guard stat(path, &info) == 0 else { throw posixError(path, "stat") }
    try checkRegularFile(info, maxBytes: maxBytes, path: path, function: "stat")
    guard info.st_size > 0 else {
        throw MediaError(.truncated, path: path, function: "stat", message: "empty file")
    }
    return Int64(info.st_size)
}

private func checkRegularFile(_ info: stat, maxBytes: Int64, path: String, function: String) throws(MediaError) {
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw MediaError(.io, path: path, function: function, message: "not a regular file")
    }
    guard Int64(info.st_size) <= maxBytes else {
        throw MediaError(
            .tooLarge, path: path, function: function,
            message: "file is \(info.st_size) bytes, over the limit of \(maxBytes)")
    }
}

private func posixError(_ path: String, _ function: String) -> MediaError {
    let code = errno
    return MediaError(.io, path: path, function: function, code: code, message: String(cString: strerror(code)))
}

/// `withUnsafeBytes` for a body with typed throws (the standard one rethrows untyped).
func withRawBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(MediaError) -> R) throws(MediaError) -> R
{
    let result = bytes.withUnsafeBytes { raw in Result { () throws(MediaError) -> R in try body(raw) } }
    return try result.get()
}
