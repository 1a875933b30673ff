import XCTest
@testable import EOSAnalysis

final class AnomalyTests: XCTestCase {
    // Pairs: (+,+) (+,+) (−,+)* (0,−) (+,0) (+,+) (−,+)*; * = anomaly. Δ‖A‖² signs + + + − 0 + +
    // change at pair 3 (step 3) and pair 5 (step 5, across the zero).
    let sharp: [Double] = [1, 1.2, 1.4, 1.2, 1.2, 1.4, 1.6, 1.4]
    let a2: [Double] = [1, 2, 3, 4, 3, 3, 4, 5]

    func testKnownAnomalies() throws {
        let r = try Analyzer.analyze(scalarInput(sharpness: sharp, outputNormSq: a2))
        XCTAssertEqual(r.anomalies.steps, [2, 6])
        XCTAssertEqual(r.perStep.anomaly, [0, 0, 1, 0, 0, 0, 1, 0])
        XCTAssertEqual(r.anomalies.count, 2)
        XCTAssertEqual(r.anomalies.pairs, 7)
        XCTAssertEqual(r.anomalies.rate, 2.0 / 7.0, accuracy: 1e-15)
        XCTAssertEqual(r.anomalies.signChangeSteps, [3, 5])
        XCTAssertEqual(r.anomalies.nearSignChange, 2)
        // Pairs at steps 0…6; changes at 3 and 5; within 2 steps: 1, 2, 3, 4, 5, 6 → 6/7.
        XCTAssertEqual(r.anomalies.pairsNearSignChangeRate, 6.0 / 7.0, accuracy: 1e-15)
        XCTAssertEqual(r.checks.coMovement.all.hits, 3)
        XCTAssertEqual(r.checks.coMovement.all.total, 5)
    }

    func testWindowOption() throws {
        let r0 = try Analyzer.analyze(scalarInput(sharpness: sharp, outputNormSq: a2), options: .init(anomalyWindow: 0))
        XCTAssertEqual(r0.anomalies.nearSignChange, 0)
        let r1 = try Analyzer.analyze(scalarInput(sharpness: sharp, outputNormSq: a2), options: .init(anomalyWindow: 1))
        XCTAssertEqual(r1.anomalies.nearSignChange, 2)   // |2−3| = 1, |6−5| = 1
        XCTAssertEqual(r1.options.anomalyWindow, 1)
    }

    func testPairsAcrossGapsAreIgnored() throws {
        // Same values but a gap between rows 2 and 3: the anomaly pair (2,3) is not a GD step.
        let steps: [Int64] = [0, 1, 2, 10, 11, 12, 13, 14]
        let r = try Analyzer.analyze(scalarInput(steps: steps, sharpness: sharp, outputNormSq: a2))
        XCTAssertEqual(r.anomalies.steps, [13])
        XCTAssertEqual(r.anomalies.pairs, 6)
        XCTAssertEqual(r.run.gaps, 1)
        XCTAssertEqual(r.run.consecutivePairs, 6)
        XCTAssertTrue(r.perStep.eps2[2].isNaN)
        // Sign changes are not detected across the gap: + + | − 0 + + → one change at step 12.
        XCTAssertEqual(r.anomalies.signChangeSteps, [12])
    }

    func testRandomSequencesAgainstDirectDefinition() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20 {
            let t = 50
            // Values on a coarse grid so that zero differences occur.
            let s = (0..<t).map { _ in Double(Int.random(in: 0..<4, using: &rng)) }
            let a = (0..<t).map { _ in Double(Int.random(in: 0..<4, using: &rng)) }
            let r = try Analyzer.analyze(scalarInput(sharpness: s, outputNormSq: a))
            var expected: [Int64] = []
            for i in 0..<(t - 1) {
                let ds = s[i + 1] - s[i], da = a[i + 1].squareRoot() - a[i].squareRoot()
                if ds != 0 && da != 0 && ds.sign != da.sign { expected.append(Int64(i)) }
            }
            XCTAssertEqual(r.anomalies.steps, expected)
        }
    }
}
