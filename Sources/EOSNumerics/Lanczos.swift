/// Result of `Lanczos.largest`.
public struct LanczosResult: Sendable {
    /// The largest (algebraically) Ritz value.
    public var value: Double
    /// Its unit Ritz vector.
    public var vector: [Double]
    /// Lanczos steps taken (= operator applications).
    public var iterations: Int
    /// Residual bound |β_j s_j| / |value| of the returned pair (exact residual norm of the Ritz pair
    /// in exact arithmetic).
    public var relativeResidual: Double
    /// Whether `relativeResidual ≤ tolerance` (or an invariant subspace was found).
    public var converged: Bool
}

/// Lanczos iteration for the largest eigenvalue of a symmetric linear operator given as a closure.
public enum Lanczos {
    /// Runs Lanczos with full reorthogonalization (two Gram–Schmidt passes against every previous
    /// Lanczos vector) on the operator `apply` of dimension `dimension`, until the largest Ritz
    /// pair satisfies ‖A v − θ v‖ ≤ `tolerance`·|θ| or `maxIterations` operator applications.
    /// Memory O(dimension · iterations).
    /// - Parameter start: start vector (random from `seed` when nil).
    public static func largest(dimension p: Int, maxIterations: Int = 100, tolerance: Double = 1e-8,
                               seed: UInt64 = 1, start: [Double]? = nil,
                               apply: ([Double]) throws -> [Double]) throws -> LanczosResult {
        guard p >= 1 else { throw NumericsError.invalidArgument("Lanczos: dimension must be ≥ 1") }
        var q: [Double]
        if let start, start.count == p, BLAS.nrm2(start) > 0 { q = start } else {
            var rng = SeededRNG(seed: seed)
            q = rng.normals(p)
        }
        BLAS.scale(&q, 1 / BLAS.nrm2(q))
        var basis: [[Double]] = [q]
        var alphas: [Double] = []
        var betas: [Double] = []
        let limit = min(maxIterations, p)
        var result = LanczosResult(value: 0, vector: q, iterations: 0, relativeResidual: .infinity, converged: false)
        for j in 0..<limit {
            var w = try apply(basis[j])
            guard w.count == p else { throw NumericsError.invalidArgument("Lanczos: operator returned \(w.count) entries, expected \(p)") }
            guard w.allSatisfy({ $0.isFinite }) else { throw NumericsError.nonFinite(what: "Lanczos operator output") }
            let a = BLAS.dot(basis[j], w)
            alphas.append(a)
            for _ in 0..<2 {
                for v in basis { BLAS.axpy(-BLAS.dot(v, w), v, &w) }
            }
            let beta = BLAS.nrm2(w)
            let t = try SymmetricEigen.tridiagonal(diagonal: alphas, offDiagonal: betas)
            let theta = t.values[0]
            let lastComponent = t.vectors[0, j]
            let res = abs(beta * lastComponent)
            let rel = theta == 0 ? res : res / abs(theta)
            let invariant = beta <= 1e-14 * max(abs(theta), 1e-300)
            if rel <= tolerance || invariant || j == limit - 1 {
                var v = [Double](repeating: 0, count: p)
                for (i, b) in basis.enumerated() { BLAS.axpy(t.vectors[0, i], b, &v) }
                let nv = BLAS.nrm2(v)
                if nv > 0 { BLAS.scale(&v, 1 / nv) }
                result = LanczosResult(value: theta, vector: v, iterations: j + 1, relativeResidual: invariant ? 0 : rel,
                                       converged: rel <= tolerance || invariant)
                break
            }
            betas.append(beta)
            BLAS.scale(&w, 1 / beta)
            basis.append(w)
        }
        return result
    }
}
