import CKernels
import COpenBLAS
import Foundation

/// How a model computes: its thread count and kernel path, fixed when the model is created.
/// Neither is process-wide: two models with different configurations can run side by side, and
/// both settings are printed in reports (the two kernel paths differ in the last float bits).
/// Making the first configuration sets two things for the whole process, once: OpenBLAS on one
/// thread, and glibc's heap kept for the activations' memory (see `heapKeptMapped`).
public struct ComputeConfiguration: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Which code multiplies.
    public enum Kernel: String, Sendable, Hashable, Codable {
        /// The engine's AVX-512 kernels: weights packed on first use, vectorised softmax,
        /// LayerNorm and activations. Needs AVX-512F.
        case avx512Packed = "avx512-packed"
        /// The same packed products on the AVX2 form of the register tile (the same bits as
        /// ``avx512Packed``'s), AVX2 quick GELU and SiLU, and portable C for the rest (softmax,
        /// LayerNorm, erf GELU); what CPUs with AVX2 and FMA but without AVX-512 run. Needs AVX2 and FMA.
        case avx2Packed = "avx2-packed"
        /// OpenBLAS (single-threaded, fed by the engine's workers) and portable C loops; what CPUs
        /// without AVX2 run, and `GUARDRAIL_KERNELS=portable` chooses.
        case openblas
    }

    /// Workers that split each forward pass (the engine's pool; OpenBLAS itself stays on one thread).
    public let threads: Int
    public let kernel: Kernel

    /// `threads` workers (default: the cores) on `kernel` (default: ``preferredKernel``). A packed
    /// kernel the CPU cannot run falls back to the best one it can: ``Kernel/avx2Packed`` for
    /// ``Kernel/avx512Packed`` without AVX-512F, ``Kernel/openblas`` without AVX2.
    public init(threads: Int? = nil, kernel: Kernel? = nil) {
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        precondition(threads > 0, "thread count must be positive")
        self.threads = threads
        var chosen = kernel ?? Self.preferredKernel
        if chosen == .avx512Packed, gr_avx512_supported() == 0 { chosen = .avx2Packed }
        if chosen == .avx2Packed, gr_avx2_supported() == 0 { chosen = .openblas }
        self.kernel = chosen
        Self.singleThreadedBLAS
        Self.heapKeptMapped
    }

    /// The cores, on the preferred kernel.
    public static var `default`: ComputeConfiguration { ComputeConfiguration() }

    /// The widest packed kernel the CPU runs (AVX-512F, else AVX2 and FMA), unless
    /// `GUARDRAIL_KERNELS=portable` is set; OpenBLAS otherwise.
    public static var preferredKernel: Kernel {
        gr_avx512_enabled() != 0 ? .avx512Packed : gr_wide_kernel_enabled() != 0 ? .avx2Packed : .openblas
    }

    /// The kernels this CPU can run, widest first (tests and benchmarks compare them).
    public static var availableKernels: [Kernel] {
        [Kernel.avx512Packed, .avx2Packed, .openblas].filter { ComputeConfiguration(kernel: $0).kernel == $0 }
    }

    /// What decides the bits of a result, for cache keys: a packed kernel gives the same bits on
    /// any thread count (workers split output columns or whole rows); OpenBLAS's products depend on
    /// the row blocks the workers hand it, so there the thread count is part of it.
    public var resultKey: String { packed ? kernel.rawValue : "\(kernel.rawValue)x\(threads)" }

    /// True on a packed kernel: linear layers, attention products and the detector's convolutions
    /// run on the engine's register tile.
    public var packed: Bool { kernel != .openblas }

    /// The instruction set handed to the C kernels (`GR_ISA_…`).
    var isa: Int32 {
        switch kernel {
        case .avx512Packed: GR_ISA_AVX512
        case .avx2Packed: GR_ISA_AVX2
        case .openblas: GR_ISA_PORTABLE
        }
    }

    /// `avx512-packed × 2 threads`.
    public var description: String { "\(kernel.rawValue) × \(threads) thread\(threads == 1 ? "" : "s")" }

    /// OpenBLAS runs on one thread for the whole process, set once before any product: the
    /// engine's workers own the parallelism, so nothing ever changes BLAS's thread count while
    /// another model may be inside `cblas_sgemm`.
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    /// Forward passes allocate and free megabytes of activations each time. glibc's defaults map
    /// blocks above 128 KB afresh and hand freed memory at the heap's top back to the kernel, so
    /// every pass faults its pages in again (zeroed by the kernel, under a lock both workers wait
    /// on): a fifth of a detector pass on two threads. Blocks up to 32 MB (glibc's most) come from
    /// the heap, and up to 256 MB of freed memory stays there for the next pass. Set once.
    private static let heapKeptMapped: Void = gr_keep_heap(32 << 20, 256 << 20)

    /// Calls `body(part, range)` on up to `threads` contiguous, disjoint parts of `0..<count` at once
    /// (inline when there is one part), on the engine's thread pool.
    func parallel(_ count: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = min(threads, count)
        guard parts > 1 else {
            if count > 0 { body(0, 0..<count) }
            return
        }
        // The parts write disjoint memory and `gr_parallel` returns when all are done.
        withoutActuallyEscaping(body) { body in
            var job = ParallelJob(count: count, parts: parts, body: body)
            withUnsafeMutablePointer(to: &job) { job in
                gr_parallel(
                    parts,
                    { context, part in
                        let job = context!.assumingMemoryBound(to: ParallelJob.self).pointee
                        job.body(part, (job.count * part / job.parts)..<(job.count * (part + 1) / job.parts))
                    }, job)
            }
        }
    }

    /// ``parallel(_:_:)`` for bodies that need only their range: the engine's workers on disjoint
    /// parts of `0..<count` (other modules' kernels, such as the detector's im2col, use it too).
    public func parallel(_ count: Int, _ body: (Range<Int>) -> Void) {
        parallel(count) { _, range in body(range) }
    }

    private struct ParallelJob {
        let count: Int
        let parts: Int
        let body: (Int, Range<Int>) -> Void
    }
}
