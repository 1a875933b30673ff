/// Phase segmentation of docs/ANALYSIS.md §1 on rows, knowing the whole series (offline). The online
/// counterpart, one step at a time, is `OnlinePhaseTracker`; both make their decisions with
/// `StabilityThreshold` and `PhaseRule.endsPhaseIV`.
///
/// A run is a maximal sequence of rows with Λ > 2/η (a run continues across a gap in the steps).
/// Its rows up to and including the peak p (the first maximum of Λ in the run) are phase II, the
/// rest phase III; the rows after it are phase IV until `rule` ends IV or the next run begins;
/// every other row is phase I.
public enum PhaseSegmentation {
    /// - Parameters:
    ///   - steps: GD step of each row (T values, increasing); used for the cycles' step spans.
    ///   - sharpness: Λ(t) per row (T values).
    ///   - loss: L(t) per row (T values); read by the `loss` rule and for the cycles' loss rise.
    ///   - dtf: DᵀF(t) per row (T values); read by the `dtf` rule.
    ///   - excursions: which runs above 2/η count (merging, minimum excursion); the default is
    ///     every maximal run (the paper's rule).
    /// - Returns: per-row phase (1–4, T values) and the cycles in order.
    /// - Precondition: all arrays have the same length (programmer error otherwise).
    public static func segment(steps: [Int64], sharpness: [Double], loss: [Double], dtf: [Double],
                               learningRate: Double, rule: PhaseRule,
                               excursions: ExcursionRule = .init()) -> (phases: [Int8], cycles: [Cycle]) {
        let rowCount = sharpness.count
        precondition(steps.count == rowCount && loss.count == rowCount && dtf.count == rowCount, "segment: length mismatch")
        let threshold = StabilityThreshold.of(learningRate: learningRate)
        var phases = [Int8](repeating: Phase.I.rawValue, count: rowCount)
        let runs = excursions.runs(sharpness: sharpness, threshold: threshold)
        var cycles: [Cycle] = []
        for (runIndex, (start, end)) in runs.enumerated() {
            var peak = start
            for j in start...end where StabilityThreshold.isNewPeak(sharpness[j], over: sharpness[peak]) { peak = j }
            for j in start...peak { phases[j] = Phase.II.rawValue }
            if peak < end { for j in (peak + 1)...end { phases[j] = Phase.III.rawValue } }
            // First row not available to phase IV.
            let limit = runIndex + 1 < runs.count ? runs[runIndex + 1].start : rowCount
            var row = end + 1
            var reason: Cycle.IVEnd = limit == rowCount ? .endOfRecording : .nextRun
            while row < limit {
                if rule.endsPhaseIV(loss: loss[row], lossAtPeak: loss[peak], dtf: dtf[row]) {
                    reason = rule == .loss ? .lossRecovered : .dtfNegative
                    break
                }
                phases[row] = Phase.IV.rawValue
                row += 1
            }
            let ivEnd: Int? = row > end + 1 ? row - 1 : nil
            var maxLossPhase3 = loss[peak]
            if peak < end { for j in (peak + 1)...end { maxLossPhase3 = max(maxLossPhase3, loss[j]) } }
            func span(_ first: Int, _ last: Int?) -> Int64 {
                guard let last, last >= first else { return 0 }
                return steps[last] - steps[first] + 1
            }
            cycles.append(Cycle(
                index: runIndex, startRow: start, peakRow: peak, endRow: end, ivEndRow: ivEnd,
                startStep: steps[start], peakStep: steps[peak], endStep: steps[end], ivEndStep: ivEnd.map { steps[$0] },
                rowsPhase2: peak - start + 1, rowsPhase3: end - peak, rowsPhase4: ivEnd.map { $0 - end } ?? 0,
                stepsPhase2: span(start, peak), stepsPhase3: span(peak + 1, peak < end ? end : nil),
                stepsPhase4: span(end + 1, ivEnd),
                ivEndReason: reason, peakSharpness: sharpness[peak], lossAtPeak: loss[peak],
                maxLossPhase3: maxLossPhase3, lossRisePhase3: maxLossPhase3 - loss[peak],
                complete: end + 1 < rowCount && reason != .endOfRecording))
        }
        return (phases, cycles)
    }

