import EOSNumerics
import Foundation

/// Normal samplers on `EOSNumerics.SplitMix64` for test data. Two Box–Muller forms are kept
/// because the tests' expected values were recorded with each: `normal()` (EOSReportTests) and
/// `gaussian()` (EOSAnalysisTests) consume the stream differently.
extension SplitMix64 {
    /// Standard normal (Box–Muller on two `uniform()` draws, the first floored at 1e-300; the
    /// sine half is discarded).
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Standard normal (Box–Muller on the standard library's `Double.random(in:using:)` draws:
    /// u1 in [ulp(1), 1), u2 in [0, 1); the sine half is discarded).
    public mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Random orthonormal n×n matrix (rows are the basis vectors) by modified Gram–Schmidt on
/// `gaussian()` vectors.
public func randomOrthonormal(_ n: Int, _ rng: inout SplitMix64) -> [[Double]] {
    var q: [[Double]] = []
    while q.count < n {
        var v = (0..<n).map { _ in rng.gaussian() }
        for b in q {
            let p = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }
            for j in 0..<n { v[j] -= p * b[j] }
        }
        let nv = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if nv > 1e-8 { q.append(v.map { $0 / nv }) }
    }
    return q
}

/// M = Σ λ_i q_i q_iᵀ, n×n row-major (q: orthonormal rows, e.g. from `randomOrthonormal`).
public func symmetric(_ q: [[Double]], _ lambdas: [Double]) -> [Double] {
    let n = q.count
    var m = [Double](repeating: 0, count: n * n)
    for (i, lam) in lambdas.enumerated() {
        for a in 0..<n { for b in 0..<n { m[a * n + b] += lam * q[i][a] * q[i][b] } }
    }
    return m
}

/// m v for an n×n row-major m, naive order (reference for the library's BLAS products).
public func matvec(_ m: [Double], _ v: [Double]) -> [Double] {
    let n = v.count
    return (0..<n).map { i in (0..<n).reduce(0) { $0 + m[i * n + $1] * v[$1] } }
}
