import CKernels
import COpenBLAS
import Foundation

/// How a model computes: its thread count and kernel path, fixed when the model is created.
/// Neither is process-wide: two models with different configurations can run side by side, each
/// pass gets the threads its configuration names even while other passes run, and both settings
/// are printed in reports (the kernel paths differ in the last float bits). The two settings that
/// are process-wide are made once by ``ComputeProcess/start()``.
///
/// Not `Codable` on purpose: a value exists only through ``init(threads:kernel:)``, which checks
/// that the CPU runs the kernel.
public struct ComputeConfiguration: Sendable, Hashable, CustomStringConvertible {
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
    package var isa: Int32 {
        switch kernel {
        case .avx512Packed: GR_ISA_AVX512
        case .avx2Packed: GR_ISA_AVX2
        case .openblas: GR_ISA_PORTABLE
        }
    }

    /// `avx512-packed × 2 threads`.
    public var description: String { "\(kernel.rawValue) × \(threads) thread\(threads == 1 ? "" : "s")" }

    /// Calls `body(part, range)` on up to `threads` contiguous, disjoint parts of `0..<count` at once
    /// (inline when there is one part), on the engine's thread pool.
    package func parallel(_ count: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
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

/// The settings the engine's kernels assume for the whole process. Call ``start()`` once at
/// start-up, before any model computes: the `guardrail` and `guardrail-bench` executables do, and
/// a program that embeds the engine should too. Without it results are the same, only slower:
/// every forward pass faults its activations' pages in again.
public enum ComputeProcess {
    /// Sets both process-wide settings (idempotent and thread-safe):
    /// - OpenBLAS on one thread: the engine's workers own the parallelism, and nothing changes
    ///   BLAS's thread count later while a model may be inside `cblas_sgemm`. ``GEMM`` also makes
    ///   this setting before its first product, so BLAS threads never run under the workers.
    /// - glibc's heap kept for the activations: blocks up to 32 MB (glibc's most) come from the heap
    ///   instead of fresh mappings, and up to 256 MB of freed memory stays there for the next pass.
    ///   By default every pass faults megabytes of zeroed pages in again, under a lock both workers
    ///   wait on: a fifth of a detector pass on two threads.
    public static func start() {
        singleThreadedBLAS
        heapKeptMapped
    }

    /// OpenBLAS's build, as it describes itself ("OpenBLAS 0.3.21 DYNAMIC_ARCH … Haswell …"): its
    /// version and the kernel it chose for this CPU.
    public static var blasConfiguration: String { String(cString: openblas_get_config()) }

    package static let singleThreadedBLAS: Void = openblas_set_num_threads(1)
    private static let heapKeptMapped: Void = gr_keep_heap(32 << 20, 256 << 20)
}
