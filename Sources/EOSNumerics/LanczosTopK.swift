/// Result of `Lanczos.topK`.
public struct LanczosTopKResult: Sendable {
    /// The k largest Ritz pairs (descending, unit vectors as rows).
    public var pairs: EigenPairs
    /// Operator applications (one vector each).
    public var iterations: Int
    /// max_i |β_j s_{j,i}| / |θ_1| over the k pairs: their residual norms ‖A v − θ v‖ relative
    /// to the largest |Ritz value| (exact in exact arithmetic; full reorthogonalization keeps it so).
    public var relativeResidual: Double
    /// Whether `relativeResidual ≤ tolerance` (or an invariant subspace holding k pairs was found).
    public var converged: Bool
}

extension Lanczos {
    /// The k largest eigenpairs of a symmetric operator by Lanczos with full reorthogonalization
    /// (two block Gram–Schmidt passes by BLAS gemv), no restart: stops when all k Ritz pairs
    /// satisfy ‖A v − θ v‖ ≤ `tolerance` · |θ_1| — the test of `TopKEigensolver` — or after
    /// `maxIterations` products. One vector per product (the operator gets a 1 × n block), so it
    /// needs far fewer products than a block method on clustered spectra, as ARPACK's `eigsh`.
    /// A single Krylov sequence finds one copy of an exactly repeated eigenvalue; for spectra
    /// with exact multiplicities use `TopKEigensolver`. Memory: the basis, O(n · iterations).
    /// - Parameter start: start vector, e.g. the sum of the previous step's eigenvectors (random
    ///   from `seed` when nil or zero).
    public static func topK(dimension n: Int, k: Int, tolerance: Double = 1e-10, maxIterations: Int = 300,
                            start: [Double]? = nil, seed: UInt64 = 0x1A2C05,
                            apply: (Matrix) throws -> Matrix) throws -> LanczosTopKResult {
        guard n >= 1, k >= 1, k <= n else { throw NumericsError.invalidArgument("Lanczos top-k: need 1 ≤ k=\(k) ≤ n=\(n)") }
        var q: [Double]
        if let start, start.count == n, BLAS.nrm2(start) > 0 { q = start } else {
            var rng = SeededRNG(seed: seed)
            q = rng.normals(n)
        }
        BLAS.scale(&q, 1 / BLAS.nrm2(q))
        let limit = min(maxIterations, n)
        var basis = Matrix(rows: 1, cols: n, data: q)
        var alphas: [Double] = [], betas: [Double] = []
        for j in 0..<limit {
            let img = try apply(Matrix(rows: 1, cols: n, data: basis.row(j)))
            guard img.rows == 1 && img.cols == n else {
                throw NumericsError.invalidArgument("Lanczos top-k: operator returned \(img.rows)×\(img.cols), expected 1×\(n)")
            }
            var w = img.data
            guard w.allSatisfy({ $0.isFinite }) else { throw NumericsError.nonFinite(what: "Lanczos top-k operator output") }
            alphas.append(BLAS.dot(basis.row(j), w))
            for _ in 0..<2 {   // w ← w − Qᵀ (Q w)
                let coef = BLAS.gemv(basis, w)
                BLAS.gemv(basis, coef, trans: .transpose, alpha: -1, beta: 1, into: &w)
            }
            let beta = BLAS.nrm2(w)
            let m = j + 1
            if m >= k {
                let t = try SymmetricEigen.tridiagonal(diagonal: alphas, offDiagonal: betas)
                let scale = max(abs(t.values[0]), 1e-300)
                var worst = 0.0
                for i in 0..<k { worst = max(worst, abs(beta * t.vectors[i, j])) }
                let rel = worst / scale
                let invariant = beta <= 1e-14 * scale
                if rel <= tolerance || invariant || j == limit - 1 {
                    var s = Matrix(rows: k, cols: m)
                    for i in 0..<k { for c in 0..<m { s.data[i * m + c] = t.vectors[i, c] } }
                    let vectors = BLAS.gemm(s, basis)
                    return LanczosTopKResult(pairs: EigenPairs(values: Array(t.values[0..<k]), vectors: vectors), iterations: m,
                                             relativeResidual: invariant ? 0 : rel, converged: rel <= tolerance || invariant)
                }
            } else if beta <= 1e-14 * max(abs(alphas.max() ?? 0), 1e-300) {
                // Invariant subspace smaller than k: continue from a random vector ⟂ the basis
                // (off-diagonal 0: the tridiagonal matrix splits into blocks).
                var rng = SeededRNG(seed: seed &+ UInt64(m))
                w = rng.normals(n)
                for _ in 0..<2 {
                    let coef = BLAS.gemv(basis, w)
                    BLAS.gemv(basis, coef, trans: .transpose, alpha: -1, beta: 1, into: &w)
                }
                betas.append(0)
                BLAS.scale(&w, 1 / BLAS.nrm2(w))
                basis = Matrix(rows: m + 1, cols: n, data: basis.data + w)
                continue
            }
            betas.append(beta)
            BLAS.scale(&w, 1 / beta)
            basis = Matrix(rows: m + 1, cols: n, data: basis.data + w)
        }
        throw NumericsError.invalidArgument("Lanczos top-k: no iterations")
    }
}
