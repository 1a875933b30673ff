/// Options of the warm-started iterative top-k eigensolver.
public struct TopKOptions: Sendable, Equatable {
    /// Stop when every wanted pair has ‖M v − λ v‖ ≤ `tolerance` · ‖M‖ (‖M‖ estimated by the largest
    /// |Ritz value|, a lower bound, so the test is conservative).
    public var tolerance: Double = 1e-10
    /// Iterations before falling back to LAPACK `dsyevr`.
    public var maxIterations: Int = 300
    /// Extra block vectors beyond k (speed up convergence when λ_k ≈ λ_{k+1}); nil = automatic.
    public var guardVectors: Int? = nil
    /// Below this n the solver calls LAPACK directly (it is cheaper there).
    public var denseThreshold: Int = 64
    /// Seed of the random start (first call only).
    public var seed: UInt64 = 0x5EED
    public init(tolerance: Double = 1e-10, maxIterations: Int = 300, guardVectors: Int? = nil,
                denseThreshold: Int = 64, seed: UInt64 = 0x5EED) {
        self.tolerance = tolerance; self.maxIterations = maxIterations; self.guardVectors = guardVectors
        self.denseThreshold = denseThreshold; self.seed = seed
    }
}

/// Result of one `TopKEigensolver.solve` call.
public struct TopKResult: Sendable {
    /// The k largest eigenpairs (descending, vectors as rows). Signs are arbitrary; apply
    /// `EigenvectorSigns` for recorded series.
    public var pairs: EigenPairs
    /// Iterations used (0 when LAPACK was called directly).
    public var iterations: Int
    /// max_i ‖M v_i − λ_i v_i‖ / ‖M‖ over the k returned pairs (computed after the fact).
    public var relativeResidual: Double
    /// True when the iterative solver did not converge and LAPACK `dsyevr` answered instead,
    /// or when the matrix was small enough to go to LAPACK directly.
    public var usedLAPACK: Bool
    public init(pairs: EigenPairs, iterations: Int, relativeResidual: Double, usedLAPACK: Bool) {
        self.pairs = pairs; self.iterations = iterations; self.relativeResidual = relativeResidual; self.usedLAPACK = usedLAPACK
    }
}

/// Warm-started block eigensolver for the k largest eigenpairs of a symmetric matrix
/// (LOBPCG-style: basis [X, R, P], Rayleigh–Ritz via LAPACK on the small projected matrix).
///
/// Each call starts from the previous call's block (k + guard vectors), so along a GD trajectory
/// where M changes slowly it converges in a few iterations. Each iteration costs one
/// n × n × b matrix product (b = k + guard; the images of the P block are tracked, not recomputed)
/// plus O(n b²). If it does not reach the tolerance in
/// `maxIterations`, LAPACK `dsyevr` answers (and `usedLAPACK` says so).
public final class TopKEigensolver {
    public let k: Int
    public let options: TopKOptions
    /// The block of the previous call (b × n, orthonormal rows) used as the next warm start.
    public private(set) var block: Matrix?
    private var rng: SeededRNG

    public init(k: Int, options: TopKOptions = TopKOptions()) {
        BLAS.pinThreads()
        precondition(k >= 1, "TopKEigensolver: k must be ≥ 1")
        self.k = k
        self.options = options
        self.rng = SeededRNG(seed: options.seed)
    }

    /// Forgets the warm start.
    public func reset() { block = nil }

    /// Sets the warm start explicitly (rows are start vectors, e.g. restored from a checkpoint) and
    /// reseeds the generator that fills missing guard vectors, so that a solver restored this way
    /// behaves bit for bit like one that was set the same way without interruption.
    public func setWarmStart(_ vectors: Matrix, seed: UInt64? = nil) {
        block = vectors
        if let seed { rng = SeededRNG(seed: seed) }
    }

