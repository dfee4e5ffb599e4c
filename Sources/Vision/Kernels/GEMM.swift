import COpenBLAS

/// The only call site of `cblas_sgemm`. Matrices are row-major `Float32`; linear weights stay in
/// the checkpoint's PyTorch layout `[out, in]`, so `y = x · Wᵀ` multiplies with `transposeB`.
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
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// OpenBLAS worker threads. The engine keeps one owner of parallelism: either BLAS threads
    /// here, or its own workers with this set to 1.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            precondition(newValue > 0, "thread count must be positive")
            openblas_set_num_threads(Int32(newValue))
        }
    }
}
