import XCTest
@testable import EOSPhases

/// `ExcursionRule` (minimum excursion, merging) and the one `CycleCount`, on synthetic Λ series
/// whose cycles are known by construction: a hover at 2/η with one-step blips, and catapults.
final class ExcursionTests: XCTestCase {
    /// η = 1 (2/η = 2). Hover at Λ = 1.99 with one-step blips to 2.005 at rows 10, 20, 30 (0.25 %
    /// above 2/η), a two-step blip at rows 40–41 (2.004, 2.003), and one catapult at rows 60…69
    /// peaking at 3.0 (row 64). Loss falls steadily except in the catapult (rises to row 70).
    func hover() -> (steps: [Int64], sharp: [Double], loss: [Double]) {
        var sharp = [Double](repeating: 1.99, count: 100)
        for r in [10, 20, 30] { sharp[r] = 2.005 }
        sharp[40] = 2.004; sharp[41] = 2.003
        let catapult: [Double] = [2.2, 2.4, 2.6, 2.8, 3.0, 2.8, 2.6, 2.4, 2.2, 2.05]
        for (j, v) in catapult.enumerated() { sharp[60 + j] = v }
        var loss = (0..<100).map { 10 * pow(0.99, Double($0)) }
        for r in 64...70 { loss[r] = loss[63] * (1 + 0.1 * Double(r - 63)) }   // L rises after the peak
        return ((0..<100).map(Int64.init), sharp, loss)
    }

    func segment(_ s: (steps: [Int64], sharp: [Double], loss: [Double]), _ rule: ExcursionRule) -> (phases: [Int8], cycles: [Cycle]) {
        PhaseSegmentation.segment(steps: s.steps, sharpness: s.sharp, loss: s.loss, dtf: s.loss,
                                  learningRate: 1, rule: .loss, excursions: rule)
    }

    func testHoverDefaultCountsEveryBlipAndFlagsThem() {
        let s = hover()
        let (_, cycles) = segment(s, .init())
        XCTAssertEqual(cycles.map(\.startRow), [10, 20, 30, 40, 60])
        let count = CycleCount(cycles: cycles, threshold: 2)
        XCTAssertEqual(count.cycles, 5)
        XCTAssertEqual(count.oneStep, 3)
        XCTAssertEqual(count.oneStepMaxMargin, 2.005 / 2 - 1, accuracy: 1e-15)
        XCTAssertEqual(count.text, "5 cycles, 3 of them one-step excursions ≤ 0.3 % above 2/η")
        // The online counter (record, follow) gives the same count.
        var counter = ThresholdRunCounter(learningRate: 1)
        for v in s.sharp { counter.observe(sharpness: v) }
        XCTAssertEqual(CycleCount(online: counter).text, count.text)
        XCTAssertEqual(CycleCount.phaseIIRuns(segment(s, .init()).phases), 5)
    }

    func testHoverOptionsLeaveTheCatapult() {
        let s = hover()
        // Two steps above 2/η: the one-step blips go, the two-step blip and the catapult stay.
        XCTAssertEqual(segment(s, .init(minSteps: 2)).cycles.map(\.startRow), [40, 60])
        // 1 % above 2/η: only the catapult (peak 3.0, phase II 60…64, III 65…69, IV 70…).
        let (phases, cycles) = segment(s, .init(minMargin: 0.01))
        XCTAssertEqual(cycles.count, 1)
        let c = cycles[0]
        XCTAssertEqual([c.startRow, c.peakRow, c.endRow], [60, 64, 69])
        XCTAssertEqual(c.rowsPhase2, 5)
        XCTAssertEqual(c.rowsPhase3, 5)
        // L(70) = 1.7·L(63) > L(p) = 1.1·L(63); L(71) = 10·0.99^71 < L(p): IV is row 70 only.
        XCTAssertEqual(c.ivEndRow, 70)
        XCTAssertEqual(c.ivEndReason, .lossRecovered)
        XCTAssertEqual(phases.filter { $0 == 2 }.count, 5)
        XCTAssertEqual(phases[10], 1)              // a dropped blip is phase I
        XCTAssertEqual(CycleCount(cycles: cycles, threshold: 2).text, "1 cycle")
        // Merging across fewer than 11 rows joins the blips 10…41 into one excursion (peak: the
        // first maximum, row 10); the catapult, 18 rows later, stays apart.
        let merged = segment(s, .init(mergeGap: 11))
        XCTAssertEqual(merged.cycles.map(\.startRow), [10, 60])
        XCTAssertEqual(merged.cycles.map(\.endRow), [41, 69])
        XCTAssertEqual(merged.cycles[0].peakRow, 10)
        XCTAssertEqual(merged.phases[25], 3)       // a row below 2/η inside a merged run is phase III
        // A gap of 9 rows is not merged with mergeGap 9 (fewer than G rows merge).
        XCTAssertEqual(segment(s, .init(mergeGap: 9)).cycles.count, 5)
        XCTAssertEqual(segment(s, .init(mergeGap: 10)).cycles.count, 2)
    }

