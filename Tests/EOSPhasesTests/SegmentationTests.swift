import XCTest
@testable import EOSPhases

final class SegmentationTests: XCTestCase {
    // η = 1, so 2/η = 2. Run 1 = rows 2…5 (peak row 3), run 2 = rows 11…12 (peak row 12).
    let sharp: [Double] = [1, 1.5, 2.1, 2.5, 2.3, 2.2, 1.9, 1.8, 1.7, 1.6, 1.5, 2.5, 2.6, 1.0, 1.0]
    let loss: [Double] = [10, 9, 8, 7, 9, 12, 11, 8, 6.9, 6, 5, 4, 3.5, 3, 2]
    let dtf: [Double] = [-1, -1, -1, -1, 1, 1, 1, 0.5, 0.2, -0.1, -1, -1, 1, 1, -1]

    func testLossRulePhasesAndCycles() {
        let steps = (0..<sharp.count).map { Int64($0) }
        let (phases, cycles) = PhaseSegmentation.segment(steps: steps, sharpness: sharp, loss: loss, dtf: dtf,
                                                         learningRate: 1, rule: .loss)
        XCTAssertEqual(phases, [1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 1, 2, 2, 1, 1])
        XCTAssertEqual(cycles.count, 2)
        let c = cycles[0]
        XCTAssertEqual([c.startRow, c.peakRow, c.endRow, c.ivEndRow], [2, 3, 5, 7])
        XCTAssertEqual([c.stepsPhase2, c.stepsPhase3, c.stepsPhase4], [2, 2, 2])
        XCTAssertEqual(c.ivEndReason, .lossRecovered)
        XCTAssertEqual(c.lossAtPeak, 7)
        XCTAssertEqual(c.maxLossPhase3, 12)
        XCTAssertEqual(c.lossRisePhase3, 5)
        XCTAssertEqual(c.peakSharpness, 2.5)
        XCTAssertTrue(c.complete)
        let d = cycles[1]
        XCTAssertEqual([d.startRow, d.peakRow, d.endRow], [11, 12, 12])
        XCTAssertNil(d.ivEndRow)             // L(13) = 3 ≤ L(p) = 3.5: IV is empty
        XCTAssertEqual(d.rowsPhase3, 0)
        XCTAssertEqual(d.rowsPhase4, 0)
        XCTAssertEqual(d.lossRisePhase3, 0)
        XCTAssertEqual(d.ivEndReason, .lossRecovered)
    }

    func testDtfRule() {
        let steps = (0..<sharp.count).map { Int64($0) }
        let (phases, cycles) = PhaseSegmentation.segment(steps: steps, sharpness: sharp, loss: loss, dtf: dtf,
                                                         learningRate: 1, rule: .dtf)
        XCTAssertEqual(phases, [1, 1, 2, 2, 3, 3, 4, 4, 4, 1, 1, 2, 2, 4, 1])
        XCTAssertEqual(cycles.map(\.ivEndRow), [8, 13])
        XCTAssertEqual(cycles.map(\.ivEndReason), [.dtfNegative, .dtfNegative])
    }

    func testIVEndsAtNextRunAndRecordingEnd() {
        let (phases, cycles) = PhaseSegmentation.segment(steps: [0, 1, 2, 3], sharpness: [3, 1, 3, 1], loss: [1, 5, 2, 5],
                                                         dtf: [1, 1, 1, 1], learningRate: 1, rule: .loss)
        XCTAssertEqual(phases, [2, 4, 2, 4])
        XCTAssertEqual(cycles.map(\.ivEndReason), [.nextRun, .endOfRecording])
        XCTAssertEqual(cycles.map(\.complete), [true, false])
    }

    func testThresholdIsStrictAndPeakIsFirstMaximum() {
        // Λ = 2/η exactly is not above it; equal maxima → the first one is the peak.
        let (phases, cycles) = PhaseSegmentation.segment(steps: [0, 1, 2, 3, 4], sharpness: [0.2, 0.25, 0.25, 0.21, 0.2],
                                                         loss: [1, 1, 1, 1, 1], dtf: [0, 0, 0, 0, 0], learningRate: 10, rule: .loss)
        XCTAssertEqual(phases, [1, 2, 3, 3, 1])
        XCTAssertEqual(cycles.first?.peakRow, 1)
    }

    func testGapsSpanStepsNotRows() {
        let steps: [Int64] = [0, 10, 20, 30, 40]
        let (_, cycles) = PhaseSegmentation.segment(steps: steps, sharpness: [1, 3, 4, 3, 1], loss: [1, 1, 2, 3, 9],
                                                    dtf: [0, 0, 0, 0, 0], learningRate: 1, rule: .loss)
        XCTAssertEqual(cycles.count, 1)
        XCTAssertEqual(cycles[0].stepsPhase2, 11)   // steps 10…20
        XCTAssertEqual(cycles[0].stepsPhase3, 1)    // step 30
        XCTAssertEqual(cycles[0].stepsPhase4, 1)    // step 40: L = 9 > L(p) = 2
    }
}
