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
    /// `blockTopK(keep:)` only: the Ritz vectors k..<keep (rows; not converged), e.g. to warm-start
    /// the next solve with a larger subspace than the k wanted vectors. nil otherwise.
    public var moreVectors: Matrix? = nil
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

extension Lanczos {
    /// The k largest eigenpairs of a symmetric operator by block Krylov iteration with Rayleigh–Ritz
    /// (block Lanczos with full reorthogonalization, no restart): the operator gets b × n blocks
    /// (BLAS-3 products), the basis grows by b orthonormal vectors per product until all k Ritz
    /// pairs satisfy ‖A v − θ v‖ ≤ `tolerance` · |θ_1| — the test of `TopKEigensolver` and
    /// `topK`. The residuals are computed from the stored images A·Q (true residuals, not the
    /// three-term estimate) and cost no extra product.
    /// - Parameters:
    ///   - blockSize: b (1 ≤ b ≤ n); b = 1 is a single Krylov sequence like `topK`.
    ///   - start: warm start, e.g. the previous step's k eigenvectors as rows; row i is added to
    ///     start vector i mod b (so b = 1 starts from their sum, b = k from the vectors themselves);
    ///     missing or dependent start vectors are replaced by random ones from `seed`.
    ///   - maxProducts: cap on operator applications (vectors); the pairs at the cap are returned
    ///     with `converged` false.
    ///   - keep: also return the Ritz vectors k..<keep (`moreVectors`, when the basis has that many).
    /// Memory: the basis and its images, 2 · n · (products) doubles.
    public static func blockTopK(dimension n: Int, k: Int, blockSize b: Int, tolerance: Double = 1e-10,
                                 maxProducts: Int = 400, start: Matrix? = nil, seed: UInt64 = 0x1A2C05, keep: Int? = nil,
                                 apply: (Matrix) throws -> Matrix) throws -> LanczosTopKResult {
        guard n >= 1, k >= 1, k <= n, b >= 1, b <= n else {
            throw NumericsError.invalidArgument("block Lanczos top-k: need 1 ≤ k=\(k) ≤ n=\(n) and 1 ≤ b=\(b) ≤ n")
        }
        var rng = SeededRNG(seed: seed)
        var block = Matrix(rows: b, cols: n)
        if let start, start.cols == n {
            for i in 0..<start.rows {
                let j = i % b
                for c in 0..<n { block.data[j * n + c] += start.data[i * n + c] }
            }
        }
        var basis = Matrix(rows: 0, cols: n), images = Matrix(rows: 0, cols: n)
        let limit = min(maxProducts, n)
        while true {
            block = orthonormalized(block, against: basis, rng: &rng, maxRows: limit - basis.rows)
            let img = try apply(block)
            guard img.rows == block.rows && img.cols == n else {
                throw NumericsError.invalidArgument("block Lanczos top-k: operator returned \(img.rows)×\(img.cols), expected \(block.rows)×\(n)")
            }
            guard img.data.allSatisfy({ $0.isFinite }) else { throw NumericsError.nonFinite(what: "block Lanczos top-k operator output") }
            basis = Matrix(rows: basis.rows + block.rows, cols: n, data: basis.data + block.data)
            images = Matrix(rows: images.rows + img.rows, cols: n, data: images.data + img.data)
            let m = basis.rows
            if m >= k {
                var t = BLAS.gemm(basis, images, transB: .transpose)
                for i in 0..<m { for j in (i + 1)..<max(i + 1, m) { let s = 0.5 * (t[i, j] + t[j, i]); t[i, j] = s; t[j, i] = s } }
                let e = try SymmetricEigen.all(t)
                let s = Matrix(rows: k, cols: m, data: Array(e.vectors.data[0..<(k * m)]))
                let x = BLAS.gemm(s, basis), mx = BLAS.gemm(s, images)
                let scale = max(abs(e.values[0]), 1e-300)
                var worst = 0.0
                for i in 0..<k {
                    var r = 0.0
                    for c in 0..<n { let d = mx.data[i * n + c] - e.values[i] * x.data[i * n + c]; r += d * d }
                    worst = max(worst, r.squareRoot())
                }
                let rel = worst / scale
                if rel <= tolerance || m >= limit {
                    var more: Matrix? = nil
                    if let keep, keep > k {
                        let top = min(keep, m)
                        if top > k {
                            more = BLAS.gemm(Matrix(rows: top - k, cols: m, data: Array(e.vectors.data[(k * m)..<(top * m)])), basis)
                        }
                    }
                    return LanczosTopKResult(pairs: EigenPairs(values: Array(e.values[0..<k]), vectors: x), iterations: m,
                                             relativeResidual: rel, converged: rel <= tolerance, moreVectors: more)
                }
            } else if m >= limit {
                throw NumericsError.invalidArgument("block Lanczos top-k: product cap \(limit) below k=\(k)")
            }
            block = img
        }
    }

    /// The rows of `block` made orthonormal and orthogonal to the rows of `basis` (two
    /// Gram–Schmidt passes by gemm against the basis, then modified Gram–Schmidt within the
    /// block); a row that (nearly) vanishes is replaced by a random one. At most `maxRows` rows.
    static func orthonormalized(_ block: Matrix, against basis: Matrix, rng: inout SeededRNG, maxRows: Int) -> Matrix {
        let n = block.cols
        var out: [Double] = []
        var accepted = 0
        func project(_ w: inout [Double]) {
            for _ in 0..<2 {
                if basis.rows > 0 {
                    let coef = BLAS.gemv(basis, w)
                    BLAS.gemv(basis, coef, trans: .transpose, alpha: -1, beta: 1, into: &w)
                }
                for a in 0..<accepted {
                    let q = Array(out[(a * n)..<((a + 1) * n)])
                    BLAS.axpy(-BLAS.dot(q, w), q, &w)
                }
            }
        }
        for i in 0..<block.rows where accepted < maxRows {
            var w = block.row(i)
            let before = BLAS.nrm2(w)
            project(&w)
            var norm = BLAS.nrm2(w)
            var tries = 0
            while !(norm > 1e-10 * before && norm > 0) && tries < 3 {
                w = rng.normals(n)
                let b0 = BLAS.nrm2(w)
                project(&w)
                norm = BLAS.nrm2(w)
                if norm > 1e-10 * b0 { break }
                tries += 1
            }
            guard norm > 0 else { continue }
            BLAS.scale(&w, 1 / norm)
            out += w
            accepted += 1
        }
        return Matrix(rows: accepted, cols: n, data: out)
    }
}
