import Foundation
@testable import EOSAnalysis
// Shared test helpers (SplitMix64 with `gaussian()`, randomOrthonormal, symmetric, matvec), visible
// in every file of this target.
@_exported import EOSTestSupport
@_exported import struct EOSNumerics.SplitMix64

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
