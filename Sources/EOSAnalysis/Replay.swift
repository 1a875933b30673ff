import EOSModels
import EOSNumerics
import Foundation

/// Exact M(t) by replaying GD from parameter checkpoints (SPEC §3.3).
///
/// θ(t) is rebuilt by plain GD, θ ← θ − η∇L(θ), from the nearest checkpoint at or before t. When the
/// replay reaches a later checkpoint, the replayed θ is compared with it (relative drift) and
/// replaced by it, so drift never accumulates across checkpoint intervals. At every row whose Gram
/// the analyzer asks for, the replayed D(t) is compared with the recorded one. Rows before the first
/// checkpoint get nil (the analyzer uses the top-k approximation there and counts them).
///
/// Requests must come in increasing row order for linear cost (the analyzer does this); going
/// backwards restarts from a checkpoint. Per requested row: one forward/backward pass with the exact
/// per-layer Gram (`ModelEvaluator.evaluate`), O(n p + n² Σ widths); M is applied with BLAS.
public final class ReplayGramProvider: GramProvider {
    public let source: GramSource = .exact
    public var label: String {
        "exact Gram by replay from \(checkpointSteps.count) checkpoint\(checkpointSteps.count == 1 ? "" : "s")"
    }

    private let evaluator: ModelEvaluator
    private let isTwoLayerLinear: Bool
    private let eta: Double
    private let steps: [Int64]
    private let checkpointSteps: [Int64]
    private let checkpoint: (Int) throws -> [Double]
    private let recordedResidual: (Int) throws -> [Double]
    private let fileName: String

    // Replay state: θ at `currentStep`, and its evaluation (when computed).
    private var theta: [Double] = []
    private var currentStep: Int64?
    private var cachedGradientStep: Int64?
    private var cachedGradient: [Double] = []
    private var cachedRow: Int?
    private var cachedGram: Matrix?
    private var cachedDtf = 0.0

    /// Largest relative drift of replayed D against recorded D, and where.
    public private(set) var maxResidualDrift = 0.0
    public private(set) var maxResidualDriftStep: Int64?
    /// ‖D_replay(t) − D_recorded(t)‖/‖D_recorded(t)‖ at the last row evaluated.
    public private(set) var lastResidualDrift: Double?
    /// Largest relative drift of replayed θ against a checkpoint it reached.
    public private(set) var maxCheckpointDrift = 0.0
    public private(set) var checkpointsCompared = 0
    /// GD steps replayed.
    public private(set) var stepsReplayed = 0

    /// - Parameters:
    ///   - steps: the analysis rows' steps (as in `AnalysisInput.steps`).
    ///   - checkpointSteps: steps of the stored θ, increasing; `checkpoint(j)` returns θ at
    ///     `checkpointSteps[j]` (before that step's update).
    ///   - recordedResidual: row → recorded D(t) (n).
    ///   - fileName: names the recording in errors.
    /// - Throws: `AnalysisError.replay` when there are no checkpoints or the data do not fit the model.
    public init(model: ModelDescription, X: Matrix, Y: [Double], learningRate: Double, steps: [Int64],
                checkpointSteps: [Int64], checkpoint: @escaping (Int) throws -> [Double],
                recordedResidual: @escaping (Int) throws -> [Double], fileName: String) throws {
        guard !checkpointSteps.isEmpty else {
            throw AnalysisError.replay(file: fileName, problem: "no parameter checkpoints (/trajectory/parameters)")
        }
        do {
            evaluator = try ModelEvaluator(network: try Network(model), X: X, Y: Y)
        } catch {
            throw AnalysisError.replay(file: fileName, problem: "cannot build the model: \(error)")
        }
        if case .twoLayerLinear = model { isTwoLayerLinear = true } else { isTwoLayerLinear = false }
        eta = learningRate
        self.steps = steps
        self.checkpointSteps = checkpointSteps
        self.checkpoint = checkpoint
        self.recordedResidual = recordedResidual
        self.fileName = fileName
    }

    /// The replay report for the result.
    public var report: ReplayReport {
        ReplayReport(checkpoints: checkpointSteps.count, maxRelativeDriftResidual: maxResidualDrift,
                     maxDriftStep: maxResidualDriftStep, maxRelativeDriftCheckpoint: maxCheckpointDrift)
    }

    private func loadCheckpoint(_ j: Int) throws -> [Double] {
        let th = try checkpoint(j)
        do { try evaluator.network.checkParameters(th, object: "checkpoint at step \(checkpointSteps[j])") } catch {
            throw AnalysisError.replay(file: fileName, problem: "\(error)")
        }
        return th
    }

