import XCTest
@testable import EOSAnalysis

/// A linear model f = θᵀx has a constant Gram M = (2/n) X Xᵀ and GD moves the residual exactly by
/// D(t+1) = (I − ηM) D(t). With v1 an eigenvector of the constant M, P = I − v1v1ᵀ commutes with M,
/// so R′ = R exactly and every first-order error is round-off.
final class LinearModelTests: XCTestCase {
    struct Trajectory {
        var input: AnalysisInput
        var m: [Double]
    }

    /// Runs GD on θ for f = θᵀx (X n×d) and records every quantity the analyzer reads.
    func linearRun(n: Int = 12, d: Int = 30, steps: Int = 40, seed: UInt64, etaFactor: Double = 1.6) -> Trajectory {
        var rng = SplitMix64(seed: seed)
        // X = Q diag(s) Bᵀ with orthonormal Q (n×n): M = (2/n) X Xᵀ = Q diag(2 s²/n) Qᵀ, known eigenpairs.
        let q = randomOrthonormal(n, &rng)
        let s = (0..<n).map { i in 3.0 / Double(i + 1) + 0.1 }
        let lambdas = s.map { 2 * $0 * $0 / Double(n) }
        let bRows = randomOrthonormal(d, &rng).prefix(n)
        var x = [Double](repeating: 0, count: n * d)   // n×d row-major
        for a in 0..<n { for c in 0..<d { for i in 0..<n { x[a * d + c] += q[i][a] * s[i] * bRows[bRows.startIndex + i][c] } } }
        let m = symmetric(q, lambdas)
        let eta = etaFactor / lambdas[0]                     // ηΛ = 1.6 (< 2) or more
        let y = (0..<n).map { _ in rng.gaussian() }
        var theta = (0..<d).map { _ in 0.1 * rng.gaussian() }
        var input = AnalysisInput(steps: [], learningRate: eta, n: n, k: 3, loss: [], residual: [], outputs: [],
                                  targets: y, outputNormSq: [], sharpness: [], eigenvalues: [], eigenvectors: [], dtf: [],
                                  modelKind: "linear")
        // Sign convention: v_i(0) has its largest-magnitude entry positive (constant afterwards).
        let vecs = q.prefix(3).map { v -> [Double] in
            let big = v.max { abs($0) < abs($1) }!
            return big < 0 ? v.map { -$0 } : v
        }
        for t in 0..<steps {
            let f = (0..<n).map { a in (0..<d).reduce(0) { $0 + x[a * d + $1] * theta[$1] } }
            let dres = zip(f, y).map { $0 - $1 }
            input.steps.append(Int64(t))
            input.outputs!.append(contentsOf: f)
            input.residual.append(contentsOf: dres)
            input.loss.append(dres.reduce(0) { $0 + $1 * $1 } / Double(n))
            input.outputNormSq.append(theta.reduce(0) { $0 + $1 * $1 })
            input.sharpness.append(lambdas[0])
            input.eigenvalues.append(contentsOf: lambdas.prefix(3))
            for v in vecs { input.eigenvectors.append(contentsOf: v) }
            input.dtf.append(zip(dres, f).reduce(0) { $0 + $1.0 * $1.1 })
            // θ ← θ − η (2/n) Xᵀ D
            for c in 0..<d {
                var g = 0.0
                for a in 0..<n { g += x[a * d + c] * dres[a] }
                theta[c] -= eta * 2 / Double(n) * g
            }
        }
        return Trajectory(input: input, m: m)
    }

