import XCTest
@testable import EOSRecorder
import EOSNumerics
import TrajectoryFormat

/// The M-products of format 1.1 against an independent computation: plain loops (no BLAS) over
/// the same M, D and v1, the restart rule applied by hand; the eigenvalues above a threshold
/// against LAPACK `dsyevd` (all eigenvalues).
final class RecorderProductsTests: XCTestCase {
    /// A random symmetric positive semi-definite n × n matrix B Bᵀ / n, scaled so that λ_max ≈ `top`.
    func randomGram(n: Int, seed: UInt64, top: Double) -> Matrix {
        var rng = SeededRNG(seed: seed)
        var b = Matrix(rows: n, cols: n)
        for i in 0..<b.data.count { b.data[i] = rng.normal() }
        var m = BLAS.gemm(b, b, transB: .transpose, alpha: 1 / Double(n))
        let lmax = (try? SymmetricEigen.topK(m, k: 1).values[0]) ?? 1
        for i in 0..<m.data.count { m.data[i] *= top / lmax }
        return m
    }

    func naiveApply(_ m: Matrix, _ x: [Double]) -> [Double] {
        (0..<m.rows).map { i in (0..<m.cols).reduce(0.0) { $0 + m.data[i * m.cols + $1] * x[$1] } }
    }

    func naiveProject(_ x: [Double], _ v: [Double]) -> [Double] {
        let d = zip(v, x).reduce(0.0) { $0 + $1.0 * $1.1 }
        return zip(x, v).map { $0 - d * $1 }
    }

    func testChainsMatchNaiveRecursionWithCausalRestarts() throws {
        let n = 12, eta = 0.5   // 2/η = 4
        // Λ by step: below, above (restart at 2), above, below, above (restart at 5), above.
        let tops = [3.0, 3.5, 4.5, 5.0, 3.9, 4.2, 4.8]
        var rng = SeededRNG(seed: 7)
        var chains = ProductChains(learningRate: eta)
        var refStart: [Double]?, refP: [Double]?
        var prevLambda: Double?
        var restarts: [Int] = []
        for (t, top) in tops.enumerated() {
            let m = randomGram(n: n, seed: UInt64(100 + t), top: top)
            let top1 = try SymmetricEigen.topK(m, k: 1)
            let lambda = top1.values[0], v1 = top1.vectors.row(0)
            let d = (0..<n).map { _ in rng.normal() }
            let got = chains.step(residual: d, v1: v1, sharpness: lambda, gram: m)
            // Independent reference.
            let r = naiveProject(d, v1)
            if refStart == nil { refStart = r; refP = r }
            if lambda > 2 / eta && (prevLambda.map { $0 <= 2 / eta } ?? true) { refP = r; restarts.append(t) }
            let md = naiveApply(m, d)
            for i in 0..<n {
                XCTAssertEqual(got.gramResidual[i], md[i], accuracy: 1e-12, "M D, step \(t)")
                XCTAssertEqual(got.rPrimeFromStart[i], refStart![i], accuracy: 1e-12, "R' from start, step \(t)")
                XCTAssertEqual(got.rPrime[i], refP![i], accuracy: 1e-12, "R', step \(t)")
            }
            if restarts.isEmpty { XCTAssertEqual(got.rPrime, got.rPrimeFromStart, "bitwise equal before the first restart") }
            refStart = zip(refStart!, naiveApply(m, naiveProject(refStart!, v1))).map { $0 - eta * $1 }
            refP = zip(refP!, naiveApply(m, naiveProject(refP!, v1))).map { $0 - eta * $1 }
            prevLambda = lambda
        }
        XCTAssertEqual(restarts, [2, 5])
    }

    func testResumingReproducesTheNextStateBitForBit() throws {
        let n = 10, eta = 0.5
        var rng = SeededRNG(seed: 11)
        var full = ProductChains(learningRate: eta)
        var rows: [StepProducts] = [], inputs: [(Matrix, [Double], [Double], Double)] = []
        for (t, top) in [3.0, 4.5, 4.6, 3.0, 5.0, 5.1].enumerated() {
            let m = randomGram(n: n, seed: UInt64(t + 1), top: top)
            let e = try SymmetricEigen.topK(m, k: 1)
            let d = (0..<n).map { _ in rng.normal() }
            inputs.append((m, d, e.vectors.row(0), e.values[0]))
            rows.append(full.step(residual: d, v1: e.vectors.row(0), sharpness: e.values[0], gram: m))
        }
        // Resume at every step c from its recorded row and Λ(c−1); the following rows must be the same bits.
        for c in 0..<(rows.count - 1) {
            var ch = ProductChains.resuming(learningRate: eta, rPrime: rows[c].rPrime, fromStart: rows[c].rPrimeFromStart,
                                            previousSharpness: c == 0 ? nil : inputs[c - 1].3)
            _ = ch.step(residual: inputs[c].1, v1: inputs[c].2, sharpness: inputs[c].3, gram: inputs[c].0)
            for t in (c + 1)..<rows.count {
                let got = ch.step(residual: inputs[t].1, v1: inputs[t].2, sharpness: inputs[t].3, gram: inputs[t].0)
                XCTAssertEqual(got, rows[t], "resumed at \(c), step \(t)")
            }
        }
    }

