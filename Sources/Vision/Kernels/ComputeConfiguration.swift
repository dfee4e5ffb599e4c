import CKernels
import COpenBLAS
import Foundation

/// How a model computes: its thread count and kernel path, fixed when the model is created.
/// Nothing here is process-wide: two models with different configurations can run side by side,
/// and both settings are printed in reports (the two kernel paths differ in the last float bits).
public struct ComputeConfiguration: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Which code multiplies.
    public enum Kernel: String, Sendable, Hashable, Codable {
        /// The engine's AVX-512 kernels: weights packed on first use, vectorised softmax,
        /// LayerNorm and activations. Needs AVX-512F.
        case avx512Packed = "avx512-packed"
        /// OpenBLAS (single-threaded, fed by the engine's workers) and portable C loops; what CPUs
        /// without AVX-512 run, and `GUARDRAIL_KERNELS=portable` chooses.
        case openblas
    }

    /// Workers that split each forward pass (the engine's pool; OpenBLAS itself stays on one thread).
    public let threads: Int
    public let kernel: Kernel

    /// `threads` workers (default: the cores) on `kernel` (default: ``Kernel/preferred``). A packed
    /// kernel asked for on a CPU without AVX-512 falls back to OpenBLAS.
    public init(threads: Int? = nil, kernel: Kernel? = nil) {
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        precondition(threads > 0, "thread count must be positive")
        self.threads = threads
        let wanted = kernel ?? Self.preferredKernel
        self.kernel = wanted == .avx512Packed && gr_avx512_supported() == 0 ? .openblas : wanted
        Self.singleThreadedBLAS
    }

    /// The cores, on the preferred kernel.
    public static var `default`: ComputeConfiguration { ComputeConfiguration() }

    /// The packed kernel where the CPU has AVX-512F, unless `GUARDRAIL_KERNELS=portable` is set.
    public static var preferredKernel: Kernel { gr_avx512_enabled() != 0 ? .avx512Packed : .openblas }

    /// What decides the bits of a result, for cache keys: the packed kernel gives the same bits on
    /// any thread count (workers split output columns); OpenBLAS's products depend on the row
    /// blocks the workers hand it, so there the thread count is part of it.
    public var resultKey: String { packed ? kernel.rawValue : "\(kernel.rawValue)x\(threads)" }

    /// True on the packed kernel.
    public var packed: Bool { kernel == .avx512Packed }

    /// True when wide products (a convolution's im2col matrix times its weight) run on the engine's
    /// packed kernel: its AVX-512 tile on the packed kernel, otherwise its AVX2 tile where the CPU has
    /// AVX2 and FMA and `GUARDRAIL_KERNELS=portable` is not set. Both give the same bits on any thread
    /// count. Only the detector's convolutions use it; the encoders keep ``kernel``'s path.
    public var packedWide: Bool { packed || gr_wide_kernel_enabled() != 0 }

    /// `avx512-packed × 2 threads`.
    public var description: String { "\(kernel.rawValue) × \(threads) thread\(threads == 1 ? "" : "s")" }

    /// OpenBLAS runs on one thread for the whole process, set once before any product: the
    /// engine's workers own the parallelism, so nothing ever changes BLAS's thread count while
    /// another model may be inside `cblas_sgemm`.
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

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
