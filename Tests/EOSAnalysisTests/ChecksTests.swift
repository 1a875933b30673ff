import XCTest
@testable import EOSAnalysis

final class ChecksTests: XCTestCase {
    func testDecompositionMatchesDirectProjection() throws {
        var rng = SplitMix64(seed: 3)
        let n = 9, k = 2, t = 6
        var input = AnalysisInput(steps: (0..<t).map { Int64($0) }, learningRate: 0.01, n: n, k: k, loss: [], residual: [],
                                  outputNormSq: [Double](repeating: 1, count: t), sharpness: [], eigenvalues: [],
                                  eigenvectors: [], dtf: [Double](repeating: 0, count: t))
        for _ in 0..<t {
            let d = (0..<n).map { _ in 10 * rng.gaussian() }
            let q = randomOrthonormal(n, &rng)
            input.residual += d
            input.loss.append(d.reduce(0) { $0 + $1 * $1 } / Double(n))
            input.sharpness.append(3); input.eigenvalues += [3, 1]
            input.eigenvectors += q[0] + q[1]
        }
        let r = try Analyzer.analyze(input)
        for i in 0..<t {
            let d = Array(input.residual[(i * n)..<((i + 1) * n)])
            let v = Array(input.eigenvectors[(i * k * n)..<(i * k * n + n)])
            let c = zip(d, v).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(r.perStep.c1[i], c, accuracy: 1e-12 * abs(c) + 1e-12)
            // ‖R‖² = ‖D‖² − c1² (Pythagoras), independently of how R was formed.
            let expected = (input.loss[i] * Double(n) - c * c) / Double(n)
            XCTAssertEqual(r.perStep.rNormSq[i], expected, accuracy: 1e-10 * input.loss[i])
        }
    }

    /// n = 2, Y = (1, 0), ‖Y‖ = 1; rows with ‖D‖ > 1: 0, 1, 2, 4 (D = (2,0), (0,3), (1.5,0), (0,2)).
    func propositionInput() -> AnalysisInput {
        let d: [[Double]] = [[2, 0], [0, 3], [1.5, 0], [0.1, 0], [0, 2], [0.2, 0.2]]
        var input = scalarInput(eta: 0.5, sharpness: [1, 1, 1, 1, 1, 1], dtf: [1, 2, -1, -3, 0.5, 7],
                                outputNormSq: [10, 9, 8.9, 8.9, 9, 5])
        input.residual = Array(d.joined())
        input.targets = [1, 0]
        return input
    }

    func testPropositions31And32() throws {
        let r = try Analyzer.analyze(propositionInput())
        // Prop 3.1 (DᵀF > 0 where ‖D‖ > ‖Y‖): rows 0, 1, 4 yes, row 2 no → 3/4.
        XCTAssertEqual(r.checks.proposition31!.all.hits, 3)
        XCTAssertEqual(r.checks.proposition31!.all.total, 4)
        // Prop 3.2 bound: Δ‖A‖² < −(4η/n)(‖D‖−‖Y‖)² = −(‖D‖−1)² with η = 0.5, n = 2.
        // row 0: −1 < −1? no.  row 1: −0.1 < −4? no.  row 2: 0 < −0.25? no.  row 4: −4 < −1 yes.
        XCTAssertEqual(r.checks.proposition32Bound!.all.hits, 1)
        XCTAssertEqual(r.checks.proposition32Bound!.all.total, 4)
        // direction Δ‖A‖² < 0: rows 0, 1, 4 → 3/4.
        XCTAssertEqual(r.checks.proposition32Direction!.all.hits, 3)
        XCTAssertEqual(r.run.targetNorm, 1)
    }

    func testTargetNormFromOutputs() throws {
        var input = propositionInput()
        input.targets = nil
        input.outputs = input.residual.enumerated().map { $0.element + ($0.offset % 2 == 0 ? 1 : 0) }
        XCTAssertEqual(input.targetNorm!, 1, accuracy: 1e-15)
        input.outputs = nil
        let r = try Analyzer.analyze(input)
        XCTAssertNil(r.checks.proposition31)
        XCTAssertTrue(r.story.allSatisfy { !$0.claim.contains("Proposition 3.1") })
    }