    /// The state of the generator that fills missing guard vectors (`SeededRNG.stateWords`).
    /// With `block` it is everything the next `solve` depends on besides its matrix.
    public var rngState: [UInt64] { rng.stateWords }

    /// Restores a warm start saved from `block` and `rngState` (e.g. at an interrupt), so that
    /// the next `solve` gives bit for bit what it gave in the solver they were taken from.
    /// Returns false (and changes nothing) when `rngState` is not a generator state.
    @discardableResult
    public func restore(block: Matrix, rngState: [UInt64]) -> Bool {
        guard let r = SeededRNG(stateWords: rngState) else { return false }
        self.block = block
        rng = r
        return true
    }

    /// The k largest eigenpairs of the symmetric `m` (n × n; the full matrix is read).
    public func solve(_ m: Matrix) throws -> TopKResult {
        precondition(m.rows == m.cols, "TopKEigensolver: matrix not square")
        let n = m.rows
        guard k <= n else { throw NumericsError.invalidArgument("top-k eigensolver: k=\(k) exceeds n=\(n)") }
        guard m.isFinite else { throw NumericsError.nonFinite(what: "top-k eigensolver input") }
        let guardCount = options.guardVectors ?? max(2, k / 2)
        let b = min(k + guardCount, n)
        if n <= max(options.denseThreshold, 3 * b) { return try solveByLAPACK(m, b: b, iterations: 0) }
        return try iterate(n: n, b: b, lockConverged: false, apply: { BLAS.gemm($0, m) },
                           fallback: { try self.solveByLAPACK(m, b: b, iterations: $0) })
    }

