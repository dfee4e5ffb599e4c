import CKernels
import COpenBLAS
import Foundation

/// Matrix products and the engine's compute threads. Linear layers and the patch embedding go
/// through ``LinearWeight`` and attention through `attentionHead` (the engine's packed AVX-512
/// kernel where the CPU has it, else BLAS); other products (the safety checker's concept
/// similarities) call `cblas_sgemm` here. Matrices are row-major `Float32`.
public enum GEMM {
    /// `c[m×n] = alpha · a[m×k] · op(b) + beta · c`, where `op(b)` is `b[k×n]`, or `b[n×k]`
    /// transposed when `transposeB` is true. Shapes are checked once here.
    public static func multiply(
        _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
        m: Int, n: Int, k: Int, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0
    ) {
        precondition(m > 0 && n > 0 && k > 0, "GEMM dimensions must be positive")
        precondition(
            a.count >= m * k && b.count >= k * n && c.count >= m * n, "GEMM buffer too small for \(m)x\(n)x\(k)")
        strided(
            a.baseAddress!, lda: k, b.baseAddress!, ldb: transposeB ? k : n, into: c.baseAddress!, ldc: n, m: m, n: n,
            k: k, transposeB: transposeB, alpha: alpha, beta: beta)
    }

    /// The same product over sub-matrices whose rows are `lda`, `ldb`, `ldc` elements apart (for
    /// example one attention head's columns inside a `[tokens, hidden]` activation).
    static func strided(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, into c: UnsafeMutablePointer<Float>,
        ldc: Int, m: Int, n: Int, k: Int, transposeB: Bool, alpha: Float = 1, beta: Float = 0
    ) {
        precondition(lda >= k && ldb >= (transposeB ? k : n) && ldc >= n, "GEMM leading dimensions too small")
        _ = settings
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// True when the engine's AVX-512 kernels run (packed linear layers, vectorised softmax,
    /// LayerNorm and activations): the CPU has AVX-512F and `GUARDRAIL_KERNELS` is not `portable`
    /// (which forces OpenBLAS and portable loops, for comparison).
    public static var packedKernel: Bool { gr_avx512_enabled() != 0 }

    /// The name reports give the kernel path: `avx512-packed` or `openblas`.
    public static var kernelName: String { packedKernel ? "avx512-packed" : "openblas" }

    /// Compute threads for one forward pass. The engine keeps one owner of parallelism: with the
    /// packed kernel its own workers split every step and OpenBLAS runs single-threaded; without
    /// it, this is OpenBLAS's thread count. Defaults to the number of cores.
    public static var threads: Int {
        get { settings.threads }
        set {
            precondition(newValue > 0, "thread count must be positive")
            settings.threads = newValue
            settings.applyToBLAS()
        }
    }

    /// Runs `body` with OpenBLAS on `threads` threads, then restores the engine's setting; for
    /// benchmarks measuring `cblas_sgemm` itself next to the engine's kernel.
    public static func withBLASThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        _ = settings
        openblas_set_num_threads(Int32(threads))
        defer { settings.applyToBLAS() }
        return try body()
    }

    /// The engine's workers: 1 when OpenBLAS owns the parallelism.
    static var workers: Int { packedKernel ? settings.threads : 1 }

    private final class Settings: @unchecked Sendable {
        var threads = ProcessInfo.processInfo.activeProcessorCount

        func applyToBLAS() { openblas_set_num_threads(GEMM.packedKernel ? 1 : Int32(threads)) }
    }

    /// Initialised on first use, which also takes OpenBLAS down to one thread under the packed kernel.
    private static let settings: Settings = {
        let settings = Settings()
        settings.applyToBLAS()
        return settings
    }()

    /// Calls `body` on `GEMM.workers` contiguous, disjoint parts of `0..<count` at once (inline
    /// when there is one worker or one item), on the engine's thread pool.
    static func parallel(_ count: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(workers, count)
        guard parts > 1 else {
            if count > 0 { body(0..<count) }
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
                        job.body((job.count * part / job.parts)..<(job.count * (part + 1) / job.parts))
                    }, job)
            }
        }
    }

    private struct ParallelJob {
        let count: Int
        let parts: Int
        let body: (Range<Int>) -> Void
    }
}

