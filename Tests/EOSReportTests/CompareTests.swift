import XCTest
@testable import EOSReport

final class CompareTests: XCTestCase {
    func testQuantileMatchesNumpyLinear() {
        // numpy.quantile([1, 2, 3, 4], [0.25, 0.5, 0.75]) == [1.75, 2.5, 3.25]
        let s: [Double] = [1, 2, 3, 4]
        XCTAssertEqual(RunComparison.quantile(sorted: s, 0.25), 1.75)
        XCTAssertEqual(RunComparison.quantile(sorted: s, 0.5), 2.5)
        XCTAssertEqual(RunComparison.quantile(sorted: s, 0.75), 3.25)
        XCTAssertEqual(RunComparison.quantile(sorted: [7], 0.5), 7)
    }

    func testMetricsClosedForm() {
        // η = 0.5 → 2/η = 4. Λ crosses at index 3 (step 30); Λη/2 from there: 1.25, 0.75, 1.5, 0.5, 1.25.
        let run = CompareInput(label: "a", steps: [0, 10, 20, 30, 40, 50, 60, 70],
                               sharpness: [1, 2, 3.9, 5, 3, 6, 2, 5], eta: 0.5, anomalyRate: 0.125)
        let m = RunComparison.metrics(run)
        XCTAssertEqual(m.firstStepAboveThreshold, 30)
        // sorted: 0.5 0.75 1.25 1.25 1.5 → median 1.25, q1 = 0.75, q3 = 1.25
        XCTAssertEqual(m.plateauMedian, 1.25)
        XCTAssertEqual(m.plateauQ1, 0.75)
        XCTAssertEqual(m.plateauQ3, 1.25)
        XCTAssertEqual(m.cycles, 3)   // runs above 4: {5}, {6}, {5}
        // With phases the count comes from phase-II runs.
        var withPhase = run
        withPhase.phase = [1, 1, 1, 2, 4, 2, 1, 2]
        XCTAssertEqual(RunComparison.metrics(withPhase).cycles, 3)
        let never = CompareInput(label: "b", steps: [0, 1], sharpness: [1, 2], eta: 0.5)
        let mn = RunComparison.metrics(never)
        XCTAssertNil(mn.firstStepAboveThreshold); XCTAssertNil(mn.plateauMedian); XCTAssertEqual(mn.cycles, 0)
    }

    func testTextTableAndHTML() throws {
        let a = syntheticInput(count: 600, eta: 0.02, seed: 1), b = syntheticInput(count: 800, eta: 0.01, seed: 2)
        let runs = [a, b].map { CompareInput(label: "η = \($0.eta)", steps: $0.steps, sharpness: $0.sharpness, eta: $0.eta, phase: $0.phase, anomalyRate: 0.1) }
        let text = try RunComparison.text(runs)
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines[0].hasPrefix("run"))
        XCTAssertTrue(lines[2].hasPrefix("η = 0.02")); XCTAssertTrue(lines[3].hasPrefix("η = 0.01"))
        XCTAssertTrue(lines[2].hasSuffix("10 %"))
        let html = try RunComparison.html(runs)
        let svgs = svgBlocks(in: html)
        XCTAssertEqual(svgs.count, 1)
        let i = try XCTUnwrap(SVGInspector.parse(svgs[0]))
        XCTAssertTrue(i.legendTexts.contains("η = 0.02")); XCTAssertTrue(i.legendTexts.contains("η = 0.01"))
        XCTAssertTrue(i.legendTexts.contains("Λ = 2/η"))
        XCTAssertFalse(html.lowercased().contains("http"))
        XCTAssertThrowsError(try RunComparison.html([])) { XCTAssertEqual($0 as? ReportError, .noRuns) }
        var bad = runs[0]; bad.sharpness.removeLast()
        XCTAssertThrowsError(try RunComparison.text([bad]))
    }
}
