import Foundation
import TrajectoryFormat

/// One row of the assumption/claim checks table.
public struct CheckRow: Sendable, Equatable {
    public var name: String
    public var value: String
    public var detail: String
    public init(name: String, value: String, detail: String = "") {
        self.name = name
        self.value = value
        self.detail = detail
    }
}

/// Everything the single-run report draws, on one step coordinate. Per-step arrays are
/// aligned with `steps` (same count); optional ones are nil when the recording or the
/// analysis does not have them, and the report says so instead of drawing them.
/// Independent of `EOSAnalysis`' types: an adapter fills it from an analysis result.
public struct ReportInput: Sendable {
    /// Names the run in titles and errors (usually the recording's file name).
    public var runName: String
    /// Recorded step numbers, strictly increasing.
    public var steps: [Int]
    /// Learning rate η (constant step size).
    public var eta: Double
    /// L(t) = ‖D(t)‖²/n.
    public var loss: [Double]
    /// Λ(t) = λ_1(M(t)).
    public var sharpness: [Double]
    /// ‖A(t)‖², squared norm of the output-layer weights.
    public var outputNormSq: [Double]
    /// λ_1(M(t)) as recorded in `eigenvalues[:, 0]` (equals `sharpness`).
    public var lambda1: [Double]
    /// λ_2(M(t)), nil when only k = 1 eigenvalue was recorded.
    public var lambda2: [Double]?
    /// λ_max(M_A(t)) (output layer only), when recorded.
    public var outputLayerSharpness: [Double]?
    /// ‖R(t)‖²/n with R = (I − v1 v1ᵀ) D.
    public var rNormSqPerN: [Double]?
    /// c1(t) = D(t)ᵀ v1(t).
    public var c1: [Double]?
    /// ‖R(t) − R′(t)‖ (R′ tracking error, docs/ANALYSIS.md).
    public var rPrimeError: [Double]?
    /// ‖R(t) − R′(t)‖ / ‖R(t)‖.
    public var rPrimeRelativeError: [Double]?
    /// How R′ was computed (e.g. "exact Gram by replay", "top-k approximation").
    public var rPrimeMethod: String?
    /// Phase 1–4 per step (docs/ANALYSIS.md §1).
    public var phase: [Int]?
    /// true at step t when t is an anomaly point (docs/ANALYSIS.md).
    public var anomaly: [Bool]?
    /// true at step t when t is in a hover (docs/ANALYSIS.md §7: Λ within `hoverMargin` of 2/η
    /// for at least `hoverMinSteps` steps); nil: not analysed. Drawn as a band over the phases.
    public var hover: [Bool]?
    public var hoverMargin: Double = 0.03
    public var hoverMinSteps: Int = 20
    /// λ_max of the loss Hessian on its own cadence (optional cross-check of Λ; close to Λ, not
    /// equal): steps (increasing) and values, same count.
    public var hessianSharpness: (steps: [Int], values: [Double])?
    public var checks: [CheckRow]
    /// Run metadata as ordered key/value pairs.
    public var metadata: [(key: String, value: String)]

    public init(runName: String, steps: [Int], eta: Double, loss: [Double], sharpness: [Double],
                outputNormSq: [Double], lambda1: [Double], lambda2: [Double]? = nil,
                outputLayerSharpness: [Double]? = nil, rNormSqPerN: [Double]? = nil,
                c1: [Double]? = nil, rPrimeError: [Double]? = nil, rPrimeRelativeError: [Double]? = nil,
                rPrimeMethod: String? = nil, phase: [Int]? = nil, anomaly: [Bool]? = nil,
                checks: [CheckRow] = [], metadata: [(key: String, value: String)] = []) {
        self.runName = runName
        self.steps = steps
        self.eta = eta
        self.loss = loss
        self.sharpness = sharpness
        self.outputNormSq = outputNormSq
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.outputLayerSharpness = outputLayerSharpness
        self.rNormSqPerN = rNormSqPerN
        self.c1 = c1
        self.rPrimeError = rPrimeError
        self.rPrimeRelativeError = rPrimeRelativeError
        self.rPrimeMethod = rPrimeMethod
        self.phase = phase
        self.anomaly = anomaly
        self.checks = checks
        self.metadata = metadata
    }