    /// The maximal runs of rows with Λ > `threshold`, as closed row ranges (first, last).
    public static func runsAbove(sharpness: [Double], threshold: Double) -> [(start: Int, end: Int)] {
        var runs: [(start: Int, end: Int)] = []
        var row = 0
        while row < sharpness.count {
            if StabilityThreshold.isAbove(sharpness[row], threshold: threshold) {
                var last = row
                while last + 1 < sharpness.count && StabilityThreshold.isAbove(sharpness[last + 1], threshold: threshold) {
                    last += 1
                }
                runs.append((row, last))
                row = last + 1
            } else {
                row += 1
            }
        }
        return runs
    }
}

/// The one cycle count every command prints (`record`, `follow`, `analyze`, `compare`, `report`).
///
/// A cycle is one excursion above 2/η — a maximal run of rows with Λ > 2/η, after the
/// `ExcursionRule` has merged and filtered runs — with the phases II, III and IV that follow it.
/// It is counted when it *begins* inside the recording: a run still above 2/η at the last row,
/// or whose phase IV is cut off by the end of the recording, counts, and is reported as
/// incomplete (`Cycle.complete == false`). A run of a single row above 2/η is a *one-step
/// excursion*; the count says how many cycles are one-step and how far above 2/η the highest of
/// those went (`oneStepMaxMargin`, relative: Λ/(2/η) − 1).
public struct CycleCount: Sendable, Equatable {
    /// Cycles begun in the recording.
    public var cycles: Int
    /// Cycles whose run above 2/η ended and whose phase IV ended before the recording did.
    public var complete: Int
    /// Cycles whose run is a single row.
    public var oneStep: Int
    /// max over one-step cycles of Λ/(2/η) − 1 (NaN when there are none).
    public var oneStepMaxMargin: Double

    public init(cycles: Int, complete: Int, oneStep: Int, oneStepMaxMargin: Double) {
        self.cycles = cycles
        self.complete = complete
        self.oneStep = oneStep
        self.oneStepMaxMargin = oneStepMaxMargin
    }

    /// The count of the offline segmentation's cycles (2/η = `threshold`).
    public init(cycles list: [Cycle], threshold: Double) {
        let oneStep = list.filter { $0.endRow == $0.startRow }
        self.init(cycles: list.count, complete: list.filter(\.complete).count, oneStep: oneStep.count,
                  oneStepMaxMargin: oneStep.isEmpty ? .nan : oneStep.map { $0.peakSharpness / threshold - 1 }.max()!)
    }

    /// The count of the online counter (default `ExcursionRule`): equal to the offline count of
    /// the same series, except `complete`, which the online counter does not know (it counts runs
    /// that ended instead).
    public init(online counter: ThresholdRunCounter) {
        self.init(cycles: counter.runsBegun, complete: counter.runsEnded, oneStep: counter.oneStepRuns,
                  oneStepMaxMargin: counter.oneStepMaxMargin)
    }

    /// "32 cycles, 27 of them one-step excursions ≤ 0.5 % above 2/η", or "3 cycles" when none is
    /// one-step. The phrase every command prints.
    public var text: String {
        let head = "\(cycles) cycle\(cycles == 1 ? "" : "s")"
        guard oneStep > 0 else { return head }
        let pct = oneStepMaxMargin * 100
        // Rounded up, so that "≤" holds: one decimal (two below 0.1 %, none from 10 % on).
        let scale = pct < 0.1 ? 100.0 : (pct < 10 ? 10.0 : 1.0)
        let up = (pct * scale).rounded(.up) / scale
        let margin = up == up.rounded() ? "\(Int(up))" : "\(up)"
        return head + ", \(oneStep == cycles ? (cycles == 1 ? "it" : "all") : "\(oneStep)") of them one-step excursion\(oneStep == 1 ? "" : "s") ≤ \(margin) % above 2/η"
    }

    /// Maximal runs of phase II in a phase series (values 1–4): each starts one cycle. Equals
    /// `cycles` of the segmentation that produced the phases (any `ExcursionRule`: two cycles are
    /// always separated by a row of phase I or IV).
    public static func phaseIIRuns<P: BinaryInteger>(_ phases: [P]) -> Int {
        var count = 0
        for i in phases.indices where phases[i] == 2 && (i == 0 || phases[i - 1] != 2) { count += 1 }
        return count
    }

    /// Cycles of `sharpness` under the default rule, counted online (`ThresholdRunCounter`).
    public static func runsAbove(sharpness: [Double], learningRate: Double) -> Int {
        var counter = ThresholdRunCounter(learningRate: learningRate)
        for s in sharpness { counter.observe(sharpness: s) }
        return counter.runsBegun
    }
}
