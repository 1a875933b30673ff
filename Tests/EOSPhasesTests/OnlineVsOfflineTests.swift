import XCTest
@testable import EOSPhases

/// `OnlinePhaseTracker` and `ThresholdRunCounter` against `PhaseSegmentation.segment`, and the
/// segmentation against the pre-EOSPhases implementation (`ReferenceSegmentation`).
final class OnlineVsOfflineTests: XCTestCase {
    /// A small deterministic generator (tests only; not the recorder's SplitMix64).
    struct LCG {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
    }

    struct Series {
        var name: String
        var steps: [Int64], sharpness: [Double], loss: [Double], dtf: [Double]
        var learningRate: Double
    }

    /// Random series: Λ wandering around 2/η (sometimes quantized, so ties and Λ = 2/η occur),
    /// a loss random walk, DᵀF of either sign, some gaps in the steps.
    func randomSeries(seed: UInt64, count: Int) -> Series {
        var rng = LCG(state: seed)
        let eta = [0.5, 1, 0.01][Int(seed % 3)]
        let threshold = 2 / eta
        let quantized = seed % 2 == 0
        var steps: [Int64] = [], sharp: [Double] = [], loss: [Double] = [], dtf: [Double] = []
        var s = threshold * (0.8 + 0.4 * rng.next()), l = 1.0, step: Int64 = 0
        for _ in 0..<count {
            s += threshold * (rng.next() - 0.5) * 0.2
            if rng.next() < 0.05 { s = threshold * (rng.next() < 0.5 ? 1.2 : 0.8) }   // jumps: one-step excursions
            var v = s
            if quantized { v = (s / threshold * 20).rounded() / 20 * threshold }
            if rng.next() < 0.03 { v = threshold }
            sharp.append(v)
            l *= 0.9 + 0.25 * rng.next()
            loss.append(quantized ? (l * 8).rounded() / 8 : l)
            dtf.append(rng.next() - 0.4)
            steps.append(step)
            step += rng.next() < 0.1 ? 3 : 1
        }
        return Series(name: "random seed \(seed)", steps: steps, sharpness: sharp, loss: loss, dtf: dtf, learningRate: eta)
    }

    /// Hand-made series (η = 1, 2/η = 2): one-step excursions at the start, middle and end,
    /// back-to-back runs, a run with a later higher peak, IV ending at once / at the next run /
    /// at the end, NaN Λ and loss.
    var handMade: [Series] {
        func make(_ name: String, _ sharp: [Double], _ loss: [Double], _ dtf: [Double]? = nil) -> Series {
            Series(name: name, steps: (0..<sharp.count).map(Int64.init), sharpness: sharp, loss: loss,
                   dtf: dtf ?? loss.map { $0 > 2 ? 1 : -1 }, learningRate: 1)
        }
        return [
            make("one-step excursions", [1, 3, 1, 3, 1, 1, 3], [1, 5, 2, 5, 6, 0.5, 4]),
            make("excursion at the first row", [3, 1, 1], [2, 3, 1]),
            make("excursion at the last row", [1, 1, 3], [2, 3, 1]),
            make("whole recording above", [3, 4, 3.5, 5], [1, 2, 3, 4]),
            make("later higher peak", [1, 2.5, 2.2, 2.1, 2.8, 2.3, 1, 1, 1], [5, 4, 6, 7, 3, 8, 9, 2.9, 2]),
            make("ties at the peak", [1, 2.5, 2.5, 2.5, 1, 1], [3, 2, 4, 5, 6, 1]),
            make("exactly 2/η", [2, 2, 2.0000001, 2, 1], [1, 1, 1, 1, 1]),
            make("IV runs into next run", [3, 1, 1, 3, 1], [1, 2, 3, 0.5, 0.1]),
            make("immediate recovery", [1, 3, 1, 1], [2, 2, 2, 2]),
            make("NaN", [1, .nan, 3, .nan, 1, 3, 1], [1, 1, 2, 3, .nan, 1, 0.5]),
            make("empty", [], []),
            make("single row above", [3], [1]),
        ]
    }

