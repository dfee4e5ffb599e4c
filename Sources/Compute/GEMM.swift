import CKernels
import COpenBLAS
import Foundation

/// Matrix products on OpenBLAS. Linear layers and the patch embedding go through ``LinearWeight``
/// and attention through `attentionHead` (the engine's packed AVX-512 kernel or BLAS, as the
/// model's ``ComputeConfiguration`` says); other products (the safety checker's concept
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
    package static func strided(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, into c: UnsafeMutablePointer<Float>,
        ldc: Int, m: Int, n: Int, k: Int, transposeB: Bool, alpha: Float = 1, beta: Float = 0
    ) {
        precondition(lda >= k && ldb >= (transposeB ? k : n) && ldc >= n, "GEMM leading dimensions too small")
        ComputeProcess.singleThreadedBLAS
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Runs `body` with OpenBLAS on `threads` threads, then back on one; for benchmarks that
    /// measure `cblas_sgemm` itself next to the engine's kernel. Changes a process-wide setting:
    /// never call it while a model may be computing.
    public static func withBLASThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        ComputeProcess.singleThreadedBLAS
        openblas_set_num_threads(Int32(threads))
        defer { openblas_set_num_threads(1) }
        return try body()
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
    private let compute: ComputeConfiguration
    private let packs: Bool
    private let lock = NSLock()
    /// The checkpoint's tensor until packed (then nil, its mapped pages released).
    private var tensor: Tensor?
    private var packed: UnsafeMutablePointer<Float>?

    /// On the packed kernel the weight is packed on first use (unless `packed` is false) and the
    /// checkpoint's pages are then released, so the model holds one copy.
    public init(_ weight: Tensor, compute: ComputeConfiguration, packed: Bool? = nil) {
        precondition(weight.shape.count == 2, "a linear weight is [out, in]")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.compute = compute
        packs = compute.packed && (packed ?? true)
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
                compute.parallel((n + width - 1) / width) { panels in
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
    package func apply(
        _ x: UnsafePointer<Float>, lda: Int, rows: Int, bias: UnsafePointer<Float>?,
        into out: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, activation: Activation? = nil
    ) {
        precondition(lda >= inFeatures && ldc >= outFeatures, "linear leading dimensions too small")
        precondition(!(accumulate && activation != nil), "an activation applies to a fresh product only")
        guard rows > 0 else { return }
        let (tensor, packed) = layout()
        guard let packed else {
            // Workers take disjoint row blocks, each a single-threaded BLAS product.
            let weight = tensor!.pointer
            compute.parallel(rows) { block in
                GEMM.strided(
                    x + block.lowerBound * lda, lda: lda, weight, ldb: inFeatures, into: out + block.lowerBound * ldc,
                    ldc: ldc, m: block.count, n: outFeatures, k: inFeatures, transposeB: true,
                    beta: accumulate ? 1 : 0)
                for r in block {
                    if let bias { addInPlace(out + r * ldc, bias, count: outFeatures) }
                    activation?.apply(out + r * ldc, count: outFeatures, isa: compute.isa)
                }
            }
            return
        }
        let width = Int(GR_PANEL_WIDTH)
        let (m, n, k) = (rows, outFeatures, inFeatures)
        // Workers take disjoint panels (output columns), and apply the activation to their own
        // columns while those are still in cache.
        compute.parallel((n + width - 1) / width) { panels in
            gr_packed_sgemm(
                m, n, k, x, lda, packed, bias, out, ldc, panels.lowerBound, panels.upperBound, accumulate ? 1 : 0,
                compute.isa)
            guard let activation else { return }
            let first = panels.lowerBound * width
            let count = min(panels.upperBound * width, n) - first
            for r in 0..<m { activation.apply(out + r * ldc + first, count: count, isa: compute.isa) }
        }
    }
}

extension GEMM {
    /// `out[m×n] = a[m×k] · b[k×n]` for a product whose `b` is wide and changes every call (a
    /// 1×1 convolution's input, rows of `k` channels spanning `n` pixels), then `+ rowBias[i]` on
    /// row `i` and SiLU when asked. With ``ComputeConfiguration/packed``, the workers share out
    /// `b`'s panels of 32 columns, read in place; otherwise one BLAS product per row block of `out`.
    public static func multiplyWide(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, m: Int, n: Int,
        k: Int, rowBias: UnsafePointer<Float>? = nil, silu: Bool = false, compute: ComputeConfiguration
    ) {
        multiplyWide(a, parts: [(b, k)], into: out, m: m, n: n, rowBias: rowBias, silu: silu, compute: compute)
    }

    /// ``multiplyWide(_:_:into:m:n:k:rowBias:silu:compute:)`` for a `b` that is its `parts` one
    /// above the other (`k` rows each, `n` wide: a 1×1 convolution of a channel concatenation,
    /// read where each part is instead of copied together); `a` is `m × Σk`, its rows `lda` apart
    /// (`Σk` when nil: a product of some of a convolution's parts passes the whole weight's). With
    /// `accumulate` the product is added to `out` (the parts' sums before, in order, give the same
    /// bits as one call with them all).
    public static func multiplyWide(
        _ a: UnsafePointer<Float>, lda: Int? = nil, parts: [(b: UnsafePointer<Float>, k: Int)],
        into out: UnsafeMutablePointer<Float>, m: Int, n: Int, rowBias: UnsafePointer<Float>? = nil,
        silu: Bool = false, accumulate: Bool = false, compute: ComputeConfiguration
    ) {
        let k = lda ?? parts.reduce(0) { $0 + $1.k }
        precondition(m > 0 && n > 0 && parts.allSatisfy { $0.k > 0 }, "GEMM dimensions must be positive")
        // Each part's columns of `a` start where the earlier parts' rows end.
        let offsets = parts.indices.map { i in parts[..<i].reduce(0) { $0 + $1.k } }
        guard compute.packed else {
            compute.parallel(m) { rows in
                for (part, offset) in zip(parts, offsets) {
                    strided(
                        a + rows.lowerBound * k + offset, lda: k, part.b, ldb: n, into: out + rows.lowerBound * n,
                        ldc: n, m: rows.count, n: n, k: part.k, transposeB: false,
                        beta: offset == 0 && !accumulate ? 0 : 1)
                }
                for row in rows {
                    let line = out + row * n
                    if let rowBias {
                        let value = rowBias[row]
                        for q in 0..<n { line[q] += value }
                    }
                    if silu { Activation.silu.apply(line, count: n, isa: GR_ISA_PORTABLE) }
                }
            }
            return
        }
        // With several parts, each adds into `out`: a block of panels small enough for its rows of
        // `out` (64 KB) to stay in cache goes through every part before the next block.
        let block = parts.count == 1 && !accumulate ? Int.max : max(1, 16384 / (m * panelWidth))
        let panels = (n + panelWidth - 1) / panelWidth
        func multiply(rows: Range<Int>, panels range: Range<Int>) {
            let step = max(1, min(block, range.count))
            for start in stride(from: range.lowerBound, to: range.upperBound, by: step) {
                let end = min(start + step, range.upperBound)
                for (index, (part, offset)) in zip(parts, offsets).enumerated() {
                    let last = index == parts.count - 1
                    gr_strided_product(
                        rows.count, n, part.k, a + rows.lowerBound * k + offset, k, part.b, n,
                        last ? rowBias.map { $0 + rows.lowerBound } : nil, last && silu ? 1 : 0,
                        out + rows.lowerBound * n, n, offset == 0 && !accumulate ? 0 : 1, start, end, compute.isa)
                }
            }
        }
        shareOut(rows: m, panels: panels, compute: compute, multiply)
    }

    /// Whether `panels` are too few for `compute`'s workers to share evenly (a 10×10 map: 32 + 32
    /// columns against 32 + 4 on two workers): the packed products and Winograd then share other
    /// work instead.
    public static func fewPanels(_ panels: Int, compute: ComputeConfiguration) -> Bool {
        compute.threads > 1 && panels < 4 * compute.threads
    }

    /// `body` on the workers over disjoint parts of an `m`-row product of `panels` panels: ranges of
    /// panels with every row or, on few panels (``fewPanels(_:compute:)``) and enough rows, ranges
    /// of rows with every panel. Each row's sums are the same either way.
    private static func shareOut(
        rows m: Int, panels: Int, compute: ComputeConfiguration,
        _ body: (_ rows: Range<Int>, _ panels: Range<Int>) -> Void
    ) {
        if fewPanels(panels, compute: compute), m >= 32 * compute.threads {
            compute.parallel(m) { rows in body(rows, 0..<panels) }
        } else {
            compute.parallel(panels) { range in body(0..<m, range) }
        }
    }

    /// The columns of a wide product's `b` per panel: element `(kk, j)` of `b[k×n]` lives at
    /// `((j / panelWidth) · k + kk) · panelWidth + j % panelWidth` of the packed layout (lanes past
    /// `n` zero), which producers such as an im2col may write directly.
    public static var panelWidth: Int { Int(GR_PANEL_WIDTH) }

    /// ``multiplyWide(_:_:into:m:n:k:rowBias:silu:compute:)`` for a `b` in the packed layout
    /// (``panelWidth``) that `produce` writes (an im2col): each worker has `produce` fill a block of its panels into its own buffer,
    /// panel `panels.lowerBound` first, and multiplies it while it is still in cache, so `b` is
    /// never whole in memory. `produce` runs on several workers at once, on disjoint panels or,
    /// when the workers share the rows of a product of few panels, on the same panels into
    /// buffers of their own.
    public static func multiplyProduced(
        _ a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int,
        rowBias: UnsafePointer<Float>? = nil, silu: Bool = false, compute: ComputeConfiguration,
        produce: (_ panels: Range<Int>, _ buffer: UnsafeMutablePointer<Float>) -> Void
    ) {
        precondition(compute.packed, "the packed layout needs AVX2 or AVX-512")
        let width = panelWidth
        // A block of about 192 KB sits in L2 beside the tile's rows of `a`.
        let block = max(1, 48 * 1024 / (k * width))
        let panels = (n + width - 1) / width
        func multiply(rows: Range<Int>, panels range: Range<Int>) {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: min(block, range.count) * k * width)
            defer { buffer.deallocate() }
            for first in stride(from: range.lowerBound, to: range.upperBound, by: block) {
                let panels = first..<min(first + block, range.upperBound)
                produce(panels, buffer)
                gr_packed_product(
                    rows.count, n - first * width, k, a + rows.lowerBound * k, buffer,
                    rowBias.map { $0 + rows.lowerBound }, silu ? 1 : 0, out + rows.lowerBound * n + first * width, n,
                    0, panels.count, compute.isa)
            }
        }
        // Sharing rows, each worker produces every panel (a small map's, cheap beside its product).
        shareOut(rows: m, panels: panels, compute: compute, multiply)
    }
}
