import XCTest
@testable import EOSAnalysis

/// The analysis beyond docs/ANALYSIS.md's minimum: Lemma 3.2's growth law against the length of phase II,
/// both readings of Assumption 3.6, co-movement by regime, and the story's verdicts — on series
/// whose answers are known in closed form.
final class ScienceTests: XCTestCase {
    /// n = 2, k = 2, v1 = (cos θ, sin θ), v2 = (−sin θ, cos θ), λ2 = Λ/10; D(t) = c1(t) v1 + r(t) v2.
    func input(eta: Double = 1, sharpness: [Double], c1: [Double], r: [Double], theta: [Double]? = nil,
               outputNormSq: [Double]? = nil, loss: [Double]? = nil) -> AnalysisInput {
        let t = sharpness.count
        var residual: [Double] = [], ev: [Double] = [], vec: [Double] = []
        for i in 0..<t {
            let th = theta?[i] ?? 0, c = Foundation.cos(th), s = Foundation.sin(th)
            residual += [c1[i] * c - r[i] * s, c1[i] * s + r[i] * c]
            ev += [sharpness[i], sharpness[i] / 10]
            vec += [c, s, -s, c]
        }
        var l: [Double] = []
        for i in 0..<t { let sq: Double = c1[i] * c1[i] + r[i] * r[i]; l.append(sq / 2) }
        if let loss { l = loss }
        return AnalysisInput(steps: (0..<t).map(Int64.init), learningRate: eta, n: 2, k: 2, loss: l, residual: residual,
                             outputNormSq: outputNormSq ?? [Double](repeating: 1, count: t), sharpness: sharpness,
                             eigenvalues: ev, eigenvectors: vec, dtf: [Double](repeating: 1, count: t))
    }

    func testPhaseIILengthFromTheGrowthLaw() throws {
        // η = 1: Λ = 1.5 on rows 0…4, 2.5 (+1e-9 per row, so the peak is row 25) on rows 5…25, then
        // down to 1.5. |1 − ηΛ| = 1.5 in phase II; c1(5) = 1e-3 ‖·‖, r = 1, growing by exactly 1.5
        // per step until the peak. τ = first τ with 1e-3·1.5^τ ≥ ‖D(5)‖ = √(1 + 1e-6):
        // 1.5^17 = 985.3 < 1000.0005 ≤ 1.5^18 = 1477.9, so τ = 18; measured p − a = 20.
        var sharp = [Double](repeating: 1.5, count: 40), c1 = [Double](repeating: 1e-3, count: 40)
        for t in 5...25 { sharp[t] = 2.5 + 1e-9 * Double(t - 5); c1[t] = 1e-3 * pow(1.5, Double(t - 5)) }
        for t in 26..<40 { sharp[t] = t < 30 ? 2.2 - 0.01 * Double(t) : 1.5; c1[t] = c1[25] }
        let r = try Analyzer.analyze(input(sharpness: sharp, c1: c1, r: [Double](repeating: 1, count: 40)))
        XCTAssertEqual(r.checks.phase2Lengths.count, 1)
        let item = r.checks.phase2Lengths[0]
        XCTAssertEqual(item.startStep, 5)
        XCTAssertEqual(item.predictedSteps, 18)
        XCTAssertEqual(item.measuredSteps, 20)
        XCTAssertEqual(item.rowsPhase2, 21)
        XCTAssertEqual(item.c1Share, 1e-3 / (1 + 1e-6).squareRoot(), accuracy: 1e-15)
        // Floor: tol·λ1/(λ1 − λ2) = 1e-10/0.9 with λ2 = Λ/10.
        XCTAssertEqual(item.floorShare, 1e-10 / 0.9, accuracy: 1e-22)
        XCTAssertFalse(item.startBelowFloor)
        XCTAssertEqual(item.pairsAboveFloor, 20)
        XCTAssertEqual(item.measuredGrowth, 1.5, accuracy: 1e-12)
        XCTAssertEqual(item.predictedGrowth, 1.5 + 9.5e-9, accuracy: 1e-12)   // mean of 1.5 + 1e-9·k, k = 0…19
        // From |c1(a)| below the floor, the prediction is flagged; a product that never reaches ‖D‖ is nil.
        var tiny = c1
        tiny[5] = 1e-11
        let below = try Analyzer.analyze(input(sharpness: sharp, c1: tiny, r: [Double](repeating: 1, count: 40)))
        XCTAssertTrue(below.checks.phase2Lengths[0].startBelowFloor)
        XCTAssertEqual(below.checks.phase2Lengths[0].pairsAboveFloor, 19)   // pair (5, 6) left out
        var short = sharp
        for t in 10..<40 { short[t] = 1.5 }   // |1 − ηΛ| = 0.5 after row 9: 1e-3·1.5^5·0.5^… never reaches 1
        let never = try Analyzer.analyze(input(sharpness: short, c1: c1, r: [Double](repeating: 1, count: 40)))
        XCTAssertNil(never.checks.phase2Lengths[0].predictedSteps)
        XCTAssertTrue(never.summaryText().contains("never"))
    }