    var allSeries: [Series] {
        handMade + (1...60).map { randomSeries(seed: UInt64($0), count: [1, 2, 5, 40, 300][$0 % 5]) }
    }

    func testSegmentationMatchesReference() {
        for s in allSeries {
            for rule in PhaseRule.allCases {
                let new = PhaseSegmentation.segment(steps: s.steps, sharpness: s.sharpness, loss: s.loss, dtf: s.dtf,
                                                    learningRate: s.learningRate, rule: rule)
                let old = ReferenceSegmentation.segment(steps: s.steps, sharpness: s.sharpness, loss: s.loss, dtf: s.dtf,
                                                        learningRate: s.learningRate, rule: rule)
                XCTAssertEqual(new.phases, old.phases, "\(s.name), \(rule)")
                XCTAssertEqual(new.cycles.count, old.cycles.count, "\(s.name), \(rule)")
                for (a, b) in zip(new.cycles, old.cycles) {
                    // Bitwise: Equatable on Double would treat NaN as unequal.
                    XCTAssertEqual(try JSONEncoder().encode(Wrapped(a)), try JSONEncoder().encode(Wrapped(b)), "\(s.name), \(rule)")
                }
            }
        }
    }

    /// The online phase of row i is the offline phase of row i on the rows 0...i — so it differs
    /// from the offline phase on the whole series only where III becomes II (a later, higher
    /// peak in the same run).
    func testOnlineEqualsOfflineOnEveryPrefix() {
        for s in allSeries {
            for rule in PhaseRule.allCases {
                var tracker = OnlinePhaseTracker(learningRate: s.learningRate, rule: rule)
                var online: [Int8] = []
                for i in s.sharpness.indices {
                    online.append(tracker.next(step: s.steps[i], sharpness: s.sharpness[i], loss: s.loss[i], dtf: s.dtf[i]).rawValue)
                    let prefix = PhaseSegmentation.segment(
                        steps: Array(s.steps[...i]), sharpness: Array(s.sharpness[...i]), loss: Array(s.loss[...i]),
                        dtf: Array(s.dtf[...i]), learningRate: s.learningRate, rule: rule)
                    XCTAssertEqual(online[i], prefix.phases[i], "\(s.name), \(rule), row \(i)")
                    XCTAssertEqual(tracker.cycles, prefix.cycles.count, "\(s.name), \(rule), row \(i)")
                }
                let offline = PhaseSegmentation.segment(steps: s.steps, sharpness: s.sharpness, loss: s.loss, dtf: s.dtf,
                                                        learningRate: s.learningRate, rule: rule)
                for i in online.indices where online[i] != offline.phases[i] {
                    XCTAssertEqual([online[i], offline.phases[i]], [3, 2], "\(s.name), \(rule), row \(i)")
                }
                // The last online II of every run is the offline peak.
                for c in offline.cycles {
                    XCTAssertEqual((c.startRow...c.endRow).last { online[$0] == 2 }, c.peakRow, "\(s.name), \(rule)")
                }
                XCTAssertEqual(tracker.cycles, offline.cycles.count, s.name)
                XCTAssertEqual(tracker.threshold, 2 / s.learningRate)
            }
        }
    }

