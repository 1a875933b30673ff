import XCTest
@testable import EOSNumerics

/// The top-k solver's state as `record` stores it at an interrupt (issue 11): its block and its
/// generator, restored into a fresh solver, give the next solve bit for bit.
final class WarmStartStateTests: XCTestCase {
    func testGeneratorContinuesFromItsWords() throws {
        var a = SeededRNG(seed: 77)
        _ = a.normals(5)                      // odd: a second normal is cached
        var b = try XCTUnwrap(SeededRNG(stateWords: a.stateWords))
        XCTAssertEqual(a.stateWords[4], 1)
        for _ in 0..<9 { XCTAssertEqual(a.normal().bitPattern, b.normal().bitPattern) }
        for _ in 0..<4 { XCTAssertEqual(a.next(), b.next()) }
        XCTAssertNil(SeededRNG(stateWords: [0, 0, 0, 0, 0, 0]), "xoshiro's all-zero state")
        XCTAssertNil(SeededRNG(stateWords: [1, 2, 3, 4, 2, 0]), "flag not 0/1")
        XCTAssertNil(SeededRNG(stateWords: [1, 2, 3]))
    }

    /// n = 120 > max(64, 3b): the iterative path. Solver A solves M1 then M2; B gets A's state
    /// after M1 and solves M2: the same bits. Both agree with LAPACK (independent answer).
    func testRestoredSolverSolvesBitIdentically() throws {
        let n = 120, k = 6
        let lam1 = (0..<n).map { 10.0 * pow(0.93, Double($0)) }
        let lam2 = lam1.enumerated().map { $1 * (1 + 0.01 * sin(Double($0))) }
        let m1 = symmetric(withSpectrum: lam1, seed: 5)
        var m2 = symmetric(withSpectrum: lam2, seed: 5)
        for i in 0..<m2.data.count { m2.data[i] = 0.7 * m2.data[i] + 0.3 * m1.data[i] }
        for i in 0..<n { for j in 0..<i { let v = 0.5 * (m2[i, j] + m2[j, i]); m2[i, j] = v; m2[j, i] = v } }
        let a = TopKEigensolver(k: k)
        let first = try a.solve(m1)
        XCTAssertFalse(first.usedLAPACK)
        // As the trainer does at a checkpoint: the k vectors and a seed (guard rows drawn next).
        a.setWarmStart(first.pairs.vectors, seed: 11)
        _ = try a.solve(m1)
        let block = try XCTUnwrap(a.block), words = a.rngState
        XCTAssertEqual(block.rows, k + 3)
        let b = TopKEigensolver(k: k)
        XCTAssertTrue(b.restore(block: block, rngState: words))
        let ra = try a.solve(m2), rb = try b.solve(m2)
        XCTAssertEqual(ra.iterations, rb.iterations)
        XCTAssertEqual(ra.pairs.values.map(\.bitPattern), rb.pairs.values.map(\.bitPattern))
        XCTAssertEqual(ra.pairs.vectors.data.map(\.bitPattern), rb.pairs.vectors.data.map(\.bitPattern))
        let ref = try SymmetricEigen.topK(m2, k: k)
        for i in 0..<k { XCTAssertEqual(rb.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0]) }
        XCTAssertFalse(b.restore(block: block, rngState: [1]), "not a generator state")
    }
}