    /// Lemma 3.2's ratio check and the growth law share one accuracy floor of c1,
    /// ‖D‖·max(c1Floor, tol·λ1/(λ1 − λ2)): known answers on a series whose eigengap closes at two rows.
    func testLemma32RatioCheckUsesTheEigenvectorAccuracyFloor() throws {
        // η = 1, n = 2, k = 2, v1 = e1, v2 = e2, D(t) = (c1(t), 1) with c1(t) = 1e-8·2^t (ratio
        // exactly 2 = |1 − ηΛ| for Λ = 3). Λ = 3 + 1e-9·t up to the peak at row 15, then
        // 3 − 1e-9·(t − 15): one run, rows 0…19; phase II = 0…15, III = 16…19; 19 pairs in II–III.
        // λ2 = 0.3 (floor share tol·3/2.7 = 1.11e-10), except rows 3 and 4: λ2 = λ1 − 3e-3, floor
        // share tol·λ1/3e-3 ≈ 1.0e-7. |c1(3)|/‖D‖ = 8e-8 is below it, |c1(4)| = 1.6e-7 above.
        let t = 20
        var residual: [Double] = [], ev: [Double] = [], vec: [Double] = [], sharp: [Double] = [], loss: [Double] = []
        for i in 0..<t {
            let c1 = 1e-8 * Foundation.pow(2, Double(i))
            let l1 = i <= 15 ? 3 + 1e-9 * Double(i) : 3 - 1e-9 * Double(i - 15)
            residual += [c1, 1]
            sharp.append(l1)
            ev += [l1, (i == 3 || i == 4) ? l1 - 3e-3 : 0.3]
            vec += [1, 0, 0, 1]
            loss.append((c1 * c1 + 1) / 2)
        }
        var input = AnalysisInput(steps: (0..<t).map(Int64.init), learningRate: 1, n: 2, k: 2, loss: loss,
                                  residual: residual, outputNormSq: [Double](repeating: 1, count: t), sharpness: sharp,
                                  eigenvalues: ev, eigenvectors: vec, dtf: [Double](repeating: 1, count: t))
        // (options, eigensolver tolerance) → pairs of II–III left out, pairs of [0, 15) in the growth law.
        // Default: row 3 is at its floor (gap): pairs (2,3), (3,4) out → 2 left out, 13 of 15 phase-II pairs.
        // c1Floor 1e-7 as a lower bound: rows 0…3 (share ≤ 8e-8) → pairs 0…3 out → 4, and 11.
        // A recording made with tol 1e-6: floor share 1.11e-6 (gap) → rows 0…6 (share ≤ 6.4e-7) → 7, and 8.
        for (c1Floor, tol, out, growthPairs) in [(1e-10, nil, 2, 13), (1e-7, nil, 4, 11), (1e-10, 1e-6, 7, 8)] as [(Double, Double?, Int, Int)] {
            input.eigenTolerance = tol
            let r = try Analyzer.analyze(input, options: .init(c1Floor: c1Floor))
            let what = "c1Floor \(c1Floor), tol \(tol.map { "\($0)" } ?? "default")"
            XCTAssertEqual(r.perStep.phase, [Int8](repeating: 2, count: 16) + [3, 3, 3, 3], what)
            let l = r.checks.lemma32
            XCTAssertEqual(l.excludedBelowFloor, out, what)
            XCTAssertEqual(l.growth.total, 19 - out, what)
            XCTAssertEqual(l.growth.hits, 19 - out, what)          // every kept ratio is 2 > 1
            XCTAssertEqual(l.measuredRatio.all.median, 2, accuracy: 1e-15, what)
            XCTAssertEqual(l.logRatioError.median, 0, accuracy: 1e-8, what)   // log(2 / |1 − Λ|), Λ − 3 ≤ 1.5e-8
            let item = try XCTUnwrap(r.checks.phase2Lengths.first, what)
            XCTAssertEqual(item.pairsAboveFloor, growthPairs, what)
            XCTAssertEqual(item.measuredGrowth, 2, accuracy: 1e-15, what)
            XCTAssertEqual(item.floorShare, max(c1Floor, (tol ?? 1e-10) * 3 / 2.7), accuracy: 1e-24, what)
            XCTAssertEqual(item.startBelowFloor, tol != nil || c1Floor > 1e-8, what)   // |c1(0)|/‖D‖ = 1e-8
        }
    }

