import CLapack

/// Eigenpairs of a symmetric matrix, largest first.
public struct EigenPairs: Sendable, Equatable {
    /// Eigenvalues, descending.
    public var values: [Double]
    /// Unit eigenvectors as rows: `vectors.row(i)` belongs to `values[i]` (shape k × n).
    public var vectors: Matrix

    public init(values: [Double], vectors: Matrix) {
        precondition(values.count == vectors.rows)
        self.values = values
        self.vectors = vectors
    }
}

/// Dense symmetric eigensolvers (LAPACK). `info != 0` becomes `NumericsError.lapack`.
public enum SymmetricEigen {
    /// The k largest eigenpairs of the symmetric `m` (n × n) via `LAPACKE_dsyevr` range "I".
    /// Only the upper triangle is read. Cost O(n³) for the tridiagonal reduction.
    public static func topK(_ m: Matrix, k: Int) throws -> EigenPairs {
        let n = m.rows
        precondition(m.rows == m.cols, "topK: matrix not square")
        guard k >= 1 && k <= n else { throw NumericsError.invalidArgument("topK: k=\(k) out of range 1...\(n)") }
        guard m.isFinite else { throw NumericsError.nonFinite(what: "symmetric eigensolver input") }
        var a = m.data
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * k)
        var isuppz = [Int32](repeating: 0, count: 2 * n)
        var found: Int32 = 0
        let info = a.withUnsafeMutableBufferPointer { pa in
            w.withUnsafeMutableBufferPointer { pw in
                z.withUnsafeMutableBufferPointer { pz in
                    isuppz.withUnsafeMutableBufferPointer { ps in
                        LAPACKE_dsyevr(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "I")),
                                       Int8(UInt8(ascii: "U")), Int32(n), pa.baseAddress, Int32(n), 0, 0,
                                       Int32(n - k + 1), Int32(n), 0, &found, pw.baseAddress, pz.baseAddress,
                                       Int32(k), ps.baseAddress)
                    }
                }
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dsyevr", info: info) }
        guard Int(found) == k else { throw NumericsError.lapack(routine: "dsyevr (found \(found) of \(k))", info: 1) }
        // z is n × k row-major, columns ascending; return rows descending.
        var vectors = Matrix(rows: k, cols: n)
        var values = [Double](repeating: 0, count: k)
        for i in 0..<k {
            let c = k - 1 - i
            values[i] = w[c]
            for r in 0..<n { vectors.data[i * n + r] = z[r * k + c] }
        }
        return EigenPairs(values: values, vectors: vectors)
    }

    /// All eigenvalues of the symmetric `m`, descending (`LAPACKE_dsyevd`, no vectors).
    public static func allEigenvalues(_ m: Matrix) throws -> [Double] {
        precondition(m.rows == m.cols, "allEigenvalues: matrix not square")
        let n = m.rows
        if n == 0 { return [] }
        guard m.isFinite else { throw NumericsError.nonFinite(what: "symmetric eigensolver input") }
        return try dsyevd(m, vectors: false).values.reversed()
    }

    /// All eigenpairs of the symmetric `m`, descending (`LAPACKE_dsyevd`). For small matrices.
    /// `LAPACKE_dsyevd` on a copy of the n×n symmetric `m` (upper triangle): eigenvalues ascending,
    /// and with `vectors` the eigenvectors as the columns of the returned row-major array.
    private static func dsyevd(_ m: Matrix, vectors: Bool) throws -> (values: [Double], a: [Double]) {
        let n = m.rows
        var a = m.data
        var w = [Double](repeating: 0, count: n)
        let info = a.withUnsafeMutableBufferPointer { pa in
            w.withUnsafeMutableBufferPointer { pw in
                LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: vectors ? "V" : "N")), Int8(UInt8(ascii: "U")),
                               Int32(n), pa.baseAddress, Int32(n), pw.baseAddress)
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dsyevd", info: info) }
        return (w, a)
    }

    public static func all(_ m: Matrix) throws -> EigenPairs {
        precondition(m.rows == m.cols, "all: matrix not square")
        let n = m.rows
        guard m.isFinite else { throw NumericsError.nonFinite(what: "symmetric eigensolver input") }
        if n == 0 { return EigenPairs(values: [], vectors: Matrix(rows: 0, cols: 0)) }
        let (w, a) = try dsyevd(m, vectors: true)
        // a holds eigenvectors as columns (ascending).
        var vectors = Matrix(rows: n, cols: n)
        for i in 0..<n {
            let c = n - 1 - i
            for r in 0..<n { vectors.data[i * n + r] = a[r * n + c] }
        }
        return EigenPairs(values: w.reversed(), vectors: vectors)
    }

    /// Eigenvalues and vectors of the symmetric tridiagonal matrix (diagonal `d`, off-diagonal `e`),
    /// descending (`LAPACKE_dstev`). Vectors as rows.
    public static func tridiagonal(diagonal d: [Double], offDiagonal e: [Double]) throws -> EigenPairs {
        let n = d.count
        precondition(e.count == max(n - 1, 0))
        if n == 0 { return EigenPairs(values: [], vectors: Matrix(rows: 0, cols: 0)) }
        var dd = d
        var ee = e + [0]
        var z = [Double](repeating: 0, count: n * n)
        let info = dd.withUnsafeMutableBufferPointer { pd in
            ee.withUnsafeMutableBufferPointer { pe in
                z.withUnsafeMutableBufferPointer { pz in
                    LAPACKE_dstev(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int32(n), pd.baseAddress, pe.baseAddress,
                                  pz.baseAddress, Int32(n))
                }
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dstev", info: info) }
        var vectors = Matrix(rows: n, cols: n)
        for i in 0..<n {
            let c = n - 1 - i
            for r in 0..<n { vectors.data[i * n + r] = z[r * n + c] }
        }
        return EigenPairs(values: dd.reversed(), vectors: vectors)
    }
}
