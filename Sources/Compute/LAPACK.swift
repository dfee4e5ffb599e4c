import COpenBLAS

/// The double-precision linear algebra the sanitizer and the evaluation tools need, on OpenBLAS's
/// LAPACK. Small, exact problems (a concept subspace, a logistic head's Newton step), not hot loops:
/// each call allocates its own workspace.
public enum LAPACK {
    /// The thin SVD of `a`, an `m × n` column-major matrix (`dgesdd`, job `S`): the left singular
    /// vectors `u` (`m × min(m, n)`, column-major) and the singular values, largest first.
    public static func thinSVD(columnMajor a: [Double], rows m: Int, columns n: Int) -> (u: [Double], s: [Double]) {
        precondition(m > 0 && n > 0 && a.count == m * n, "thinSVD takes an m × n matrix")
        var a = a
        var (rows, columns) = (Int32(m), Int32(n))
        let k = min(m, n)
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: m * k)
        var vt = [Double](repeating: 0, count: k * n)
        var (lda, ldu, ldvt) = (rows, rows, Int32(k))
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0
        var job = CChar(UInt8(ascii: "S"))
        // Workspace query, then the decomposition.
        var query = 0.0
        var lwork: Int32 = -1
        dgesdd_(&job, &rows, &columns, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dgesdd_(&job, &rows, &columns, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        precondition(info == 0, "dgesdd failed with info \(info)")
        return (u, s)
    }

    /// `aᵀ a` for a row-major `rows × columns` matrix `a` (`dsyrk`): the upper triangle of the
    /// row-major `columns × columns` result is filled, the lower one left zero.
    public static func gramUpper(rowMajor a: [Double], rows: Int, columns: Int) -> [Double] {
        precondition(a.count == rows * columns, "gramUpper takes a rows × columns matrix")
        var gram = [Double](repeating: 0, count: columns * columns)
        cblas_dsyrk(
            CblasRowMajor, CblasUpper, CblasTrans, Int32(columns), Int32(rows), 1, a, Int32(columns), 0, &gram,
            Int32(columns))
        return gram
    }

    /// Solves `a x = b` in place for a symmetric positive definite `order × order` matrix whose
    /// upper triangle is filled in row-major order (`dposv` on the lower triangle of the same memory
    /// read column-major). `b` becomes `x`; false when `a` is not positive definite.
    public static func choleskySolve(_ a: inout [Double], _ b: inout [Double], order: Int) -> Bool {
        precondition(a.count == order * order && b.count == order, "choleskySolve takes an order × order system")
        var (uplo, n, rhs, info) = (CChar(UInt8(ascii: "L")), Int32(order), Int32(1), Int32(0))
        var (lda, ldb) = (n, n)
        dposv_(&uplo, &n, &rhs, &a, &lda, &b, &ldb, &info)
        return info == 0
    }
}
