import EOSNumerics
import Foundation

/// Synthetic data whose Gram XXᵀ (the paper's XᵀX, n × n) has a prescribed spectrum satisfying
/// Assumption 4.1: λ_i ≤ χ λ_{i+1} for i < r, and λ_1 ≥ `gap` · λ_2 (gap ≥ 2 in the paper).
public enum SyntheticData {
    /// The r nonzero eigenvalues of XXᵀ: λ_1 = `lambda1`, λ_2 = λ_1/gap, λ_{i+1} = λ_i/decay for i ≥ 2.
    /// Assumption 4.1 holds when gap ≥ 2 and max(gap, decay) ≤ χ.
    public static func spectrum(rank r: Int, lambda1: Double, gap: Double, decay: Double) -> [Double] {
        var s = [lambda1]
        if r >= 2 { s.append(lambda1 / gap) }
        while s.count < r { s.append(s[s.count - 1] / decay) }
        return s
    }

    /// Builds X = U diag(√λ) Vᵀ (n × d) with seeded orthonormal U (n × r), V (d × r), and targets
    /// from a linear teacher y = X w* (w* ~ N(0, I), rescaled so ‖Y‖²/n = 1).
    /// - Throws: `DataError.invalidRequest` if r > min(n, d), χ ≤ 1, gap < 1 or the spectrum
    ///   violates Assumption 4.1 for the given χ.
    public static func make(n: Int, d: Int, rank r: Int? = nil, lambda1: Double? = nil, chi: Double = 3,
                            gap: Double = 2, decay: Double = 1.1, seed: UInt64 = 0) throws -> Dataset {
        let rank = r ?? Swift.min(n, d)
        guard n >= 1, d >= 1, rank >= 1, rank <= Swift.min(n, d) else {
            throw DataError.invalidRequest("synthetic data: rank \(rank) must be in 1...min(n=\(n), d=\(d))")
        }
        guard chi > 1 else { throw DataError.invalidRequest("synthetic data: chi must be > 1, got \(chi)") }
        guard rank == 1 || (gap >= 2 && gap <= chi && decay >= 1 && decay <= chi) else {
            throw DataError.invalidRequest("synthetic data: Assumption 4.1 needs 2 ≤ gap ≤ chi and 1 ≤ decay ≤ chi (gap=\(gap), decay=\(decay), chi=\(chi))")
        }
        let l1 = lambda1 ?? Double(n)     // λ_1 = c1 n with c1 = 1 (paper's Theorem 1 scaling)
        let lam = spectrum(rank: rank, lambda1: l1, gap: gap, decay: decay)
        var rng = SeededRNG(seed: seed)
        let U = try orthonormalColumns(rows: n, cols: rank, rng: &rng)
        let V = try orthonormalColumns(rows: d, cols: rank, rng: &rng)
        var US = U
        for i in 0..<n { for j in 0..<rank { US.data[i * rank + j] *= lam[j].squareRoot() } }
        let X = BLAS.gemm(US, V, transB: .transpose)
        let w = rng.normals(d)
        var Y = BLAS.gemv(X, w)
        let scale = (Double(n) / Swift.max(BLAS.dot(Y, Y), 1e-300)).squareRoot()
        BLAS.scale(&Y, scale)
        return Dataset(X: X, Y: Y, source: "synthetic n=\(n) d=\(d) rank=\(rank) lambda1=\(l1) chi=\(chi) gap=\(gap) decay=\(decay) seed=\(seed), linear teacher")
    }

    /// A rows × cols matrix with orthonormal columns: Q of the QR factorization of a seeded Gaussian
    /// matrix (LAPACK dgeqrf + dorgqr).
    public static func orthonormalColumns(rows: Int, cols: Int, rng: inout SeededRNG) throws -> Matrix {
        precondition(cols <= rows)
        return try QR.orthonormalColumns(of: Matrix(rows: rows, cols: cols, data: rng.normals(rows * cols)))
    }
}
