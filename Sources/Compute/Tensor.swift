/// A row-major, contiguous `Float32` tensor. The last dimension is the fastest-moving one, as in
/// PyTorch: a linear weight `[out, in]` stores each output row's `in` values consecutively.
///
/// Storage is shared and immutable once built: either an aligned allocation this tensor owns, or
/// a region of a memory-mapped checkpoint kept alive by the storage.
public struct Tensor: @unchecked Sendable {
    /// The dimensions, outermost first.
    public let shape: [Int]
    package let storage: TensorStorage

    /// The number of elements (product of the shape).
    public var count: Int { storage.count }

    package init(shape: [Int], storage: TensorStorage) {
        precondition(
            shape.reduce(1, *) == storage.count, "tensor shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor holding a copy of `scalars`.
    public init(shape: [Int], scalars: [Float]) {
        let storage = TensorStorage(count: scalars.count)
        scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: scalars.count) }
        self.init(shape: shape, storage: storage)
    }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    /// Reads the elements.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The elements as an array (a copy).
    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// The pointer to the first element, for kernels; valid while this tensor is alive.
    package var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// The elements split along the last dimension: one array per row, in order (a copy).
    public var rows: [[Float]] {
        let width = max(shape.last ?? 1, 1)
        return withUnsafeBufferPointer { buffer in
            stride(from: 0, to: buffer.count, by: width).map { Array(buffer[$0..<($0 + width)]) }
        }
    }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ shape: [Int]) -> Tensor { Tensor(shape: shape, storage: storage) }
}

/// Memory behind a ``Tensor``: 64-byte aligned and owned, or borrowed from an owner (a mapped file)
/// that this object keeps alive.
package final class TensorStorage: @unchecked Sendable {
    package let pointer: UnsafeMutablePointer<Float>
    package let count: Int
    private let owner: AnyObject?

    /// Allocates `count` zeroed floats.
    package init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        pointer = raw.assumingMemoryBound(to: Float.self)
        self.count = count
        owner = nil
    }

    /// Borrows `count` floats at `pointer`, which `owner` keeps valid.
    package init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = UnsafeMutablePointer(mutating: pointer)
        self.count = count
        self.owner = owner
    }

    /// For storage borrowed from a mapped checkpoint: lets the kernel drop its resident pages once
    /// the values have been copied elsewhere (they fault back in if read again).
    package func dropMappedPages() {
        (owner as? PageReleasing)?.dropPages(of: UnsafeRawBufferPointer(start: pointer, count: count * 4))
    }

    deinit {
        if owner == nil { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}

/// An owner of borrowed tensor memory whose resident pages can be handed back to the kernel (a
/// mapped checkpoint: the pages fault back in from the file if read again).
package protocol PageReleasing: AnyObject {
    func dropPages(of region: UnsafeRawBufferPointer)
}
