import XCTest
@testable import EOSNumerics

/// The top-k solver given only a block product V ↦ V·M (matrix-free), against LAPACK dsyevr.
final class MatrixFreeTopKTests: XCTestCase {
    func testOperatorSolveMatchesLAPACKWithAndWithoutLocking() throws {
        let n = 140
        for seed: UInt64 in 1...4 {
            var rng = SeededRNG(seed: 300 + seed)
            let lam: [Double] = seed % 2 == 0 ? (0..<n).map { 5 * exp(-Double($0) / 6) }
                : [3, 2.5, 2.5, 2, 1.9] + (5..<n).map { _ in rng.uniform(-1, 1.5) }
            let m = symmetric(withSpectrum: lam, seed: seed)
            let ref = try SymmetricEigen.topK(m, k: 5)
            var products = [0, 0]
            for (q, lock) in [false, true].enumerated() {
                let s = TopKEigensolver(k: 5)
                let r = try s.solve(dimension: n, lockConverged: lock) { v in products[q] += v.rows; return BLAS.gemm(v, m) }
                XCTAssertFalse(r.usedLAPACK)
                for i in 0..<5 { XCTAssertEqual(r.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0], "seed \(seed) lock \(lock)") }
                XCTAssertLessThan(TopKEigensolver.residual(m, r.pairs), 1e-9)
                XCTAssertLessThanOrEqual(r.relativeResidual, 1e-10)
            }
            XCTAssertLessThanOrEqual(products[1], products[0], "locking must not add products (seed \(seed))")
            // Without locking the operator path is the dense solve, bit for bit.
            let a = try TopKEigensolver(k: 5).solve(m)
            let b = try TopKEigensolver(k: 5).solve(dimension: n, lockConverged: false) { BLAS.gemm($0, m) }
            XCTAssertEqual(a.pairs.values, b.pairs.values); XCTAssertEqual(a.pairs.vectors, b.pairs.vectors)
            XCTAssertEqual(a.iterations, b.iterations)
        }
    }

    func testOperatorSmallFallbackAndErrors() throws {
        // Small n: M is formed through the operator and LAPACK answers.
        let m = symmetric(withSpectrum: (0..<20).map { Double(20 - $0) }, seed: 4)
        let r = try TopKEigensolver(k: 3).solve(dimension: 20) { BLAS.gemm($0, m) }
        XCTAssertTrue(r.usedLAPACK)
        XCTAssertEqual(r.pairs.values[0], 20, accuracy: 1e-12); XCTAssertEqual(r.pairs.values[2], 18, accuracy: 1e-12)
        // Not converged: LAPACK below the fallback limit, one-line error above it.
        let lam = (0..<120).map { 1.0 - Double($0) * 1e-3 }
        let slow = symmetric(withSpectrum: lam, seed: 9)
        let opts = TopKOptions(tolerance: 1e-14, maxIterations: 2)
        let f = try TopKEigensolver(k: 3, options: opts).solve(dimension: 120) { BLAS.gemm($0, slow) }
        XCTAssertTrue(f.usedLAPACK)
        XCTAssertEqual(f.pairs.values[0], lam[0], accuracy: 1e-12)
        XCTAssertThrowsError(try TopKEigensolver(k: 3, options: opts).solve(dimension: 120, fallbackLimit: 100) { BLAS.gemm($0, slow) }) {
            XCTAssertTrue("\($0)".contains("no convergence"), "\($0)")
        }
        XCTAssertThrowsError(try TopKEigensolver(k: 3).solve(dimension: 120) { _ in Matrix(rows: 1, cols: 1) })
        XCTAssertThrowsError(try TopKEigensolver(k: 3).solve(dimension: 120) { v in
            var o = BLAS.gemm(v, slow); o.data[0] = .nan; return o
        })
    }
}
