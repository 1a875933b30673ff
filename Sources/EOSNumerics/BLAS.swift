import CLapack
import Foundation

/// Thin wrappers over OpenBLAS CBLAS for row-major `Matrix` and `[Double]`.
/// Every matrix product in eostrace goes through here. Shapes are checked with `precondition`.
public enum BLAS {
    public enum Transpose: Sendable { case none, transpose
        var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
    }

    /// C ← α·op(A)·op(B) + β·C. Cost O(m·n·k).
    public static func gemm(_ a: Matrix, _ b: Matrix, transA: Transpose = .none, transB: Transpose = .none,
                            alpha: Double = 1, beta: Double = 0, into c: inout Matrix) {
        let (m, ka) = transA == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.cols) : (b.cols, b.rows)
        precondition(ka == kb, "gemm: inner dimensions \(ka) vs \(kb)")
        precondition(c.rows == m && c.cols == n, "gemm: output \(c.rows)×\(c.cols), expected \(m)×\(n)")
        if m == 0 || n == 0 { return }
        if ka == 0 { scale(&c.data, beta); return }
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    cblas_dgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(ka),
                                alpha, pa.baseAddress, Int32(max(a.cols, 1)), pb.baseAddress, Int32(max(b.cols, 1)),
                                beta, pc.baseAddress, Int32(max(c.cols, 1)))
                }
            }
        }
    }

    /// C ← α·op(A)·op(B) + β·C on raw row-major storage with leading dimensions (sub-blocks of
    /// larger matrices): m × n result, inner dimension k.
    public static func gemm(transA: Transpose, transB: Transpose, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
                            c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                    b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Returns α·op(A)·op(B).
    public static func gemm(_ a: Matrix, _ b: Matrix, transA: Transpose = .none, transB: Transpose = .none,
                            alpha: Double = 1) -> Matrix {
        let m = transA == .none ? a.rows : a.cols
        let n = transB == .none ? b.cols : b.rows
        var c = Matrix(rows: m, cols: n)
        gemm(a, b, transA: transA, transB: transB, alpha: alpha, beta: 0, into: &c)
        return c
    }

    /// y ← α·op(A)·x + β·y. Cost O(rows·cols).
    public static func gemv(_ a: Matrix, _ x: [Double], trans: Transpose = .none, alpha: Double = 1,
                            beta: Double = 0, into y: inout [Double]) {
        let (m, n) = trans == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        precondition(x.count == n && y.count == m, "gemv: shapes")
        if m == 0 { return }
        if n == 0 { scale(&y, beta); return }
        a.data.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    cblas_dgemv(CblasRowMajor, trans.cblas, Int32(a.rows), Int32(a.cols), alpha, pa.baseAddress,
                                Int32(max(a.cols, 1)), px.baseAddress, 1, beta, py.baseAddress, 1)
                }
            }
        }
    }

    /// Returns α·op(A)·x.
    public static func gemv(_ a: Matrix, _ x: [Double], trans: Transpose = .none, alpha: Double = 1) -> [Double] {
        var y = [Double](repeating: 0, count: trans == .none ? a.rows : a.cols)
        gemv(a, x, trans: trans, alpha: alpha, beta: 0, into: &y)
        return y
    }

    /// C ← α·A·Aᵀ + β·C (`trans == .none`, C is rows×rows) or α·AᵀA + β·C (`.transpose`).
    /// Only the upper triangle is computed unless `fullSymmetric` (then mirrored). Cost O(n²k/1).
    public static func syrk(_ a: Matrix, trans: Transpose = .none, alpha: Double = 1, beta: Double = 0,
                            into c: inout Matrix, fullSymmetric: Bool = true) {
        let (n, k) = trans == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        precondition(c.rows == n && c.cols == n, "syrk: output shape")
        if n == 0 { return }
        if k == 0 { scale(&c.data, beta) } else {
            a.data.withUnsafeBufferPointer { pa in
                c.data.withUnsafeMutableBufferPointer { pc in
                    cblas_dsyrk(CblasRowMajor, CblasUpper, trans.cblas, Int32(n), Int32(k), alpha, pa.baseAddress,
                                Int32(max(a.cols, 1)), beta, pc.baseAddress, Int32(n))
                }
            }
        }
        if fullSymmetric { c.symmetrizeFromUpper() }
    }

    /// Returns α·A·Aᵀ (full symmetric).
    public static func syrk(_ a: Matrix, trans: Transpose = .none, alpha: Double = 1) -> Matrix {
        let n = trans == .none ? a.rows : a.cols
        var c = Matrix(rows: n, cols: n)
        syrk(a, trans: trans, alpha: alpha, beta: 0, into: &c)
        return c
    }

    /// C ← α·B·A + β·C with A symmetric (n × n, only its upper triangle is read) and B, C
    /// m × n (`dsymm`, side right). With the rows of B holding m vectors this is M applied to each.
    public static func symmRight(upper a: Matrix, _ b: Matrix, alpha: Double = 1, beta: Double = 0, into c: inout Matrix) {
        precondition(a.rows == a.cols && b.cols == a.rows, "symm: A \(a.rows)×\(a.cols), B \(b.rows)×\(b.cols)")
        precondition(c.rows == b.rows && c.cols == b.cols, "symm: output shape")
        if b.rows == 0 || a.rows == 0 { return }
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(b.rows), Int32(a.rows), alpha,
                                pa.baseAddress, Int32(a.cols), pb.baseAddress, Int32(b.cols), beta, pc.baseAddress, Int32(c.cols))
                }
            }
        }
    }

    /// xᵀy.
    public static func dot(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "dot: lengths \(x.count) vs \(y.count)")
        if x.isEmpty { return 0 }
        return x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in cblas_ddot(Int32(x.count), px.baseAddress, 1, py.baseAddress, 1) }
        }
    }

    /// y ← α·x + y.
    public static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        precondition(x.count == y.count, "axpy: lengths")
        if x.isEmpty { return }
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in cblas_daxpy(Int32(x.count), alpha, px.baseAddress, 1, py.baseAddress, 1) }
        }
    }

    /// ‖x‖₂ (overflow-safe).
    public static func nrm2(_ x: [Double]) -> Double {
        if x.isEmpty { return 0 }
        return x.withUnsafeBufferPointer { cblas_dnrm2(Int32(x.count), $0.baseAddress, 1) }
    }

    /// x ← α·x.
    public static func scale(_ x: inout [Double], _ alpha: Double) {
        if x.isEmpty { return }
        if alpha == 0 { for i in x.indices { x[i] = 0 }; return }
        x.withUnsafeMutableBufferPointer { cblas_dscal(Int32($0.count), alpha, $0.baseAddress, 1) }
    }
}

extension BLAS {
    /// OpenBLAS worker threads used by eostrace: 1 unless the environment variable
    /// EOSTRACE_BLAS_THREADS sets another count. OpenBLAS results depend (in the last bits) on
    /// its thread count, and at the Edge of Stability GD amplifies such differences within a few
    /// dozen steps; pinning the count makes recordings, resumes and replays bit-reproducible
    /// on any machine size. Set on first use (`ModelEvaluator` and `TopKEigensolver` call
    /// `pinThreads()`).
    public static let threads: Int = {
        let env = ProcessInfo.processInfo.environment["EOSTRACE_BLAS_THREADS"].flatMap { Int($0) }
        let n = max(1, env ?? 1)
        openblas_set_num_threads(Int32(n))
        return n
    }()

    /// OpenBLAS's name for the kernel set it chose for this CPU (e.g. "Haswell", "Cooperlake").
    /// Results are bit-reproducible only between machines with the same kernels.
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Applies `threads` (once per process).
    public static func pinThreads() { _ = threads }
}