    /// The k largest eigenpairs of a symmetric operator given only by its action on a block:
    /// `apply(V)` returns the rows (M v_i)ᵀ for the rows v_i of V (b × n). Same iteration, warm
    /// start and residual test as `solve(_:)` (‖M v − λ v‖ ≤ tolerance · ‖M‖ for all k pairs), so
    /// a matrix-free M (e.g. the c-output Gram from per-layer factors) needs only O(n·b) memory
    /// here. With `lockConverged` the residual rows of pairs already within tolerance are not
    /// multiplied (soft locking: fewer products per iteration, same final test).
    /// Small n (≤ max(denseThreshold, 3b)) and a non-converged iteration form M column block by
    /// column block through `apply` and call LAPACK, when n ≤ `fallbackLimit`; above it a
    /// non-converged solve throws (one line with the residual reached).
    /// `precondition(R, θ)`, when given, maps the residual block R (rows, after locking) to search
    /// directions T·R with an SPD T (θ: the current Ritz values, descending) — LOBPCG's
    /// preconditioner; it changes the search space, never the stopping test.
    public func solve(dimension n: Int, lockConverged: Bool = true, fallbackLimit: Int = 4096,
                      precondition: ((Matrix, [Double]) -> Matrix)? = nil,
                      apply: (Matrix) throws -> Matrix) throws -> TopKResult {
        guard k <= n else { throw NumericsError.invalidArgument("top-k eigensolver: k=\(k) exceeds n=\(n)") }
        let guardCount = options.guardVectors ?? max(2, k / 2)
        let b = min(k + guardCount, n)
        func formed() throws -> Matrix {
            var m = Matrix(rows: n, cols: n)
            var lo = 0
            while lo < n {
                let hi = min(n, lo + 256)
                var e = Matrix(rows: hi - lo, cols: n)
                for r in 0..<(hi - lo) { e.data[r * n + lo + r] = 1 }
                let img = try apply(e)
                for r in 0..<(hi - lo) { for j in 0..<n { m.data[(lo + r) * n + j] = img.data[r * n + j] } }
                lo = hi
            }
            // Symmetrize (round-off of the operator).
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) {
                let v = 0.5 * (m.data[i * n + j] + m.data[j * n + i]); m.data[i * n + j] = v; m.data[j * n + i] = v
            } }
            guard m.isFinite else { throw NumericsError.nonFinite(what: "top-k eigensolver operator") }
            return m
        }
        if n <= max(options.denseThreshold, 3 * b) { return try solveByLAPACK(try formed(), b: b, iterations: 0) }
        return try iterate(n: n, b: b, lockConverged: lockConverged, precondition: precondition, apply: { v in
            let r = try apply(v)
            guard r.rows == v.rows && r.cols == n else {
                throw NumericsError.invalidArgument("top-k eigensolver: operator returned \(r.rows)×\(r.cols), expected \(v.rows)×\(n)")
            }
            guard r.isFinite else { throw NumericsError.nonFinite(what: "top-k eigensolver operator") }
            return r
        }, fallback: { iters in
            guard n <= fallbackLimit else {
                throw NumericsError.invalidArgument("top-k eigensolver: no convergence to tolerance \(self.options.tolerance) in \(iters) iterations (n = \(n) > fallback limit \(fallbackLimit))")
            }
            return try self.solveByLAPACK(try formed(), b: b, iterations: iters)
        })
    }

    /// LAPACK on the dense matrix: the b largest pairs become the warm start, k are returned.
    private func solveByLAPACK(_ m: Matrix, b: Int, iterations: Int) throws -> TopKResult {
        let p = try SymmetricEigen.topK(m, k: b)
        block = p.vectors
        let pk = EigenPairs(values: Array(p.values[0..<k]), vectors: p.vectors.rows(0..<k))
        return TopKResult(pairs: pk, iterations: iterations, relativeResidual: Self.residual(m, pk), usedLAPACK: true)
    }

    /// The block iteration; `apply(V)` = V·M (rows are the images), `fallback(iterations)`
    /// answers when the tolerance is not reached.
    private func iterate(n: Int, b: Int, lockConverged: Bool, precondition: ((Matrix, [Double]) -> Matrix)? = nil,
                         apply: (Matrix) throws -> Matrix,
                         fallback: (Int) throws -> TopKResult) throws -> TopKResult {
        // Start block.
        var x: Matrix
        if let prev = block, prev.cols == n, prev.rows >= 1 {
            x = prev.rows >= b ? prev.rows(0..<b) : prev
            if x.rows < b {
                var extra = Matrix(rows: b - x.rows, cols: n)
                for i in 0..<extra.data.count { extra.data[i] = rng.normal() }
                x = Self.stack(x, extra)
            }
        } else {
            x = Matrix(rows: b, cols: n)
            for i in 0..<x.data.count { x.data[i] = rng.normal() }
        }
        x = Self.orthonormalizeRows(x, against: nil)
        if x.rows < b { // degenerate start: refill randomly
            var extra = Matrix(rows: b - x.rows, cols: n)
            for i in 0..<extra.data.count { extra.data[i] = rng.normal() }
            x = Self.stack(x, Self.orthonormalizeRows(extra, against: x))
        }
        var ax = try apply(x)                          // rows: (M x_i)ᵀ
        // Initial Rayleigh–Ritz on X.
        do {
            let g = Self.symmetricProduct(x, ax)
            let e = try SymmetricEigen.all(g)
            x = BLAS.gemm(e.vectors, x)
            ax = BLAS.gemm(e.vectors, ax)
        }
        var theta = (0..<x.rows).map { BLAS.dot(x.row($0), ax.row($0)) }
        var p: Matrix? = nil
        var ap: Matrix? = nil
        var normEstimate = theta.map { abs($0) }.max() ?? 0
        for iter in 1...max(1, options.maxIterations) {
            // Residuals R = AX − diag(θ) X.
            var r = ax
            for i in 0..<x.rows {
                for j in 0..<n { r.data[i * n + j] -= theta[i] * x.data[i * n + j] }
            }
            normEstimate = max(normEstimate, theta.map { abs($0) }.max() ?? 0)
            var worst = 0.0
            var rowNorms = [Double](repeating: 0, count: x.rows)
            for i in 0..<x.rows where i < k || lockConverged { rowNorms[i] = BLAS.nrm2(r.row(i)) }
            for i in 0..<k { worst = max(worst, rowNorms[i]) }
            if normEstimate == 0 || worst <= options.tolerance * normEstimate {
                block = x
                let pk = EigenPairs(values: Array(theta[0..<k]), vectors: x.rows(0..<k))
                return TopKResult(pairs: pk, iterations: iter - 1,
                                  relativeResidual: normEstimate == 0 ? 0 : worst / normEstimate, usedLAPACK: false)
            }
            // Search directions W = orth([R; P]) ⟂ X. Only R is multiplied by M; the images of
            // P and of the orthonormalization are tracked linearly (no extra matrix products).
            if lockConverged {
                // Soft locking: drop the residuals of the wanted pairs already within tolerance.
                let keep = (0..<x.rows).filter { $0 >= k || rowNorms[$0] > options.tolerance * normEstimate }
                if keep.count < x.rows {
                    var kept = Matrix(rows: keep.count, cols: n)
                    for (q, i) in keep.enumerated() { for j in 0..<n { kept.data[q * n + j] = r.data[i * n + j] } }
                    r = kept
                }
            }
            if let precondition { r = precondition(r, theta) }
            let ar = try apply(r)
            let cand = p.map { Self.stack(r, $0) } ?? r
            let acand = ap.map { Self.stack(ar, $0) } ?? ar
            let (w, aw) = Self.orthonormalizeRows(cand, images: acand, against: x, againstImages: ax)
            if w.rows == 0 { break }
            let s = Self.stack(x, w)
            let asMat = Self.stack(ax, aw)
            let g = Self.symmetricProduct(s, asMat)
            let e = try SymmetricEigen.all(g)
            let c = e.vectors.rows(0..<b)              // b × s, rows = coefficient vectors
            x = BLAS.gemm(c, s)
            ax = BLAS.gemm(c, asMat)
            theta = Array(e.values[0..<b])
            // P = the W-part of the new X (implicit difference with the old X).
            var cw = Matrix(rows: b, cols: w.rows)
            for i in 0..<b { for j in 0..<w.rows { cw.data[i * w.rows + j] = c.data[i * s.rows + x.rows + j] } }
            p = BLAS.gemm(cw, w)
            ap = BLAS.gemm(cw, aw)
            if iter % 20 == 0 { // refresh orthonormality against drift
                x = Self.orthonormalizeRows(x, against: nil)
                if x.rows < b { break }
                ax = try apply(x)
                let g2 = Self.symmetricProduct(x, ax)
                let e2 = try SymmetricEigen.all(g2)
                x = BLAS.gemm(e2.vectors, x); ax = BLAS.gemm(e2.vectors, ax)
                theta = e2.values
                p = nil; ap = nil
            }
        }
        // Did not converge: LAPACK.
        return try fallback(options.maxIterations)
    }

    /// max_i ‖M v_i − λ_i v_i‖ / max(|λ|) for the given pairs.
    public static func residual(_ m: Matrix, _ pairs: EigenPairs) -> Double {
        let av = BLAS.gemm(pairs.vectors, m)
        let n = m.rows
        var worst = 0.0
        for i in 0..<pairs.values.count {
            var s = 0.0
            for j in 0..<n { let d = av.data[i * n + j] - pairs.values[i] * pairs.vectors.data[i * n + j]; s += d * d }
            worst = max(worst, s.squareRoot())
        }
        let scale = pairs.values.map { abs($0) }.max() ?? 0
        return scale == 0 ? worst : worst / scale
    }

    /// S·ASᵀ symmetrized (the projected matrix).
    static func symmetricProduct(_ s: Matrix, _ aS: Matrix) -> Matrix {
        var g = BLAS.gemm(s, aS, transB: .transpose)
        let q = g.rows
        for i in 0..<q { for j in (i + 1)..<max(q, i + 1) {
            let v = 0.5 * (g.data[i * q + j] + g.data[j * q + i]); g.data[i * q + j] = v; g.data[j * q + i] = v
        } }
        return g
    }

    static func stack(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.cols == b.cols)
        return Matrix(rows: a.rows + b.rows, cols: a.cols, data: a.data + b.data)
    }

    /// `orthonormalizeRows` applied to `v` while the same linear operations are applied to
    /// `images` (= rows of v times M), so the images of the result come without new products.
    static func orthonormalizeRows(_ v: Matrix, images av: Matrix, against q: Matrix, againstImages aq: Matrix) -> (Matrix, Matrix) {
        let n = v.cols
        var cur = v, acur = av
        if q.rows > 0 {
            for _ in 0..<2 {
                let coef = BLAS.gemm(cur, q, transB: .transpose)
                BLAS.gemm(coef, q, alpha: -1, beta: 1, into: &cur)
                BLAS.gemm(coef, aq, alpha: -1, beta: 1, into: &acur)
            }
        }
        // SVQB (Stathopoulos & Wu 2002), twice: W ← Σ^{-1/2} Uᵀ D⁻¹ W with D⁻¹ G D⁻¹ = U Σ Uᵀ,
        // dropping directions with Σ below 1e-12 of the largest; all BLAS.
        for _ in 0..<2 {
            if cur.rows == 0 { break }
            let g = BLAS.syrk(cur)
            let s = cur.rows
            var dinv = [Double](repeating: 0, count: s)
            for i in 0..<s { let d = g[i, i].squareRoot(); dinv[i] = d > 0 && d.isFinite ? 1 / d : 0 }
            var gs = g
            for i in 0..<s { for j in 0..<s { gs[i, j] *= dinv[i] * dinv[j] } }
            guard let e = try? SymmetricEigen.all(gs) else { return (Matrix(rows: 0, cols: n), Matrix(rows: 0, cols: n)) }
            let top = e.values.first ?? 0
            let keep = e.values.prefix { $0 > 1e-12 * top && $0 > 0 }.count
            var t = Matrix(rows: keep, cols: s)
            for r in 0..<keep {
                let f = 1 / e.values[r].squareRoot()
                for j in 0..<s { t[r, j] = f * e.vectors[r, j] * dinv[j] }
            }
            cur = BLAS.gemm(t, cur)
            acur = BLAS.gemm(t, acur)
        }
        return (cur, acur)
    }

    /// Orthonormalizes the rows of `v` (modified Gram–Schmidt, two passes), first against the
    /// orthonormal rows of `against`; rows that become negligible (relative 1e-10) are dropped.
    static func orthonormalizeRows(_ v: Matrix, against q: Matrix?) -> Matrix {
        let n = v.cols
        var out: [Double] = []
        out.reserveCapacity(v.data.count)
        var kept = 0
        var cur = v
        // Block projection against q (two passes) with BLAS.
        if let q, q.rows > 0 {
            for _ in 0..<2 {
                let coef = BLAS.gemm(cur, q, transB: .transpose)      // rows(v) × rows(q)
                BLAS.gemm(coef, q, alpha: -1, beta: 1, into: &cur)
            }
        }
        for i in 0..<cur.rows {
            var row = cur.row(i)
            let original = BLAS.nrm2(v.row(i))
            if original == 0 { continue }
            for _ in 0..<2 {
                for j in 0..<kept {
                    let base = j * n
                    var d = 0.0
                    for t in 0..<n { d += out[base + t] * row[t] }
                    for t in 0..<n { row[t] -= d * out[base + t] }
                }
            }
            let nr = BLAS.nrm2(row)
            if nr <= 1e-10 * original || !nr.isFinite { continue }
            let inv = 1 / nr
            for t in 0..<n { row[t] *= inv }
            out.append(contentsOf: row)
            kept += 1
        }
        return Matrix(rows: kept, cols: n, data: out)
    }
}