    func testEigenvaluesAboveThresholdEqualDenseSolver() throws {
        let m = randomGram(n: 40, seed: 5, top: 10)
        let all = try SymmetricEigen.allEigenvalues(m)   // LAPACK dsyevd, descending
        for x in [-1.0, 0.5, 2.0, 7.5, 10.5] {
            let want = all.filter { $0 > x }
            let got = try SymmetricEigen.eigenvalues(m, above: x)
            XCTAssertEqual(got.count, want.count, "threshold \(x)")
            for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-12 * all[0]) }
        }
        XCTAssertThrowsError(try SymmetricEigen.eigenvalues(m, above: .nan))
    }

    func testUserRecorderWritesProductsAndCost() throws {
        let dir = NSTemporaryDirectory() + "eosproducts-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 70, eta = 0.4
        var rng = SeededRNG(seed: 3)
        let x = Matrix(rows: n, cols: 2, data: (0..<(2 * n)).map { _ in rng.normal() })
        let y = (0..<n).map { _ in rng.normal() }
        let path = dir + "/user.h5"
        let rec = try Recorder(path: path, X: x, Y: y, learningRate: eta, k: 2)
        var expected: [[Double]] = []
        for t in 0..<5 {
            let m = randomGram(n: n, seed: UInt64(t + 20), top: 4 + Double(t))
            let d = (0..<n).map { _ in rng.normal() }
            try rec.record(step: t, residual: d, outputNormSquared: 1, gram: m)
            expected.append(naiveApply(m, d))
        }
        // Eigenpairs given without M cannot make products.
        XCTAssertThrowsError(try rec.record(step: 9, residual: y, outputNormSquared: 1, eigenvalues: [1, 0.5],
                                            eigenvectors: Matrix(rows: 2, cols: n)))
        try rec.finish()
        let problems = try Validator().validate(path: path)
        XCTAssertTrue(problems.isEmpty, "\(problems)")
        let r = try TrajectoryReader(path: path)
        defer { r.close() }
        let md = try r.read("gram_residual")
        XCTAssertEqual(md.count, 5 * n)
        for t in 0..<5 { for i in 0..<n { XCTAssertEqual(md[t * n + i], expected[t][i], accuracy: 1e-12) } }
        let mv = try r.read("eigensolver_matvecs"), sec = try r.read("step_seconds")
        XCTAssertEqual(mv.count, 5)
        XCTAssertTrue(mv.allSatisfy { $0 > 0 }, "n = 70 > 64: the iterative solver multiplies blocks: \(mv)")
        XCTAssertTrue(sec.allSatisfy { $0 >= 0 && $0.isFinite })
        XCTAssertEqual(r.metadata.lossConvention, .meanSquaredError)
    }

    func testMatrixFreeRecorderMatchesTheDenseOne() throws {
        let n = 20, eta = 0.5
        var rng = SeededRNG(seed: 13)
        let y = (0..<n).map { _ in rng.normal() }
        let dense = MemorySink(), free = MemorySink()
        let a = try Recorder(sink: dense, Y: y, k: 2, learningRate: eta)
        let b = try Recorder(sink: free, Y: y, k: 2, learningRate: eta)
        for t in 0..<6 {
            let m = randomGram(n: n, seed: UInt64(40 + t), top: 3 + Double(t % 3))   // crosses 2/η = 4
            let d = (0..<n).map { _ in rng.normal() }
            try a.record(step: t, residual: d, outputNormSquared: 1, gram: m)
            let e = try SymmetricEigen.topK(m, k: 2)
            // The operator: plain loops over M (no BLAS), one vector per row of the block.
            try b.record(step: t, residual: d, outputNormSquared: 1, eigenvalues: e.values, eigenvectors: e.vectors,
                         applyGram: { v in
                             Matrix(rows: v.rows, cols: n, data: (0..<v.rows).flatMap { self.naiveApply(m, v.row($0)) })
                         })
        }
        XCTAssertThrowsError(try b.record(step: 9, residual: y, outputNormSquared: 1, eigenvalues: [2, 1],
                                          eigenvectors: Matrix(rows: 2, cols: n, data: (0..<(2 * n)).map { $0 == 0 || $0 == n + 1 ? 1 : 0 }),
                                          applyGram: { _ in Matrix(rows: 1, cols: n) }))
        XCTAssertEqual(dense.records.count, 6)
        XCTAssertEqual(free.records.count, 6)
        for (p, q) in zip(dense.records, free.records) {
            let pp = try XCTUnwrap(p.products), qq = try XCTUnwrap(q.products)
            for (x, z) in [(pp.gramResidual, qq.gramResidual), (pp.rPrime, qq.rPrime), (pp.rPrimeFromStart, qq.rPrimeFromStart)] {
                XCTAssertEqual(zip(x, z).map { abs($0 - $1) }.max() ?? 1, 0, accuracy: 1e-10)
            }
            XCTAssertEqual(q.cost?.matvecs, -1)
        }
    }
}
