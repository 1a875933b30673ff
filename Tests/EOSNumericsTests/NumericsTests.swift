import XCTest
@testable import EOSNumerics

/// Random symmetric matrix Q diag(λ) Qᵀ with a prescribed spectrum (Q from Gram–Schmidt of Gaussians).
func symmetric(withSpectrum lam: [Double], seed: UInt64) -> Matrix {
    let n = lam.count
    var rng = SeededRNG(seed: seed)
    var g = Matrix(rows: n, cols: n)
    for i in 0..<g.data.count { g.data[i] = rng.normal() }
    let q = TopKEigensolver.orthonormalizeRows(g, against: nil)
    precondition(q.rows == n)
    var qs = q
    for i in 0..<n { for j in 0..<n { qs.data[i * n + j] *= lam[i] } }
    var m = BLAS.gemm(q, qs, transA: .transpose)   // Σ λ_i q_i q_iᵀ
    for i in 0..<n { for j in 0..<i { let v = 0.5 * (m[i, j] + m[j, i]); m[i, j] = v; m[j, i] = v } }
    return m
}

func randomMatrix(_ r: Int, _ c: Int, _ rng: inout SeededRNG) -> Matrix {
    Matrix(rows: r, cols: c, data: rng.normals(r * c))
}

final class BLASTests: XCTestCase {
    func naive(_ a: Matrix, _ b: Matrix) -> Matrix {
        var c = Matrix(rows: a.rows, cols: b.cols)
        for i in 0..<a.rows { for j in 0..<b.cols { var s = 0.0; for k in 0..<a.cols { s += a[i, k] * b[k, j] }; c[i, j] = s } }
        return c
    }

    func testGemmAllTransposesMatchLoops() {
        var rng = SeededRNG(seed: 1)
        let a = randomMatrix(5, 7, &rng), b = randomMatrix(7, 3, &rng)
        let ref = naive(a, b)
        XCTAssertLessThan(BLAS.gemm(a, b).maxAbsDifference(ref), 1e-13)
        XCTAssertLessThan(BLAS.gemm(a.transposed, b, transA: .transpose).maxAbsDifference(ref), 1e-13)
        XCTAssertLessThan(BLAS.gemm(a, b.transposed, transB: .transpose).maxAbsDifference(ref), 1e-13)
        XCTAssertLessThan(BLAS.gemm(a.transposed, b.transposed, transA: .transpose, transB: .transpose).maxAbsDifference(ref), 1e-13)
        var c = Matrix(rows: 5, cols: 3, repeating: 1)
        BLAS.gemm(a, b, alpha: 2, beta: -1, into: &c)
        for i in 0..<c.data.count { XCTAssertEqual(c.data[i], 2 * ref.data[i] - 1, accuracy: 1e-12) }
    }

    func testGemvSyrkDotAxpyNrm2() {
        var rng = SeededRNG(seed: 2)
        let a = randomMatrix(6, 4, &rng)
        let x = rng.normals(4), y = rng.normals(6)
        let ax = BLAS.gemv(a, x)
        for i in 0..<6 { XCTAssertEqual(ax[i], (0..<4).reduce(0.0) { $0 + a[i, $1] * x[$1] }, accuracy: 1e-13) }
        let aty = BLAS.gemv(a, y, trans: .transpose)
        for j in 0..<4 { XCTAssertEqual(aty[j], (0..<6).reduce(0.0) { $0 + a[$1, j] * y[$1] }, accuracy: 1e-13) }
        XCTAssertLessThan(BLAS.syrk(a).maxAbsDifference(naive(a, a.transposed)), 1e-13)
        XCTAssertLessThan(BLAS.syrk(a, trans: .transpose, alpha: 3).maxAbsDifference(BLAS.gemm(a.transposed, a, alpha: 3)), 1e-12)
        XCTAssertEqual(BLAS.dot(x, x), x.reduce(0) { $0 + $1 * $1 }, accuracy: 1e-13)
        XCTAssertEqual(BLAS.nrm2([3, 4]), 5, accuracy: 1e-15)
        var z = [1.0, 2, 3]
        BLAS.axpy(2, [1, 1, 1], &z)
        XCTAssertEqual(z, [3, 4, 5])
        XCTAssertEqual(BLAS.nrm2([1e200, 1e200]), 1e200 * 2.0.squareRoot(), accuracy: 1e186)
    }
}