    func testCatapultsKeepTheirCountUnderTheOptions() {
        // Three catapults of 6 steps each, peaks 1.3–1.5 × 2/η, separated by 30 steps.
        var sharp = [Double](repeating: 1.8, count: 120)
        for (k, start) in [10, 46, 82].enumerated() {
            for (j, f) in [1.05, 1.2, 1.3 + 0.1 * Double(k), 1.2, 1.1, 1.02].enumerated() { sharp[start + j] = 2 * f }
        }
        let loss = (0..<120).map { 1 / Double($0 + 1) }
        let s = ((0..<120).map(Int64.init), sharp, loss)
        for rule in [ExcursionRule(), .init(minSteps: 3), .init(minMargin: 0.1), .init(mergeGap: 5),
                     .init(minSteps: 2, minMargin: 0.005, mergeGap: 3)] {
            let (_, cycles) = segment(s, rule)
            XCTAssertEqual(cycles.map(\.startRow), [10, 46, 82], "\(rule)")
            XCTAssertEqual(cycles.map(\.peakRow), [12, 48, 84], "\(rule)")
            XCTAssertEqual(CycleCount(cycles: cycles, threshold: 2).text, "3 cycles")
        }
        XCTAssertTrue(ExcursionRule().isDefault)
        XCTAssertNil(ExcursionRule(minSteps: 2).problem)
        XCTAssertEqual(ExcursionRule(minSteps: 0).problem, "min_steps must be ≥ 1, got 0")
        XCTAssertNotNil(ExcursionRule(minMargin: -1).problem)
        XCTAssertNotNil(ExcursionRule(mergeGap: -1).problem)
    }

    func testDroppedRunDoesNotEndPhaseIV() {
        let sharp: [Double] = [1, 2.5, 3, 2.2, 1.5, 2.01, 1.5, 1.5, 1.5]
        let loss: [Double] = [5, 5, 6, 7, 6.5, 6.2, 6.1, 4, 3]
        let steps = (0..<9).map(Int64.init)
        let d = PhaseSegmentation.segment(steps: steps, sharpness: sharp, loss: loss, dtf: loss, learningRate: 1, rule: .loss)
        XCTAssertEqual(d.phases, [1, 2, 2, 3, 4, 2, 1, 1, 1])
        XCTAssertEqual(d.cycles[0].ivEndReason, .nextRun)
        let f = PhaseSegmentation.segment(steps: steps, sharpness: sharp, loss: loss, dtf: loss, learningRate: 1, rule: .loss,
                                          excursions: .init(minSteps: 2))
        XCTAssertEqual(f.phases, [1, 2, 2, 3, 4, 4, 4, 1, 1])
        XCTAssertEqual(f.cycles.count, 1)
        XCTAssertEqual(f.cycles[0].ivEndRow, 6)
        XCTAssertEqual(f.cycles[0].ivEndReason, .lossRecovered)
    }

    func testOnlineCountEqualsOfflineOnRandomSeries() {
        var state: UInt64 = 7
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for _ in 0..<50 {
            let sharp = (0..<200).map { _ in 2 * (0.97 + 0.06 * next()) }
            let loss = (0..<200).map { _ in next() }
            let (_, cycles) = PhaseSegmentation.segment(steps: (0..<200).map(Int64.init), sharpness: sharp, loss: loss,
                                                        dtf: loss, learningRate: 1, rule: .loss)
            var counter = ThresholdRunCounter(learningRate: 1)
            for v in sharp { counter.observe(sharpness: v) }
            let online = CycleCount(online: counter), offline = CycleCount(cycles: cycles, threshold: 2)
            XCTAssertEqual(online.cycles, offline.cycles)
            XCTAssertEqual(online.oneStep, offline.oneStep)
            XCTAssertEqual(online.oneStepMaxMargin, offline.oneStepMaxMargin)
            XCTAssertEqual(online.text, offline.text)
        }
    }
}
