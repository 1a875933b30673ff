import XCTest
@testable import EOSAnalysis

/// The analyzer's use of the phase segmentation (the segmentation itself: Tests/EOSPhasesTests).
final class PhaseTests: XCTestCase {
    // η = 1, so 2/η = 2. Run 1 = rows 2…5 (peak row 3), run 2 = rows 11…12 (peak row 12).
    let sharp: [Double] = [1, 1.5, 2.1, 2.5, 2.3, 2.2, 1.9, 1.8, 1.7, 1.6, 1.5, 2.5, 2.6, 1.0, 1.0]
    let loss: [Double] = [10, 9, 8, 7, 9, 12, 11, 8, 6.9, 6, 5, 4, 3.5, 3, 2]
    let dtf: [Double] = [-1, -1, -1, -1, 1, 1, 1, 0.5, 0.2, -0.1, -1, -1, 1, 1, -1]

    func testAnalyzerRecordsRuleAndPhaseCounts() throws {
        let input = scalarInput(sharpness: sharp, loss: loss, dtf: dtf)
        let r = try Analyzer.analyze(input, options: .init(phaseRule: .dtf))
        XCTAssertEqual(r.options.phaseRule, .dtf)
        XCTAssertEqual(r.phases.rule, .dtf)
        XCTAssertEqual([r.phases.rows.phase1, r.phases.rows.phase2, r.phases.rows.phase3, r.phases.rows.phase4], [5, 4, 2, 4])
        XCTAssertEqual(r.phases.cycleCount, 2)
        XCTAssertEqual(r.perStep.phase, [1, 1, 2, 2, 3, 3, 4, 4, 4, 1, 1, 2, 2, 4, 1])
    }
}