    func testAssumption36BothReadings() throws {
        // Phase II = rows 1…3 (Λ 3, 3.2, 3.5 > 2/η = 2); v1 turns by 0.01 then 0.1 rad:
        // ε2(1) = 1 − cos 0.01, ε2(2) = 1 − cos 0.1. |c1(1)|/‖D(1)‖ = 1e-3.
        let theta = [0, 0, 0.01, 0.11, 0.11]
        let rNorm = (1 - 1e-6).squareRoot()
        let r = try Analyzer.analyze(input(sharpness: [1, 3, 3.2, 3.5, 1], c1: [1e-3, 1e-3, 1e-3, 1e-3, 1e-3],
                                           r: [Double](repeating: rNorm, count: 5), theta: theta))
        let a = r.checks.assumption36[0]
        XCTAssertEqual(a.eps2AtStart, 1 - cos(0.01), accuracy: 1e-15)
        XCTAssertEqual(a.eps2, 1 - cos(0.1), accuracy: 1e-15)
        XCTAssertEqual(a.cAtStart, 1e-3 / (1 - cos(0.01)), accuracy: 1e-9)     // 20.0
        XCTAssertEqual(a.c, 1e-3 / (1 - cos(0.1)), accuracy: 1e-12)            // 0.2
        XCTAssertTrue(a.holdsAtStart)
        XCTAssertFalse(a.holds)
        XCTAssertEqual(r.checks.assumption36HoldsAtStart.hits, 1)
        XCTAssertEqual(r.checks.assumption36Holds.hits, 0)
        XCTAssertTrue(r.story.contains { $0.claim.contains("3.6") && $0.measure.contains("at the start step: 1 of 1") })
    }