    func testOutputNormFirstOrderErrorAndRatios() throws {
        // Δ‖A‖² = −(4η/n) DᵀF (1 + δ_t) with δ = 0.1, 0.2, …: error relative to |Δ‖A‖²| = δ/(1+δ).
        let eta = 0.25, n = 2.0
        let dtf: [Double] = [2, -1, 3, 0.5, 1]
        var a2 = [5.0]
        let deltas = [0.1, 0.2, 0.3, 0.4]
        for (i, dl) in deltas.enumerated() { a2.append(a2[i] - 4 * eta / n * dtf[i] * (1 + dl)) }
        var input = scalarInput(eta: eta, sharpness: [1, 2, 3, 4, 5], dtf: dtf, outputNormSq: a2)
        input.outputLayerSharpness = [0.1, 0.2, 0.3, 0.4, 0.5]
        // λ2 < 1/η = 4 at rows 0, 1, 2 only.
        input.eigenvalues = [1, 1, 2, 3, 3, 3.9, 4, 4, 5, 5]
        let r = try Analyzer.analyze(input)
        let rel = deltas.map { $0 / (1 + $0) }
        for (i, e) in rel.enumerated() {
            XCTAssertEqual(r.perStep.outputNormFirstOrderError[i], e, accuracy: 1e-12)
        }
        XCTAssertEqual(r.checks.firstOrderOutputNorm.all.median, (rel[1] + rel[2]) / 2, accuracy: 1e-12)
        XCTAssertEqual(r.checks.firstOrderOutputNorm.all.p90, rel[2] + 0.7 * (rel[3] - rel[2]), accuracy: 1e-12)   // numpy linear
        XCTAssertEqual(r.checks.outputLayerRatio!.all.max, 0.1, accuracy: 1e-15)
        XCTAssertEqual(r.checks.assumption37!.all.hits, 3)
        XCTAssertEqual(r.checks.assumption37!.all.total, 5)
    }

    func testEps2FromKnownRotation() throws {
        // v1 rotates by angle α per step in the (e1, e2) plane: ε2 = 1 − cos α.
        let t = 6, alpha = 0.05
        var input = scalarInput(sharpness: [Double](repeating: 1, count: t))
        input.eigenvectors = []
        for i in 0..<t {
            let a = alpha * Double(i)
            input.eigenvectors += [cos(a), sin(a), -sin(a), cos(a)]
        }
        let r = try Analyzer.analyze(input)
        XCTAssertEqual(r.checks.eps2.all.count, t - 1)
        XCTAssertEqual(r.checks.eps2.all.median, 1 - cos(alpha), accuracy: 1e-14)
        XCTAssertEqual(r.checks.eps2.all.max, 1 - cos(alpha), accuracy: 1e-14)
    }

    func testAssumption36AtPhaseIIStart() throws {
        // η = 1. Run above 2 at rows 1…3. D(1) = (0.6, 0.8): c1 = 0.6, ‖D‖ = 1.
        // v1 rotates by 0.1 rad per step → ε2 = 1 − cos 0.1 ≈ 0.0049958; c = 0.6/ε2 ≈ 120.1.
        let t = 5
        var input = scalarInput(sharpness: [1, 2.5, 2.6, 2.2, 1])
        input.residual = [1, 0, 0.6, 0.8, 1, 0, 1, 0, 1, 0]
        input.eigenvectors = []
        for i in 0..<t {
            let a = 0.1 * Double(i)
            input.eigenvectors += [cos(a), sin(a), -sin(a), cos(a)]
        }
        let r = try Analyzer.analyze(input)
        let item = try XCTUnwrap(r.checks.assumption36.first)
        let c1 = 0.6 * cos(0.1) + 0.8 * sin(0.1)
        let e2 = 1 - cos(0.1)
        XCTAssertEqual(item.step, 1)
        XCTAssertEqual(item.c1, c1, accuracy: 1e-15)
        XCTAssertEqual(item.eps2, e2, accuracy: 1e-15)
        XCTAssertEqual(item.c, c1 / e2, accuracy: 1e-9 * c1 / e2)
        XCTAssertTrue(item.holds)
        XCTAssertEqual(item.tau, 0.5, accuracy: 1e-15)
        XCTAssertEqual(item.lemma32Factor, 1.5 * (1 - e2 - e2 / c1), accuracy: 1e-12)
        XCTAssertEqual(r.checks.assumption36Holds.rate, 1)
    }