    func testRPrimeEqualsRAndFirstOrderIsExact() throws {
        for seed in [1, 2, 3] as [UInt64] {
            let tr = linearRun(seed: seed)
            let m = tr.m
            let provider = ClosureGramProvider(source: .exact, label: "closed form (2/n) X Xᵀ", n: tr.input.n,
                                               dense: { _ in m }, exactUpdate: { _ in m })
            let r = try Analyzer.analyze(tr.input, gram: provider)
            XCTAssertFalse(r.gram.approximate)
            XCTAssertEqual(r.gram.rowsFromSource, 39)
            XCTAssertEqual(r.gram.rowsTopKFallback, 0)
            XCTAssertLessThan(r.rPrime.fromStart.relError.all.max, 1e-11, "seed \(seed)")
            XCTAssertLessThan(r.rPrime.primary.relError.all.max, 1e-11)
            XCTAssertLessThan(r.checks.firstOrderResidual.all.max, 1e-10)
            XCTAssertLessThan(r.checks.exactUpdate!.relativeToResidual.max, 1e-12)
            XCTAssertEqual(r.checks.firstOrderResidual.all.count, 39)
            // Monotone decrease of both L and ‖R‖² when ηλ_i < 2 for all i.
            XCTAssertEqual(r.decomposition.lossDecreases.all.rate, 1)
            XCTAssertEqual(r.decomposition.rNormSqDecreases.all.rate, 1)
            // v1 never moves.
            XCTAssertLessThan(r.checks.eps2.all.max, 1e-15)
            // λ2/λ1 = (s2/s1)² ≈ 0.29, ηλ2 ≈ 0.46 < 1: 3.7 holds everywhere.
            XCTAssertEqual(r.checks.assumption37!.all.rate, 1)
        }
    }

    func testLemma32RatioIsExactAboveThreshold() throws {
        // ηΛ = 2.3 > 2: the whole run is one run above 2/η; c1(t+1) = (1 − ηΛ) c1(t) exactly.
        let tr = linearRun(steps: 15, seed: 11, etaFactor: 2.3)
        let m = tr.m
        let r = try Analyzer.analyze(tr.input, gram: ClosureGramProvider(source: .exact, label: "closed form", n: tr.input.n, dense: { _ in m }))
        XCTAssertEqual(r.phases.cycleCount, 1)
        XCTAssertEqual(r.lemma32Pairs, 14)
        XCTAssertEqual(r.checks.lemma32.predictedRatio.median, 1.3, accuracy: 1e-12)
        XCTAssertLessThan(abs(r.checks.lemma32.logRatioError.max), 1e-10)
        XCTAssertLessThan(abs(r.checks.lemma32.logRatioError.min), 1e-10)
        XCTAssertEqual(r.checks.lemma32.growth.rate, 1)
        XCTAssertLessThan(r.rPrime.fromStart.relError.all.max, 1e-10)
    }

    func testTopKWithAllEigenpairsMatchesExact() throws {
        var tr = linearRun(n: 8, d: 10, steps: 20, seed: 5)
        // Record all n eigenpairs so that Σ λ_i v_i v_iᵀ = M.
        var rng = SplitMix64(seed: 5)
        let q = randomOrthonormal(8, &rng)
        let s = (0..<8).map { i in 3.0 / Double(i + 1) + 0.1 }
        let lambdas = s.map { 2 * $0 * $0 / 8.0 }
        tr.input.k = 8
        tr.input.eigenvalues = Array((0..<20).map { _ in lambdas }.joined())
        tr.input.eigenvectors = Array((0..<20).map { _ in Array(q.joined()) }.joined())
        let exact = try Analyzer.analyze(tr.input, gram: ClosureGramProvider(source: .exact, label: "exact", n: 8, dense: { _ in tr.m }))
        let approx = try Analyzer.analyze(tr.input)
        XCTAssertTrue(approx.gram.approximate)
        XCTAssertEqual(approx.gram.source, "top_k_approximation")
        for i in 0..<19 {
            XCTAssertEqual(approx.perStep.firstOrderError[i], exact.perStep.firstOrderError[i], accuracy: 1e-9)
        }
        XCTAssertLessThan(approx.rPrime.fromStart.relError.all.max, 1e-10)
    }

    func testTopKTruncationIsLabelledAndNotExact() throws {
        let tr = linearRun(seed: 4)   // k = 3 < n = 12
        let r = try Analyzer.analyze(tr.input)
        XCTAssertTrue(r.gram.approximate)
        XCTAssertTrue(r.summaryText().contains("APPROXIMATE"))
        XCTAssertGreaterThan(r.checks.firstOrderResidual.all.median, 1e-3)
    }