    func testCoMovementByRegimeAndTheMechanismLine() throws {
        // Rows 0…29 and 50…79 hover (Λ 1.995/1.996, ‖A‖² moving against Λ); a catapult at rows
        // 30…39 with ‖A‖² moving with Λ; rows 40…49 flat at Λ = 1.5. Loss rises, so 40…79 are phase IV.
        var sharp: [Double] = [], a2: [Double] = []
        for i in 0..<30 { sharp.append(1.995 + 0.001 * Double(i % 2)); a2.append(1 - 0.001 * Double(i % 2)) }
        sharp += [2.5, 2.7, 2.9, 3.0, 2.9, 2.7, 2.5, 2.3, 2.1, 2.05]
        a2 += [1.5, 1.7, 1.9, 2.0, 1.9, 1.7, 1.5, 1.3, 1.1, 1.05]
        sharp += [Double](repeating: 1.5, count: 10); a2 += [Double](repeating: 1, count: 10)
        for i in 50..<80 { sharp.append(1.995 + 0.001 * Double(i % 2)); a2.append(1 - 0.001 * Double(i % 2)) }
        let loss = (0..<80).map { 1 + 0.01 * Double($0) }
        let r = try Analyzer.analyze(input(sharpness: sharp, c1: [Double](repeating: 0.5, count: 80),
                                           r: [Double](repeating: 1, count: 80), outputNormSq: a2, loss: loss))
        let g = r.checks.regimes
        XCTAssertEqual(g.hoverRuns, 2)
        XCTAssertEqual(g.hoverRows, 60)
        XCTAssertEqual(g.catapultRows, 20)
        // Hover pairs: 0…28 anti, (29, 30) with; 50…78 anti → 1 of 59. Catapult: 30…39 all with.
        XCTAssertEqual([g.coMovementHover.hits, g.coMovementHover.total], [1, 59])
        XCTAssertEqual([g.coMovementCatapult.hits, g.coMovementCatapult.total], [10, 10])
        XCTAssertEqual(g.coMovementOther.total, 0)
        XCTAssertEqual([g.rowsFromFirstCrossing, g.hoverRowsFromFirstCrossing], [50, 30])
        let line = try XCTUnwrap(r.story.first { $0.claim.contains("mechanism") })
        XCTAssertEqual(line.value, 0.4, accuracy: 1e-15)    // 20 of 50 rows from the first crossing
        XCTAssertEqual(line.verdict, "partly")
    }

    func testVerdictCutoffsAndApproximateM() throws {
        XCTAssertEqual(StoryVerdict.verdict(0.9), "supported")
        XCTAssertEqual(StoryVerdict.verdict(0.8999), "mostly")
        XCTAssertEqual(StoryVerdict.verdict(0.7), "mostly")
        XCTAssertEqual(StoryVerdict.verdict(0.4), "partly")
        XCTAssertEqual(StoryVerdict.verdict(0.3999), "not supported")
        XCTAssertEqual(StoryVerdict.verdict(.nan), "n/a")
        // Without a provider M(t) is the top-k approximation: the claims that need M get no verdict.
        let r = try Analyzer.analyze(input(sharpness: [1, 3, 3.5, 1, 1], c1: [1, 1, 1, 1, 1], r: [1, 1, 1, 1, 1]))
        XCTAssertTrue(r.gram.approximate)
        for item in r.story where item.claim.contains("R′") || item.claim.contains("first-order update") {
            XCTAssertEqual(item.verdict, "n/a", item.claim)
            XCTAssertTrue(item.claim.hasSuffix("[approximate M: no verdict]"))
        }
        XCTAssertTrue(r.story.allSatisfy { !$0.basis.isEmpty })
    }

    func testBiasExactOutputNormLine() throws {
        // η = 0.5, n = 2, D(t) = (1, 0.5), so 1ᵀD = 1.5; DᵀF = 2 and β = 0.4 at every row;
        // ‖A‖² moves by exactly −(4η/n)(DᵀF − β·1ᵀD) = −(2 − 0.6) = −1.4 per step.
        var base = input(eta: 0.5, sharpness: [1, 1, 1, 1], c1: [1, 1, 1, 1], r: [0.5, 0.5, 0.5, 0.5],
                         outputNormSq: [10, 8.6, 7.2, 5.8])
        base.dtf = [2, 2, 2, 2]
        let r = try Analyzer.analyze(base, outputBias: OutputBias(values: [0.4, 0.4, 0.4, 0.4], note: "test"))
        let b = try XCTUnwrap(r.checks.outputBias)
        XCTAssertEqual(b.error.all.count, 3)
        XCTAssertEqual(b.error.all.max, 0, accuracy: 1e-15)
        // The paper's line misses (4η/n)β·1ᵀD = 0.6 of |Δ‖A‖²| = 1.4.
        XCTAssertEqual(b.firstPairPaperError, 0.6 / 1.4, accuracy: 1e-15)
        XCTAssertEqual(r.checks.firstOrderOutputNorm.all.median, 0.6 / 1.4, accuracy: 1e-15)
        XCTAssertEqual(b.medianBias, 0.4)
        XCTAssertNil(try Analyzer.analyze(base).checks.outputBias)
    }
}
