import Compute
import Glibc

/// A file mapped read-only into memory; `munmap` and `close` in `deinit`.
final class MappedFile: PageReleasing, @unchecked Sendable {
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

    /// Lets the kernel drop the resident pages wholly inside `region` (a part of `bytes`), for
    /// tensors copied elsewhere at load. The mapping is private and never written, so a later read
    /// faults the bytes back in from the file: nothing is lost, only memory freed.
    package func dropPages(of region: UnsafeRawBufferPointer) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: region.baseAddress) + page - 1) / page * page
        let end = (Int(bitPattern: region.baseAddress) + region.count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        close(descriptor)
    }
}

/// Zero-filled, read-only anonymous pages: placeholders for tensors whose values are never read.
/// The kernel maps them lazily, so even a full-size model's worth costs no memory.
final class ZeroPages: @unchecked Sendable {
    let floats: UnsafePointer<Float>
    private let size: Int

    init(bytes: Int) {
        size = max(bytes, 1)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            fatalError("mmap of \(size) anonymous bytes failed: \(String(cString: strerror(errno)))")
        }
        floats = UnsafePointer(base.assumingMemoryBound(to: Float.self))
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: floats), size) }
}
