import CLapack

// Small additions for the recorded M-products and solver cost (format 1.1, issue 12): the
// products of the dense Gram matrix with a few vectors, the eigenvalues above a threshold, and
// the matrix–vector product count of a top-k solve.

extension BLAS {
    /// Rows of `vectors` (r × n) times the symmetric `m` (n × n): row i of the result is
    /// (M vᵢ)ᵀ, all r products in one pass over M (one `dgemm`). Deterministic for a given r.
    public static func symmetricProducts(_ m: Matrix, _ vectors: Matrix) -> Matrix {
        precondition(m.rows == m.cols && vectors.cols == m.rows, "symmetricProducts: shapes")
        return gemm(vectors, m)
    }

    /// x − v (vᵀx): the projection of x off the unit vector v.
    public static func projectOff(_ x: [Double], unit v: [Double]) -> [Double] {
        precondition(x.count == v.count, "projectOff: shapes")
        var r = x
        axpy(-dot(v, x), v, &r)
        return r
    }
}

extension SymmetricEigen {
    /// Every eigenvalue of the symmetric `m` strictly above `threshold`, descending
    /// (`LAPACKE_dsyevr`, range "V" on (threshold, ‖M‖_F + 1], no vectors). Only the upper
    /// triangle is read. Cost O(n³) for the tridiagonal reduction.
    public static func eigenvalues(_ m: Matrix, above threshold: Double) throws -> [Double] {
        precondition(m.rows == m.cols, "eigenvalues(above:): matrix not square")
        let n = m.rows
        guard threshold.isFinite else { throw NumericsError.invalidArgument("eigenvalue threshold \(threshold) is not finite") }
        guard m.isFinite else { throw NumericsError.nonFinite(what: "symmetric eigensolver input") }
        if n == 0 { return [] }
        let frobenius = BLAS.nrm2(m.data)
        let upper = max(frobenius, abs(threshold)) * 2 + 1   // every eigenvalue is ≤ ‖M‖_F
        if threshold >= upper { return [] }
        var a = m.data
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: 1)
        var isuppz = [Int32](repeating: 0, count: 2 * n)
        var found: Int32 = 0
        let info = a.withUnsafeMutableBufferPointer { pa in
            w.withUnsafeMutableBufferPointer { pw in
                z.withUnsafeMutableBufferPointer { pz in
                    isuppz.withUnsafeMutableBufferPointer { ps in
                        LAPACKE_dsyevr(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int8(UInt8(ascii: "V")),
                                       Int8(UInt8(ascii: "U")), Int32(n), pa.baseAddress, Int32(n), threshold, upper,
                                       0, 0, 0, &found, pw.baseAddress, pz.baseAddress, 1, ps.baseAddress)
                    }
                }
            }
        }
        guard info == 0 else { throw NumericsError.lapack(routine: "dsyevr", info: info) }
        return Array(w[0..<Int(found)].reversed())
    }
}

extension TopKEigensolver {
    /// Block size b = min(k + guard vectors, n) of a solve on an n × n matrix.
    public func blockSize(n: Int) -> Int { min(k + (options.guardVectors ?? max(2, k / 2)), n) }

    /// Products of M with a vector that `solve` made for `result` on an n × n matrix (a block
    /// product with b vectors counts b): 0 when it solved densely with LAPACK; otherwise the start
    /// block, one block per iteration and one per orthonormality refresh (every 20 iterations),
    /// b·(1 + i + ⌊i/20⌋) for i iterations (a solve that fell back to LAPACK counts its iterations).
    public func matvecCount(of result: TopKResult, n: Int) -> Int {
        let b = blockSize(n: n)
        if result.usedLAPACK && result.iterations == 0 { return 0 }
        let i = result.iterations
        return b * (1 + i + i / 20)
    }
}