    func testFallbackWhereProviderHasNoMatrix() throws {
        let tr = linearRun(seed: 6)
        let m = tr.m
        // Stored gram at even rows only.
        let provider = ClosureGramProvider(source: .storedGram, label: "stored gram", n: tr.input.n,
                                           dense: { $0 % 2 == 0 ? m : nil })
        let r = try Analyzer.analyze(tr.input, gram: provider)
        XCTAssertEqual(r.gram.rowsFromSource, 20)
        XCTAssertEqual(r.gram.rowsTopKFallback, 19)
        XCTAssertTrue(r.gram.approximate)
        XCTAssertLessThan(r.perStep.firstOrderError[0], 1e-10)
        XCTAssertGreaterThan(r.perStep.firstOrderError[1], 1e-4)
    }

    func testRestartsAndWindows() throws {
        // Time-varying M: R′ drifts from R; with a window of 1 the error is 0 at every restart row
        // and equals one step of drift elsewhere, computed here independently.
        var rng = SplitMix64(seed: 21)
        let n = 6, t = 12
        var input = AnalysisInput(steps: (0..<t).map { Int64($0) }, learningRate: 0.1, n: n, k: 1, loss: [], residual: [],
                                  outputNormSq: [], sharpness: [], eigenvalues: [], eigenvectors: [], dtf: [])
        var ms: [[Double]] = []
        var d = (0..<n).map { _ in rng.gaussian() }
        for _ in 0..<t {
            let q = randomOrthonormal(n, &rng)
            let lam = (0..<n).map { 5.0 / Double($0 + 1) }
            let m = symmetric(q, lam)
            ms.append(m)
            input.residual += d
            input.loss.append(d.reduce(0) { $0 + $1 * $1 } / Double(n))
            input.sharpness.append(lam[0]); input.eigenvalues.append(lam[0]); input.eigenvectors += q[0]
            input.outputNormSq.append(1); input.dtf.append(-1)
            let md = matvec(m, d)
            d = zip(d, md).map { $0 - 0.1 * $1 }
        }
        let provider = ClosureGramProvider(source: .exact, label: "exact", n: n, dense: { ms[$0] })
        let r = try Analyzer.analyze(input, gram: provider, options: .init(rPrimeRestarts: false, rPrimeWindow: 1))
        XCTAssertEqual(r.rPrime.primary.mode, "every_window")
        XCTAssertEqual(r.rPrime.primary.starts, t)
        for i in 0..<t { XCTAssertEqual(r.perStep.rPrimeError[i], 0, accuracy: 0) }
        // Window 2: rows 1, 3, 5, … are one step after a restart.
        let r2 = try Analyzer.analyze(input, gram: provider, options: .init(rPrimeRestarts: false, rPrimeWindow: 2))
        for i in stride(from: 1, to: t, by: 2) {
            let v1 = Array(input.eigenvectors[((i - 1) * n)..<(i * n)])
            let dPrev = Array(input.residual[((i - 1) * n)..<(i * n)])
            func proj(_ x: [Double], _ v: [Double]) -> [Double] {
                let c = zip(x, v).reduce(0) { $0 + $1.0 * $1.1 }
                return zip(x, v).map { $0 - c * $1 }
            }
            let rPrev = proj(dPrev, v1)
            let mr = matvec(ms[i - 1], proj(rPrev, v1))
            let rp = zip(rPrev, mr).map { $0 - 0.1 * $1 }
            let rNow = proj(Array(input.residual[(i * n)..<((i + 1) * n)]), Array(input.eigenvectors[(i * n)..<((i + 1) * n)]))
            let e = zip(rNow, rp).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            XCTAssertEqual(r2.perStep.rPrimeError[i], e, accuracy: 1e-12 * max(1, e))
            XCTAssertGreaterThan(e, 1e-6)
            XCTAssertEqual(r2.perStep.rPrimeError[i - 1], 0)
        }
        // From-start series is never restarted: it accumulates.
        XCTAssertEqual(r2.rPrime.fromStart.starts, 1)
    }
}

extension AnalysisResult {
    var lemma32Pairs: Int { checks.lemma32.predictedRatio.count }
}
