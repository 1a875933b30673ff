/// Counts Edge-of-Stability cycles online: a cycle is a maximal run of steps with Λ > 2/η that
/// ends (Λ comes back to ≤ 2/η). Also remembers the first step where Λ > 2/η.
public struct CycleCounter: Sendable {
    public let threshold: Double
    public private(set) var completedCycles = 0
    public private(set) var above = false
    public private(set) var firstCrossing: Int?
    public private(set) var maxSharpness = -Double.infinity

    public init(learningRate: Double) { threshold = 2 / learningRate }

    public mutating func observe(step: Int, sharpness: Double) {
        maxSharpness = max(maxSharpness, sharpness)
        if sharpness > threshold {
            if !above { above = true; if firstCrossing == nil { firstCrossing = step } }
        } else if above {
            above = false; completedCycles += 1
        }
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
}

import EOSNumerics
import TrajectoryFormat
