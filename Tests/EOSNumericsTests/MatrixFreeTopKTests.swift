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

/// Lanczos top-k (no restart, full reorthogonalization) against LAPACK dsyevr.
final class LanczosTopKTests: XCTestCase {
    func testLanczosTopKMatchesLAPACK() throws {
        let n = 120
        for seed: UInt64 in 1...4 {
            var rng = SeededRNG(seed: 700 + seed)
            let lam: [Double] = seed % 2 == 0 ? (0..<n).map { 5 * exp(-Double($0) / 10) }
                : (0..<30).map { 10 - 0.2 * Double($0) } + (30..<n).map { _ in rng.uniform(-1, 3) }   // a cluster, as the c-output M
            let m = symmetric(withSpectrum: lam, seed: seed)
            let ref = try SymmetricEigen.topK(m, k: 8)
            let r = try Lanczos.topK(dimension: n, k: 8, tolerance: 1e-10) { BLAS.gemm($0, m) }
            XCTAssertTrue(r.converged)
            for i in 0..<8 { XCTAssertEqual(r.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0], "seed \(seed)") }
            XCTAssertLessThan(TopKEigensolver.residual(m, r.pairs), 1e-9)
            // Warm start from the sum of the eigenvectors of a nearby matrix: fewer products.
            var m2 = m
            let e = symmetric(withSpectrum: (0..<n).map { _ in rng.uniform(-1e-4, 1e-4) }, seed: seed + 90)
            for i in 0..<m2.data.count { m2.data[i] += e.data[i] }
            var start = [Double](repeating: 0, count: n)
            for i in 0..<8 { BLAS.axpy(1, r.pairs.vectors.row(i), &start) }
            let r2 = try Lanczos.topK(dimension: n, k: 8, tolerance: 1e-10, start: start) { BLAS.gemm($0, m2) }
            let ref2 = try SymmetricEigen.topK(m2, k: 8)
            for i in 0..<8 { XCTAssertEqual(r2.pairs.values[i], ref2.values[i], accuracy: 1e-8 * ref2.values[0]) }
            XCTAssertLessThan(TopKEigensolver.residual(m2, r2.pairs), 1e-9)
            XCTAssertLessThan(r2.iterations, r.iterations, "seed \(seed)")
        }
        XCTAssertThrowsError(try Lanczos.topK(dimension: 5, k: 6) { $0 })
        // A start vector that is an exact eigenvector (invariant subspace of dimension 1 < k):
        // the iteration continues from a random orthogonal vector and still finds the top 3.
        var d = Matrix(rows: 6, cols: 6)   // diag(6, …, 1)
        for i in 0..<6 { d[i, i] = Double(6 - i) }
        var e1 = [Double](repeating: 0, count: 6); e1[2] = 1
        let r3 = try Lanczos.topK(dimension: 6, k: 3, tolerance: 1e-12, start: e1) { BLAS.gemm($0, d) }
        XCTAssertEqual(r3.pairs.values[0], 6, accuracy: 1e-12); XCTAssertEqual(r3.pairs.values[2], 4, accuracy: 1e-12)
    }
}

/// Block Lanczos top-k (Rayleigh–Ritz on a block Krylov basis) against LAPACK dsyevr.
final class BlockLanczosTopKTests: XCTestCase {
    func testBlockLanczosMatchesLAPACKForEveryBlockSize() throws {
        let n = 120
        for seed: UInt64 in 1...2 {
            var rng = SeededRNG(seed: 900 + seed)
            let lam: [Double] = seed % 2 == 0 ? (0..<n).map { 5 * exp(-Double($0) / 10) }
                : (0..<30).map { 10 - 0.2 * Double($0) } + (30..<n).map { _ in rng.uniform(-1, 3) }   // a cluster, as the c-output M
            let m = symmetric(withSpectrum: lam, seed: seed + 40)
            let ref = try SymmetricEigen.topK(m, k: 8)
            var m2 = m
            let e = symmetric(withSpectrum: (0..<n).map { _ in rng.uniform(-1e-4, 1e-4) }, seed: seed + 90)
            for i in 0..<m2.data.count { m2.data[i] += e.data[i] }
            let ref2 = try SymmetricEigen.topK(m2, k: 8)
            for b in [1, 2, 4, 8] {
                var calls = 0
                let r = try Lanczos.blockTopK(dimension: n, k: 8, blockSize: b, tolerance: 1e-10) { v in
                    XCTAssertLessThanOrEqual(v.rows, b); calls += 1; return BLAS.gemm(v, m)
                }
                XCTAssertTrue(r.converged, "seed \(seed) b \(b)")
                XCTAssertLessThanOrEqual(r.relativeResidual, 1e-10)
                for i in 0..<8 { XCTAssertEqual(r.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0], "seed \(seed) b \(b)") }
                XCTAssertLessThan(TopKEigensolver.residual(m, r.pairs), 1e-9)
                XCTAssertEqual(calls, (r.iterations + b - 1) / b)
                // Warm start from the eigenvectors of the nearby matrix: fewer products, same answer.
                let r2 = try Lanczos.blockTopK(dimension: n, k: 8, blockSize: b, tolerance: 1e-10, start: r.pairs.vectors) { BLAS.gemm($0, m2) }
                XCTAssertTrue(r2.converged)
                for i in 0..<8 { XCTAssertEqual(r2.pairs.values[i], ref2.values[i], accuracy: 1e-8 * ref2.values[0], "seed \(seed) b \(b)") }
                XCTAssertLessThan(TopKEigensolver.residual(m2, r2.pairs), 1e-9)
                XCTAssertLessThan(r2.iterations, r.iterations, "seed \(seed) b \(b)")
            }
            // keep: the Ritz vectors after the k wanted ones, orthonormal and orthogonal to them.
            let r4 = try Lanczos.blockTopK(dimension: n, k: 8, blockSize: 4, tolerance: 1e-10, keep: 12) { BLAS.gemm($0, m) }
            let more = try XCTUnwrap(r4.moreVectors)
            XCTAssertEqual(more.rows, 4)
            let all = Matrix(rows: 12, cols: n, data: r4.pairs.vectors.data + more.data)
            let gram = BLAS.gemm(all, all, transB: .transpose)
            for i in 0..<12 { for j in 0..<12 { XCTAssertEqual(gram[i, j], i == j ? 1 : 0, accuracy: 1e-10) } }
        }
        XCTAssertThrowsError(try Lanczos.blockTopK(dimension: 5, k: 6, blockSize: 2) { $0 })
        XCTAssertThrowsError(try Lanczos.blockTopK(dimension: 5, k: 2, blockSize: 0) { $0 })
        // A start block holding exact eigenvectors (an invariant subspace): the dependent images
        // are replaced by random vectors and the top 3 are still found.
        var d = Matrix(rows: 6, cols: 6)
        for i in 0..<6 { d[i, i] = Double(6 - i) }
        var s = Matrix(rows: 2, cols: 6); s[0, 2] = 1; s[1, 4] = 1
        let r3 = try Lanczos.blockTopK(dimension: 6, k: 3, blockSize: 2, tolerance: 1e-12, start: s) { BLAS.gemm($0, d) }
        XCTAssertEqual(r3.pairs.values[0], 6, accuracy: 1e-12); XCTAssertEqual(r3.pairs.values[2], 4, accuracy: 1e-12)
        XCTAssertThrowsError(try Lanczos.blockTopK(dimension: 50, k: 2, blockSize: 2) { v in var o = v; o.data[0] = .nan; return o })
    }
}
