/// Runs of Λ > 2/η seen one step at a time: how many began, how many ended (Λ came back to
/// ≤ 2/η), the one-step runs, the first step above 2/η and the largest Λ so far. The recorder's
/// `CycleCounter` (`record`) and `OnlinePhaseTracker` (`follow`) are built on it; both print
/// `CycleCount(online:)`, runs *begun*.
public struct ThresholdRunCounter: Sendable, Equatable {
    /// What one observed step did to the run state.
    public enum Transition: Sendable, Equatable {
        /// Λ > 2/η after a step that was not above: a run begins.
        case runBegan
        /// Λ > 2/η again: the run continues.
        case runContinues
        /// Λ ≤ 2/η (or NaN) after a run: the run ended at the previous step.
        case runEnded
        /// Λ ≤ 2/η (or NaN) and no run in progress.
        case belowThreshold
    }

    /// 2/η.
    public let threshold: Double
    /// True while the last observed step was above 2/η.
    public private(set) var isAbove = false
    /// Runs above 2/η begun so far (a run still in progress counts).
    public private(set) var runsBegun = 0
    /// Runs above 2/η that ended (a later step had Λ ≤ 2/η).
    public private(set) var runsEnded = 0
    /// Step of the first observation above 2/η (nil until then, or when observed without a step).
    public private(set) var firstStepAbove: Int64?
    /// max Λ observed (−∞ before the first observation; NaN values are skipped by `max`).
    public private(set) var maxSharpness = -Double.infinity
    /// Rows of the run in progress (0 when below), its peak, and the one-step runs that ended.
    private var runLength = 0, runPeak = -Double.infinity
    private var endedOneStep = 0, endedOneStepMaxMargin = -Double.infinity

    /// Runs of a single row so far (the run in progress counts when it has one row, as the
    /// offline count does when the recording ends there).
    public var oneStepRuns: Int { endedOneStep + (isAbove && runLength == 1 ? 1 : 0) }
    /// max Λ/(2/η) − 1 over those runs (NaN when there are none).
    public var oneStepMaxMargin: Double {
        let current = isAbove && runLength == 1 ? runPeak / threshold - 1 : -Double.infinity
        let m = max(endedOneStepMaxMargin, current)
        return m == -.infinity ? .nan : m
    }

    public init(learningRate: Double) { threshold = StabilityThreshold.of(learningRate: learningRate) }

    /// Observes Λ of the next step (`step` only feeds `firstStepAbove`).
    @discardableResult
    public mutating func observe(step: Int64? = nil, sharpness: Double) -> Transition {
        maxSharpness = max(maxSharpness, sharpness)
        if StabilityThreshold.isAbove(sharpness, threshold: threshold) {
            runLength += 1
            runPeak = max(runPeak, sharpness)
            if isAbove { return .runContinues }
            isAbove = true
            runsBegun += 1
            if firstStepAbove == nil { firstStepAbove = step }
            return .runBegan
        }
        guard isAbove else { return .belowThreshold }
        isAbove = false
        runsEnded += 1
        if runLength == 1 {
            endedOneStep += 1
            endedOneStepMaxMargin = max(endedOneStepMaxMargin, runPeak / threshold - 1)
        }
        runLength = 0
        runPeak = -.infinity
        return .runEnded
    }
}

/// The phase of each new step from the steps seen so far (online; `follow` uses it).
///
/// A step with Λ > 2/η opens a run (phase II); inside the run a step is II when its Λ is a new
/// peak (strictly larger than every earlier Λ of the run) and III otherwise; after the run, phase
/// IV lasts until `rule` ends it (`PhaseRule.endsPhaseIV`, with L(p) of the peak so far) or the
/// next run begins; everything else is phase I.
///
/// Agreement with `PhaseSegmentation.segment` (tested in EOSPhasesTests): every row gets the
/// same phase, except that a row the online tracker calls III is II offline when Λ later climbs
/// above the peak again within the same run (the peak is only known when the run ends). The
/// number of runs begun equals the offline number of cycles.
public struct OnlinePhaseTracker: Sendable {
    private enum State: Sendable {
        case below
        case above(peakSharpness: Double, lossAtPeak: Double)
        case recovering(lossAtPeak: Double)
    }

    /// How phase IV ends.
    public let rule: PhaseRule
    /// The runs above 2/η seen so far.
    public private(set) var runs: ThresholdRunCounter
    private var state = State.below

    /// 2/η.
    public var threshold: Double { runs.threshold }
    /// Runs above 2/η begun so far (the one cycle count, `CycleCount`).
    public var cycles: Int { runs.runsBegun }
    /// The cycle count so far (`CycleCount(online:)`).
    public var cycleCount: CycleCount { CycleCount(online: runs) }

    public init(learningRate: Double, rule: PhaseRule = .loss) {
        self.rule = rule
        runs = ThresholdRunCounter(learningRate: learningRate)
    }

    /// The phase of the next step.
    /// - Parameters:
    ///   - step: the GD step (only for `runs.firstStepAbove`).
    ///   - dtf: DᵀF(t); read only by the `dtf` rule.
    public mutating func next(step: Int64? = nil, sharpness: Double, loss: Double, dtf: Double = .nan) -> Phase {
        switch runs.observe(step: step, sharpness: sharpness) {
        case .runBegan:
            state = .above(peakSharpness: sharpness, lossAtPeak: loss)
            return .II
        case .runContinues:
            guard case .above(let peak, _) = state else { preconditionFailure("run state out of sync") }
            if StabilityThreshold.isNewPeak(sharpness, over: peak) {
                state = .above(peakSharpness: sharpness, lossAtPeak: loss)
                return .II
            }
            return .III
        case .runEnded, .belowThreshold:
            let lossAtPeak: Double
            switch state {
            case .below: return .I
            case .above(_, let lp): lossAtPeak = lp
            case .recovering(let lp): lossAtPeak = lp
            }
            if rule.endsPhaseIV(loss: loss, lossAtPeak: lossAtPeak, dtf: dtf) {
                state = .below
                return .I
            }
            state = .recovering(lossAtPeak: lossAtPeak)
            return .IV
        }
    }
}