/// A linear layer's weight `[out, in]`, kept in the layout of the kernel that multiplies by it:
/// panels packed for the AVX-512 kernel on first use, or the checkpoint's tensor for BLAS.
///
/// Packing gives up zero-copy loading on purpose: OpenBLAS (under the Haswell kernel this
/// workplace forces) reaches about half of an AVX-512 core's peak, the packed kernel 96-99 %.
/// It happens on first use rather than at load, so a tower a run never calls (the text tower of a
/// scan whose policies are cached) costs neither time nor memory.
public final class LinearWeight: @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let packs: Bool
    private let lock = NSLock()
    /// The checkpoint's tensor until packed (then nil, its mapped pages released).
    private var tensor: Tensor?
    private var packed: UnsafeMutablePointer<Float>?

    /// With `packed` true (the default where the CPU allows) the weight is packed on first use
    /// and the checkpoint's pages are then released, so the model holds one copy.
    public init(_ weight: Tensor, packed: Bool = GEMM.packedKernel) {
        precondition(weight.shape.count == 2, "a linear weight is [out, in]")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        packs = packed
        tensor = weight
    }

    /// The weight as the kernel wants it, packing it the first time (concurrent callers wait).
    private func layout() -> (tensor: Tensor?, packed: UnsafeMutablePointer<Float>?) {
        lock.withLock {
            if packs, packed == nil, let weight = tensor {
                let count = gr_packed_size(outFeatures, inFeatures)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                    .bindMemory(to: Float.self, capacity: count)
                // Panels are contiguous, so workers pack disjoint runs of them.
                let (n, k, width) = (outFeatures, inFeatures, Int(GR_PANEL_WIDTH))
                GEMM.parallel((n + width - 1) / width) { panels in
                    let first = panels.lowerBound * width
                    gr_pack_weight(
                        weight.pointer + first * k, k, min(panels.upperBound * width, n) - first, k,
                        buffer + panels.lowerBound * k * width)
                }
                weight.storage.dropMappedPages()
                packed = buffer
                tensor = nil
            }
            return (tensor, packed)
        }
    }

    deinit { packed.map { UnsafeMutableRawPointer($0).deallocate() } }

    /// `out[rows, out] = x[rows, in] · weightᵀ`, with the engine's threads.
    public func multiply(_ x: UnsafeBufferPointer<Float>, rows: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(
            x.count >= rows * inFeatures && out.count >= rows * outFeatures, "linear buffers too small for \(rows) rows"
        )
        apply(x.baseAddress!, lda: inFeatures, rows: rows, bias: nil, into: out.baseAddress!, ldc: outFeatures)
    }

    /// `out[i, j] = Σ x[i, k] · W[j, k] + bias[j]` (`+ out[i, j]` when `accumulate`), then
    /// `activation` if given, for `rows` rows; rows of `x` and `out` are `lda` and `ldc` apart.
    func apply(
        _ x: UnsafePointer<Float>, lda: Int, rows: Int, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, activation: Activation? = nil
    ) {
        precondition(lda >= inFeatures && ldc >= outFeatures, "linear leading dimensions too small")
        precondition(!(accumulate && activation != nil), "an activation applies to a fresh product only")
        guard rows > 0 else { return }
        let (tensor, packed) = layout()
        guard let packed else {
            GEMM.strided(
                x, lda: lda, tensor!.pointer, ldb: inFeatures, into: out, ldc: ldc, m: rows, n: outFeatures,
                k: inFeatures, transposeB: true, beta: accumulate ? 1 : 0)
            for r in 0..<rows {
                if let bias { addInPlace(out + r * ldc, bias, count: outFeatures) }
                activation?.apply(out + r * ldc, count: outFeatures)
            }
            return
        }
        let width = Int(GR_PANEL_WIDTH)
        let (m, n, k) = (rows, outFeatures, inFeatures)
        // Workers take disjoint panels (output columns), and apply the activation to their own
        // columns while those are still in cache.
        GEMM.parallel((n + width - 1) / width) { panels in
            gr_packed_sgemm(
                m, n, k, x, lda, packed, bias, out, ldc, panels.lowerBound, panels.upperBound, accumulate ? 1 : 0)
            guard let activation else { return }
            let first = panels.lowerBound * width
            let count = min(panels.upperBound * width, n) - first
            for r in 0..<m { activation.apply(out + r * ldc + first, count: count) }
        }
    }
}