    /// Checks lengths, step order, η and phase values; throws `ReportError` on the first problem.
    public func validate() throws {
        guard SeriesInvariants.isValidLearningRate(eta) else { throw ReportError.invalidLearningRate(run: runName, value: eta) }
        let n = steps.count
        func check(_ name: String, _ c: Int?) throws {
            if let c, c != n { throw ReportError.lengthMismatch(run: runName, field: name, expected: n, actual: c) }
        }
        try check("loss", loss.count)
        try check("sharpness", sharpness.count)
        try check("output_norm_sq", outputNormSq.count)
        try check("eigenvalues[:, 0]", lambda1.count)
        try check("eigenvalues[:, 1]", lambda2?.count)
        try check("output_layer_sharpness", outputLayerSharpness?.count)
        try check("r_norm_sq", rNormSqPerN?.count)
        try check("c1", c1?.count)
        try check("r_prime_error", rPrimeError?.count)
        try check("r_prime_relative_error", rPrimeRelativeError?.count)
        try check("phase", phase?.count)
        try check("anomaly", anomaly?.count)
        try check("hover", hover?.count)
        if let i = SeriesInvariants.firstNonIncreasingIndex(steps) {
            throw ReportError.stepsNotIncreasing(run: runName, index: i)
        }
        if let h = hessianSharpness {
            if h.values.count != h.steps.count {
                throw ReportError.lengthMismatch(run: runName, field: "hessian_sharpness", expected: h.steps.count, actual: h.values.count)
            }
            if let i = SeriesInvariants.firstNonIncreasingIndex(h.steps) {
                throw ReportError.stepsNotIncreasing(run: runName + " (hessian_step)", index: i)
            }
        }
        if let phase {
            for (i, p) in phase.enumerated() where !(1...4).contains(p) {
                throw ReportError.invalidPhase(run: runName, index: i, value: p)
            }
        }
    }

    /// The same run restricted to steps in [from, to] (either bound may be nil = open).
    /// Validates first; throws `invalidWindow` when from > to and `emptyWindow` when no recorded
    /// step is inside.
    /// - Complexity: O(T).
    public func window(from: Int?, to: Int?) throws -> ReportInput {
        try validate()
        if let from, let to, from > to { throw ReportError.invalidWindow(run: runName, from: from, to: to) }
        let lo = from ?? Int.min, hi = to ?? Int.max
        // steps are increasing: the window is one contiguous index range.
        guard let a = steps.firstIndex(where: { $0 >= lo }), steps[a] <= hi else {
            throw ReportError.emptyWindow(run: runName, from: from, to: to, first: steps.first, last: steps.last)
        }
        let b = steps.lastIndex(where: { $0 <= hi })!
        let r = a...b
        func cut<T>(_ v: [T]) -> [T] { Array(v[r]) }
        func cutOpt<T>(_ v: [T]?) -> [T]? { v.map { Array($0[r]) } }
        var out = self
        out.steps = cut(steps)
        out.loss = cut(loss)
        out.sharpness = cut(sharpness)
        out.outputNormSq = cut(outputNormSq)
        out.lambda1 = cut(lambda1)
        out.lambda2 = cutOpt(lambda2)
        out.outputLayerSharpness = cutOpt(outputLayerSharpness)
        out.rNormSqPerN = cutOpt(rNormSqPerN)
        out.c1 = cutOpt(c1)
        out.rPrimeError = cutOpt(rPrimeError)
        out.rPrimeRelativeError = cutOpt(rPrimeRelativeError)
        out.phase = cutOpt(phase)
        out.anomaly = cutOpt(anomaly)
        out.hover = cutOpt(hover)
        if let h = hessianSharpness {
            let keep = h.steps.indices.filter { h.steps[$0] >= lo && h.steps[$0] <= hi }
            out.hessianSharpness = (keep.map { h.steps[$0] }, keep.map { h.values[$0] })
        }
        return out
    }
}
