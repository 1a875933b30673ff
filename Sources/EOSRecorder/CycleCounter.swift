import EOSNumerics
import EOSPhases
import TrajectoryFormat

/// Counts Edge-of-Stability cycles online for `record`'s summary: a cycle is a maximal run of
/// steps with Λ > 2/η that *ended* (Λ came back to ≤ 2/η). Also remembers the first step where
/// Λ > 2/η and the largest Λ. A thin view of `EOSPhases.ThresholdRunCounter` (the one
/// implementation of the run rule), keeping the recorder's API.
public struct CycleCounter: Sendable {
    /// The counter this view reads.
    public private(set) var runs: ThresholdRunCounter

    /// 2/η.
    public var threshold: Double { runs.threshold }
    /// Runs above 2/η that ended.
    public var completedCycles: Int { runs.runsEnded }
    /// True while the last observed step was above 2/η.
    public var above: Bool { runs.isAbove }
    /// First step with Λ > 2/η.
    public var firstCrossing: Int? { runs.firstStepAbove.map { Int($0) } }
    /// max Λ observed (−∞ before the first step).
    public var maxSharpness: Double { runs.maxSharpness }

    public init(learningRate: Double) { runs = ThresholdRunCounter(learningRate: learningRate) }

    public mutating func observe(step: Int, sharpness: Double) {
        runs.observe(step: Int64(step), sharpness: sharpness)
    }
}

/// A sink that forwards to another sink while counting EOS cycles.
public final class CountingSink: TrajectorySink {
    public let base: TrajectorySink
    public private(set) var counter: CycleCounter
    public init(base: TrajectorySink, learningRate: Double) { self.base = base; counter = CycleCounter(learningRate: learningRate) }
    public func append(_ row: StepRow) throws { counter.observe(step: Int(row.step), sharpness: row.sharpness); try base.append(row) }
    public func appendSpectrum(step: Int, eigenvalues: [Double]) throws { try base.appendSpectrum(step: step, eigenvalues: eigenvalues) }
    public func appendHessianSharpness(step: Int, value: Double) throws { try base.appendHessianSharpness(step: step, value: value) }
    public func appendCheckpoint(step: Int, parameters: [Double]) throws { try base.appendCheckpoint(step: step, parameters: parameters) }
    public func appendGram(step: Int, matrix: EOSNumerics.Matrix) throws { try base.appendGram(step: step, matrix: matrix) }
    public func setStatus(_ status: RunStatus) throws { try base.setStatus(status) }
    public func noteCheckpoint(_ totals: EigensolverTotals) throws { try base.noteCheckpoint(totals) }
    public var storesSolverState: Bool { base.storesSolverState }
    public func noteSolverState(_ state: EigensolverWarmStart) throws { try base.noteSolverState(state) }
}