    func testRunCounterAndCycleCounts() {
        for s in allSeries {
            let offline = PhaseSegmentation.segment(steps: s.steps, sharpness: s.sharpness, loss: s.loss, dtf: s.dtf,
                                                    learningRate: s.learningRate, rule: .loss)
            var counter = ThresholdRunCounter(learningRate: s.learningRate)
            for i in s.sharpness.indices { counter.observe(step: s.steps[i], sharpness: s.sharpness[i]) }
            XCTAssertEqual(counter.runsBegun, offline.cycles.count, s.name)
            XCTAssertEqual(counter.runsEnded, offline.cycles.filter { $0.endRow + 1 < s.sharpness.count }.count, s.name)
            XCTAssertEqual(counter.isAbove, offline.cycles.last.map { $0.endRow == s.sharpness.count - 1 } ?? false, s.name)
            XCTAssertEqual(counter.firstStepAbove, offline.cycles.first?.startStep, s.name)
            XCTAssertEqual(counter.maxSharpness, s.sharpness.reduce(-Double.infinity) { max($0, $1) }, s.name)
            XCTAssertEqual(CycleCount.runsAbove(sharpness: s.sharpness, learningRate: s.learningRate), offline.cycles.count, s.name)
            XCTAssertEqual(CycleCount.phaseIIRuns(offline.phases), offline.cycles.count, s.name)
            XCTAssertEqual(CycleCount.phaseIIRuns(offline.phases.map(Int.init)), offline.cycles.count, s.name)
            XCTAssertEqual(PhaseSegmentation.runsAbove(sharpness: s.sharpness, threshold: 2 / s.learningRate).map(\.start),
                           offline.cycles.map(\.startRow), s.name)
        }
    }

    func testOneStepExcursionsByHand() {
        // η = 1: rows 1 and 3 and 6 are one-step runs above 2/η.
        let sharp: [Double] = [1, 3, 1, 3, 1, 1, 3], loss: [Double] = [1, 5, 2, 5, 6, 0.5, 4]
        var tracker = OnlinePhaseTracker(learningRate: 1)
        let online = zip(sharp, loss).map { tracker.next(sharpness: $0, loss: $1).roman }
        XCTAssertEqual(online, ["I", "II", "I", "II", "IV", "I", "II"])
        XCTAssertEqual(tracker.cycles, 3)
        XCTAssertEqual(tracker.runs.runsEnded, 2)
        let offline = PhaseSegmentation.segment(steps: (0..<7).map(Int64.init), sharpness: sharp, loss: loss,
                                                dtf: [Double](repeating: 1, count: 7), learningRate: 1, rule: .loss)
        XCTAssertEqual(offline.phases, [1, 2, 1, 2, 4, 1, 2])
        XCTAssertEqual(offline.cycles.map(\.ivEndReason), [.lossRecovered, .lossRecovered, .endOfRecording])
    }

    func testTrackerDtfRule() {
        var tracker = OnlinePhaseTracker(learningRate: 1, rule: .dtf)
        let rows: [(Double, Double, Double)] = [(3, 1, 1), (1, 0.1, 1), (1, 0.1, -1), (1, 9, 1)]
        XCTAssertEqual(rows.map { tracker.next(sharpness: $0.0, loss: $0.1, dtf: $0.2) }, [.II, .IV, .I, .I])
    }
}

/// Encodes a cycle with its Doubles as bit patterns (exact comparison, NaN included).
private struct Wrapped: Encodable {
    let cycle: Cycle
    init(_ c: Cycle) { cycle = c }
    func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(cycle.index); try c.encode(cycle.startRow); try c.encode(cycle.peakRow); try c.encode(cycle.endRow)
        try c.encode(cycle.ivEndRow); try c.encode(cycle.startStep); try c.encode(cycle.peakStep); try c.encode(cycle.endStep)
        try c.encode(cycle.ivEndStep); try c.encode(cycle.rowsPhase2); try c.encode(cycle.rowsPhase3); try c.encode(cycle.rowsPhase4)
        try c.encode(cycle.stepsPhase2); try c.encode(cycle.stepsPhase3); try c.encode(cycle.stepsPhase4)
        try c.encode(cycle.ivEndReason.rawValue)
        for x in [cycle.peakSharpness, cycle.lossAtPeak, cycle.maxLossPhase3, cycle.lossRisePhase3] { try c.encode(x.bitPattern) }
        try c.encode(cycle.complete)
    }
}
