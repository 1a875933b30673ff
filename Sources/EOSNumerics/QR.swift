import CLapack

/// QR factorization helpers (LAPACK `dgeqrf` + `dorgqr`).
public enum QR {
    /// The Q factor (rows × cols, orthonormal columns) of the thin QR factorization of `a`
    /// (rows ≥ cols). Cost O(rows · cols²). Throws when LAPACK reports an error.
    public static func orthonormalColumns(of a: Matrix) throws -> Matrix {
        precondition(a.cols <= a.rows, "QR.orthonormalColumns: needs rows ≥ cols")
        let rows = a.rows, cols = a.cols
        var q = a.data
        var tau = [Double](repeating: 0, count: cols)
        var info = q.withUnsafeMutableBufferPointer { pa in
            tau.withUnsafeMutableBufferPointer { pt in
                LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(rows), Int32(cols), pa.baseAddress, Int32(cols), pt.baseAddress)
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dgeqrf", info: info) }
        info = q.withUnsafeMutableBufferPointer { pa in
            tau.withUnsafeMutableBufferPointer { pt in
                LAPACKE_dorgqr(LAPACK_ROW_MAJOR, Int32(rows), Int32(cols), Int32(cols), pa.baseAddress, Int32(cols), pt.baseAddress)
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dorgqr", info: info) }
        return Matrix(rows: rows, cols: cols, data: q)
    }
}
