import Foundation
@testable import EOSAnalysis

/// Seeded SplitMix64 (Steele, Lea, Flood 2014) for reproducible test data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Random orthonormal n×n matrix (rows are the basis vectors) by modified Gram–Schmidt.
func randomOrthonormal(_ n: Int, _ rng: inout SplitMix64) -> [[Double]] {
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

/// M = Σ λ_i q_i q_iᵀ, n×n row-major.
func symmetric(_ q: [[Double]], _ lambdas: [Double]) -> [Double] {
    let n = q.count
    var m = [Double](repeating: 0, count: n * n)
    for (i, lam) in lambdas.enumerated() {
        for a in 0..<n { for b in 0..<n { m[a * n + b] += lam * q[i][a] * q[i][b] } }
    }
    return m
}

func matvec(_ m: [Double], _ v: [Double]) -> [Double] {
    let n = v.count
    return (0..<n).map { i in (0..<n).reduce(0) { $0 + m[i * n + $1] * v[$1] } }
}

/// A minimal input with n = 2, k = 2 (eigenvectors e1, e2, eigenvalues Λ and Λ/10) for tests
/// that exercise the scalar series only.
func scalarInput(steps: [Int64]? = nil, eta: Double = 1, sharpness: [Double], loss: [Double]? = nil,
                 dtf: [Double]? = nil, outputNormSq: [Double]? = nil) -> AnalysisInput {
    let t = sharpness.count
    let n = 2, k = 2
    var residual: [Double] = [], ev: [Double] = [], vec: [Double] = []
    for i in 0..<t {
        residual += [1 + 0.01 * Double(i), 0.5]
        ev += [sharpness[i], sharpness[i] / 10]
        vec += [1, 0, 0, 1]
    }
    let l = loss ?? residual.indices.filter { $0 % 2 == 0 }.map { (residual[$0] * residual[$0] + 0.25) / 2 }
    return AnalysisInput(steps: steps ?? (0..<t).map { Int64($0) }, learningRate: eta, n: n, k: k, loss: l,
                         residual: residual, outputNormSq: outputNormSq ?? [Double](repeating: 1, count: t),
                         sharpness: sharpness, eigenvalues: ev, eigenvectors: vec,
                         dtf: dtf ?? [Double](repeating: -1, count: t))
}