final class EigenTests: XCTestCase {
    func testLAPACKTopKAgainstKnownSpectrumAndResidual() throws {
        for seed: UInt64 in 1...4 {
            let lam = (0..<40).map { 10.0 / Double($0 + 1) }
            let m = symmetric(withSpectrum: lam, seed: seed)
            let p = try SymmetricEigen.topK(m, k: 5)
            for i in 0..<5 { XCTAssertEqual(p.values[i], lam[i], accuracy: 1e-12 * lam[0]) }
            XCTAssertLessThan(TopKEigensolver.residual(m, p), 1e-12)
            let all = try SymmetricEigen.allEigenvalues(m)
            for i in 0..<40 { XCTAssertEqual(all[i], lam[i], accuracy: 1e-12 * lam[0]) }
            let full = try SymmetricEigen.all(m)
            XCTAssertLessThan(TopKEigensolver.residual(m, full), 1e-12)
        }
    }

    func testBadInputThrowsTypedErrors() {
        var m = Matrix.identity(4)
        XCTAssertThrowsError(try SymmetricEigen.topK(m, k: 5)) { XCTAssertTrue($0 is NumericsError) }
        XCTAssertThrowsError(try SymmetricEigen.topK(m, k: 0))
        m[1, 1] = .nan
        XCTAssertThrowsError(try SymmetricEigen.allEigenvalues(m)) {
            XCTAssertEqual($0 as? NumericsError, .nonFinite(what: "symmetric eigensolver input"))
        }
        XCTAssertThrowsError(try TopKEigensolver(k: 2).solve(m))
        XCTAssertEqual(NumericsError.lapack(routine: "dsyevr", info: -3).description, "LAPACK dsyevr: argument 3 had an illegal value")
    }

    /// Iterative solver vs LAPACK dsyevr to 1e-8 relative over many seeds and spectra
    /// (including clustered and degenerate ones), cold and warm.
    func testIterativeTopKMatchesLAPACK() throws {
        let n = 150
        for seed: UInt64 in 1...6 {
            var rng = SeededRNG(seed: 100 + seed)
            var lam: [Double]
            switch seed % 3 {
            case 0: lam = (0..<n).map { 5 * exp(-Double($0) / 8) }                    // decaying
            case 1: lam = (0..<n).map { _ in rng.uniform(0, 1) }.sorted(by: >)          // clustered
            default: lam = [4, 4, 3, 2.9999] + (4..<n).map { _ in rng.uniform(-1, 1) } // degenerate + indefinite
            }
            let m = symmetric(withSpectrum: lam, seed: seed)
            let k = 4
            let ref = try SymmetricEigen.topK(m, k: k)
            let solver = TopKEigensolver(k: k)
            let r = try solver.solve(m)
            XCTAssertFalse(r.usedLAPACK, "seed \(seed) fell back")
            for i in 0..<k { XCTAssertEqual(r.pairs.values[i], ref.values[i], accuracy: 1e-8 * abs(ref.values[0])) }
            XCTAssertLessThan(TopKEigensolver.residual(m, r.pairs), 1e-9)
            // Eigenvectors of well-separated eigenvalues agree up to sign.
            if seed % 3 == 0 {
                for i in 0..<k {
                    XCTAssertEqual(abs(BLAS.dot(r.pairs.vectors.row(i), ref.vectors.row(i))), 1, accuracy: 1e-9)
                }
            }
            // Warm start on a slightly perturbed matrix: fewer iterations, same accuracy.
            var m2 = m
            let e = symmetric(withSpectrum: (0..<n).map { _ in rng.uniform(-1e-3, 1e-3) }, seed: seed + 50)
            for i in 0..<m2.data.count { m2.data[i] += e.data[i] }
            let r2 = try solver.solve(m2)
            let ref2 = try SymmetricEigen.topK(m2, k: k)
            for i in 0..<k { XCTAssertEqual(r2.pairs.values[i], ref2.values[i], accuracy: 1e-8 * abs(ref2.values[0])) }
            XCTAssertLessThan(r2.iterations, r.iterations, "warm start should help (seed \(seed))")
        }
    }