    func testLemma32SkipsRoundOffLevelC1() throws {
        // η = 1, Λ = 3 > 2 everywhere: rows 0…4 are one run. c1(1) = 0 (D ⟂ v1): the pairs (0, 1)
        // and (1, 2) have an end at the floor and are left out.
        var input = scalarInput(sharpness: [3, 3, 3, 3, 3])
        input.residual[2] = 0
        let r = try Analyzer.analyze(input)
        XCTAssertEqual(r.checks.lemma32.excludedBelowFloor, 2)
        XCTAssertEqual(r.checks.lemma32.growth.total, 2)
        XCTAssertEqual(r.checks.lemma32.predictedRatio.median, 2)
        let loose = try Analyzer.analyze(input, options: .init(c1Floor: 0))
        XCTAssertEqual(loose.checks.lemma32.excludedBelowFloor, 2)   // |c1| = 0 is never above the floor
        // |c1(1)|/‖D(1)‖ = 2e-13: below the eigengap floor tol·λ1/(λ1 − λ2) = 1e-10/0.9 whatever
        // --c1-floor says; 2e-9 is above it, and below a --c1-floor of 1e-8.
        input.residual[2] = 1e-13
        XCTAssertEqual(try Analyzer.analyze(input).checks.lemma32.excludedBelowFloor, 2)
        XCTAssertEqual(try Analyzer.analyze(input, options: .init(c1Floor: 0)).checks.lemma32.excludedBelowFloor, 2)
        input.residual[2] = 1e-9
        XCTAssertEqual(try Analyzer.analyze(input, options: .init(c1Floor: 0)).checks.lemma32.excludedBelowFloor, 0)
        XCTAssertEqual(try Analyzer.analyze(input, options: .init(c1Floor: 1e-8)).checks.lemma32.excludedBelowFloor, 2)
    }

    func testInvalidInputThrowsTypedErrors() {
        var input = scalarInput(sharpness: [1, 2, 3])
        input.residual[3] = .nan
        XCTAssertThrowsError(try Analyzer.analyze(input)) { error in
            XCTAssertEqual((error as? AnalysisError)?.description.contains("residual"), true)
        }
        var input2 = scalarInput(sharpness: [1, 2, 3])
        input2.steps = [0, 2, 2]
        XCTAssertThrowsError(try Analyzer.analyze(input2)) { error in
            XCTAssertEqual(error as? AnalysisError, .invalidInput(object: "step", problem: "not strictly increasing at row 2 (2 then 2)"))
        }
        var input3 = scalarInput(sharpness: [1, 2, 3])
        input3.eigenvectors.removeLast()
        XCTAssertThrowsError(try Analyzer.analyze(input3))
        XCTAssertThrowsError(try Analyzer.analyze(scalarInput(sharpness: [1, 2]), options: .init(anomalyWindow: -1)))
        let bad = ClosureGramProvider(source: .exact, label: "bad", n: 2, dense: { _ in [1, 2, 3] })
        XCTAssertThrowsError(try Analyzer.analyze(scalarInput(sharpness: [1, 2]), gram: bad))
    }

    func testTinyRecordingsDoNotTrap() throws {
        for t in 1...3 {
            let r = try Analyzer.analyze(scalarInput(sharpness: [Double](repeating: 3, count: t)))
            XCTAssertEqual(r.run.rows, t)
            XCTAssertEqual(r.anomalies.pairs, t - 1)
            XCTAssertEqual(r.perStep.phase.count, t)
            XCTAssertFalse(r.csv().isEmpty)
            XCTAssertFalse(r.summaryText().isEmpty)
            _ = try r.jsonData()
        }
    }

    func testDistributionMatchesNumpyLinearPercentiles() {
        // numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], [50, 90]) = [3.5, 6.9]
        let d = Distribution([3, 1, 4, 1, 5, 9, 2, 6, .nan, .infinity])
        XCTAssertEqual(d.count, 8)
        XCTAssertEqual(d.excluded, 2)
        XCTAssertEqual(d.median, 3.5)
        XCTAssertEqual(d.p90, 6.9, accuracy: 1e-14)
        XCTAssertEqual(d.max, 9)
        XCTAssertTrue(Distribution([]).median.isNaN)
    }
}
