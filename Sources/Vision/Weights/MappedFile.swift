import Glibc

/// A file mapped read-only into memory; `munmap` and `close` in `deinit`.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private let descriptor: Int32

    init(path: String) throws(VisionError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VisionError.io(path: path, message: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw VisionError.io(path: path, message: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            close(fd)
            throw VisionError.malformedSafeTensors(path: path, message: "empty file")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw VisionError.io(path: path, message: "mmap: \(message)")
        }
        descriptor = fd
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        close(descriptor)
    }
}
