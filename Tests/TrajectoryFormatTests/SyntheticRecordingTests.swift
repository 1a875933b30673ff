import XCTest
@testable import TrajectoryFormat

/// The synthetic data must be what it claims, checked independently of how it was built:
/// M v_i = λ_i v_i with the Gram matrix as an explicit product, orthonormality, and the docs/FORMAT.md
/// sign rule.
final class SyntheticRecordingTests: XCTestCase {
    func testEigenpairsOfTheGramMatrix() {
        for seed in [1, 2, 3] as [UInt64] {
            let syn = SyntheticRecording(n: 33, k: 5, d: 2, p: 0, seed: seed)
            for step in [0, 17, 400] as [Int64] {
                let n = syn.n
                let m = syn.gram(step: step)
                let lam = syn.eigenvalues(step: step)
                let v = syn.eigenvectors(step: step)
                XCTAssertEqual(syn.row(step: step).sharpness, lam[0])
                for i in 0..<syn.k {
                    for r in 0..<n {
                        var mv = 0.0
                        for c in 0..<n { mv += m[r * n + c] * v[i * n + c] }
                        XCTAssertEqual(mv, lam[i] * v[i * n + r], accuracy: 1e-12 * lam[0])
                    }
                    for j in 0..<syn.k {
                        let dot = (0..<n).reduce(0.0) { $0 + v[i * n + $1] * v[j * n + $1] }
                        XCTAssertEqual(dot, i == j ? 1 : 0, accuracy: 1e-14)
                    }
                }
                // Trace of M = sum of all eigenvalues.
                let trace = (0..<n).reduce(0.0) { $0 + m[$1 * n + $1] }
                XCTAssertEqual(trace, lam.reduce(0, +), accuracy: 1e-12 * trace)
                XCTAssertEqual(zip(lam, lam.dropFirst()).allSatisfy { $0 > $1 }, true)
            }
        }
    }

    func testEigenvectorSignConvention() {
        let syn = SyntheticRecording(n: 32, k: 4, d: 2, p: 0, seed: 9)
        var prev = syn.eigenvectors(step: 0)
        for i in 0..<4 {
            let v = Array(prev[(i * 32)..<((i + 1) * 32)])
            let big = v.indices.max { abs(v[$0]) < abs(v[$1]) }!
            XCTAssertGreaterThan(v[big], 0)
        }
        for t in 1..<2000 {
            let cur = syn.eigenvectors(step: Int64(t))
            for i in 0..<4 {
                let dot = (0..<32).reduce(0.0) { $0 + prev[i * 32 + $1] * cur[i * 32 + $1] }
                XCTAssertGreaterThan(dot, 0, "step \(t) vector \(i)")
            }
            prev = cur
        }
    }

    func testRowIsSelfConsistent() {
        let syn = SyntheticRecording(n: 40, k: 2, d: 2, p: 3, seed: 4)
        let row = syn.row(step: 123)
        let mean = row.residual.reduce(0) { $0 + $1 * $1 } / 40
        XCTAssertEqual(row.loss, mean, accuracy: 1e-15 * mean)
        let F = row.outputs!
        XCTAssertEqual(zip(F, syn.Y).map { $0 - $1 }, row.residual.indices.map { F[$0] - syn.Y[$0] })
        let dtf = zip(row.residual, F).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertEqual(row.dtf, dtf, accuracy: 1e-12 * abs(dtf))
    }
}