    func testFallbackToLAPACKWhenNotConverged() throws {
        let lam = (0..<120).map { 1.0 - Double($0) * 1e-3 }
        let m = symmetric(withSpectrum: lam, seed: 9)
        let s = TopKEigensolver(k: 3, options: TopKOptions(tolerance: 1e-14, maxIterations: 2))
        let r = try s.solve(m)
        XCTAssertTrue(r.usedLAPACK)
        for i in 0..<3 { XCTAssertEqual(r.pairs.values[i], lam[i], accuracy: 1e-12) }
    }

    func testLanczosMatchesDenseLargestEigenvalue() throws {
        for seed: UInt64 in 1...4 {
            var rng = SeededRNG(seed: seed)
            let p = 90
            let a = randomMatrix(p, p, &rng)
            var s = BLAS.gemm(a, a, transB: .transpose, alpha: 0.5)
            for i in 0..<s.data.count { s.data[i] += 0 }
            for i in 0..<p { s[i, i] -= 20 }                    // indefinite
            let dense = try SymmetricEigen.allEigenvalues(s)[0]
            let r = try Lanczos.largest(dimension: p, maxIterations: 90, tolerance: 1e-10, seed: seed) { BLAS.gemv(s, $0) }
            XCTAssertTrue(r.converged)
            XCTAssertEqual(r.value, dense, accuracy: 1e-8 * abs(dense))
            let av = BLAS.gemv(s, r.vector)
            var res = av
            BLAS.axpy(-r.value, r.vector, &res)
            XCTAssertLessThan(BLAS.nrm2(res), 1e-6 * abs(r.value))
        }
    }

    func testLanczosRejectsBadOperator() {
        XCTAssertThrowsError(try Lanczos.largest(dimension: 4) { _ in [1, 2] })
        XCTAssertThrowsError(try Lanczos.largest(dimension: 4) { _ in [.nan, 0, 0, 0] })
    }
}

final class RNGAndSignTests: XCTestCase {
    func testSplitMix64ReferenceValueAndDeterminism() {
        var s = SplitMix64(seed: 0)
        XCTAssertEqual(s.next(), 0xE220_A839_7B1D_CDAF)   // reference output of splitmix64.c, seed 0
        var a = SeededRNG(seed: 7), b = SeededRNG(seed: 7), c = SeededRNG(seed: 8)
        let xa = (0..<10).map { _ in a.next() }
        XCTAssertEqual(xa, (0..<10).map { _ in b.next() })
        XCTAssertNotEqual(xa, (0..<10).map { _ in c.next() })
    }

    func testSamplerMoments() {
        var r = SeededRNG(seed: 3)
        let z = r.normals(200_000)
        let mean = z.reduce(0, +) / Double(z.count)
        let v = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(z.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(v, 1, accuracy: 0.01)
        let u = r.uniforms(100_000, -2, 3)
        XCTAssertTrue(u.allSatisfy { $0 >= -2 && $0 < 3 })
        XCTAssertEqual(u.reduce(0, +) / 1e5, 0.5, accuracy: 0.02)
    }

    func testSignConventions() {
        var v = Matrix([[0.1, -0.9, 0.3], [0.5, 0.2, -0.1]])
        EigenvectorSigns.canonicalize(&v)
        XCTAssertEqual(v.row(0), [-0.1, 0.9, -0.3])
        XCTAssertEqual(v.row(1), [0.5, 0.2, -0.1])
        var next = Matrix([[0.1, -0.8, 0.35], [0.5, 0.25, -0.1]])
        let flips = EigenvectorSigns.align(&next, to: v)
        XCTAssertEqual(flips, 1)
        XCTAssertEqual(next.row(0), [-0.1, 0.8, -0.35])
        XCTAssertEqual(next.row(1), [0.5, 0.25, -0.1])
    }
}