    /// Moves the replay to `target`; returns false when `target` precedes the first checkpoint.
    private func advance(to target: Int64) throws -> Bool {
        // Nearest checkpoint at or before target.
        var lo = 0, hi = checkpointSteps.count
        while lo < hi { let mid = (lo + hi) / 2; if checkpointSteps[mid] <= target { lo = mid + 1 } else { hi = mid } }
        let j = lo - 1
        guard j >= 0 else { return false }
        // Start from the checkpoint only when there is no usable state; otherwise keep replaying
        // forward, so that every checkpoint passed on the way is compared with the replayed θ.
        if currentStep == nil || currentStep! > target {
            theta = try loadCheckpoint(j)
            currentStep = checkpointSteps[j]
            cachedGradientStep = nil
        }
        // First checkpoint after the current state.
        var nextCk = j
        while nextCk > 0 && checkpointSteps[nextCk - 1] > currentStep! { nextCk -= 1 }
        while nextCk < checkpointSteps.count && checkpointSteps[nextCk] <= currentStep! { nextCk += 1 }
        while currentStep! < target {
            let g: [Double]
            if cachedGradientStep == currentStep { g = cachedGradient } else {
                // `evaluate` (not `lossAndGradient`): the recorder's gradient, bit for bit.
                g = try wrap { try evaluator.evaluate(theta, options: EvaluationOptions(gram: false, outputLayerSharpness: false)).gradient }
            }
            BLAS.axpy(-eta, g, &theta)
            currentStep! += 1
            stepsReplayed += 1
            cachedGradientStep = nil
            if nextCk < checkpointSteps.count && checkpointSteps[nextCk] == currentStep! {
                let ck = try loadCheckpoint(nextCk)
                var diff = 0.0, norm = 0.0
                for i in 0..<ck.count { let e = theta[i] - ck[i]; diff += e * e; norm += ck[i] * ck[i] }
                let drift = norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
                maxCheckpointDrift = max(maxCheckpointDrift, drift)
                checkpointsCompared += 1
                theta = ck
                nextCk += 1
            }
        }
        return true
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as AnalysisError { throw e } catch {
            throw AnalysisError.replay(file: fileName, problem: "\(error)")
        }
    }

    /// Evaluates at row (replaying up to it) and caches M, the gradient and DᵀF.
    private func prepare(row: Int) throws -> Bool {
        if cachedRow == row { return true }
        guard try advance(to: steps[row]) else { return false }
        let ev = try wrap { try evaluator.evaluate(theta, options: EvaluationOptions(gram: true, outputLayerSharpness: false)) }
        cachedGradient = ev.gradient
        cachedGradientStep = currentStep
        cachedGram = ev.gram
        cachedRow = row
        cachedDtf = ev.dtf
        let rec = try recordedResidual(row)
        guard rec.count == ev.residual.count else {
            throw AnalysisError.replay(file: fileName, problem: "recorded residual at step \(steps[row]) has \(rec.count) entries, model gives \(ev.residual.count)")
        }
        var diff = 0.0, norm = 0.0
        for i in 0..<rec.count { let e = ev.residual[i] - rec[i]; diff += e * e; norm += rec[i] * rec[i] }
        let drift = norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
        lastResidualDrift = drift
        if maxResidualDriftStep == nil || drift > maxResidualDrift {
            maxResidualDrift = drift
            maxResidualDriftStep = steps[row]
        }
        return true
    }

    public func gram(atRow row: Int) throws -> [Double]? {
        guard try prepare(row: row) else { return nil }
        return cachedGram?.data
    }

    public func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]? {
        guard try prepare(row: row), let m = cachedGram else { return nil }
        return applyDense(m.data, n: m.rows, to: vectors, count: count)
    }

    /// Two-layer linear model: M*(t) D = M(t) D − (4η/(n² m)) (DᵀF) X Xᵀ D (SPEC §1), with M the
    /// exact Gram at the replayed θ(t). nil for other models.
    public func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]? {
        guard isTwoLayerLinear, try prepare(row: row), let m = cachedGram else { return nil }
        let n = m.rows
        let width = Double(evaluator.network.outputLayerWidth)
        var out = applyDense(m.data, n: n, to: vector, count: 1)
        let xtv = BLAS.gemv(evaluator.X, vector, trans: .transpose)   // Xᵀ D (d)
        let xxtv = BLAS.gemv(evaluator.X, xtv)                         // X Xᵀ D (n)
        let c = 4 * eta / (Double(n) * Double(n) * width) * cachedDtf
        for i in 0..<n { out[i] -= c * xxtv[i] }
        return out
    }
}
