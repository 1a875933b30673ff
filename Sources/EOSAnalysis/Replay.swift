import EOSModels
import EOSNumerics
import EOSRun
import Foundation

/// Exact M(t) by replaying GD from parameter checkpoints (docs/ANALYSIS.md).
///
/// θ(t) is rebuilt by plain GD, θ ← θ − η∇L(θ), from the nearest checkpoint at or before t. When the
/// replay reaches a later checkpoint, the replayed θ is compared with it (relative drift) and
/// replaced by it, so drift never accumulates across checkpoint intervals. At every row whose Gram
/// the analyzer asks for, the replayed D(t) is compared with the recorded one. Rows before the first
/// checkpoint get nil (the analyzer uses the top-k approximation there and counts them).
///
/// Requests must come in increasing row order for linear cost (the analyzer does this); going
/// backwards restarts from a checkpoint. Per requested row: one forward/backward pass
/// (`ModelEvaluator.evaluateDeferringGram`), then M(t) applied to the requested vectors without
/// forming it (`DeferredGram.apply`: per layer a factored product or a dense syrk term, whichever
/// is cheaper); `gram(atRow:)` forms the dense M on request.
///
/// θ(t) comes from a `GDChain` (EOSRun) whose targets are the requested rows' steps.
/// `pipelined` (default on ≥ 2 cores): the chain runs on a producer thread —
/// forward, backward, gradient, θ update — a few rows ahead, its large products in two halves on
/// two threads (`ModelEvaluator.twoThreadChain`, enabled only where the halves are checked to give
/// the same bits), and the caller's thread applies M from the queued `DeferredGram`s. Every result
/// is bit-identical either way.
///
/// Several outputs (c > 1, `outputs`): the chain yields `MultiOutputGram` items (the factors
/// H_l, Δ_l of `evaluateMultiOutput`, as the recorder uses them), and M·V is their matrix-free
/// product over vectors of n·c entries (sample-major); `gram(atRow:)` forms the dense nc × nc M
/// (n·c ≤ 4,096 only; beyond it nil, and the analyzer uses the top-k approximation there).
/// Not thread-safe itself: one caller thread.
public final class ReplayGramProvider: GramProvider {
    public let source: GramSource = .exact
    public var label: String {
        "Gram by replay from \(checkpointSteps.count) checkpoint\(checkpointSteps.count == 1 ? "" : "s")"
    }

    private let evaluator: ModelEvaluator
    private let isTwoLayerLinear: Bool
    private let eta: Double
    private let steps: [Int64]
    /// Steps of the checkpoints it replays from.
    public let checkpointSteps: [Int64]
    private let checkpoint: (Int) throws -> [Double]
    private let recordedResidual: (Int) throws -> [Double]
    private let fileName: String

    // The GD chain from `chainStartRow` (on a producer thread when `pipelined`); rows up to
    // `lastPoppedRow` are consumed.
    private let pipelined: Bool
    private var chain: GDChain?
    private var chainStartRow = 0
    private var lastPoppedRow = -1
    private var cachedRow: Int?
    private var cachedLater: ModelEvaluator.DeferredGram?
    private var cachedMulti: ModelEvaluator.MultiOutputGram?
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
    ///   - outputs: c, the number of outputs (Y and the recorded residuals then have n·c entries).
    /// - Throws: `AnalysisError.replay` when there are no checkpoints or the data do not fit the model.
    public init(model: ModelDescription, X: Matrix, Y: [Double], learningRate: Double, steps: [Int64],
                checkpointSteps: [Int64], checkpoint: @escaping (Int) throws -> [Double],
                recordedResidual: @escaping (Int) throws -> [Double], fileName: String,
                pipelined: Bool = ProcessInfo.processInfo.activeProcessorCount >= 2, outputs: Int = 1) throws {
        guard !checkpointSteps.isEmpty else {
            throw AnalysisError.replay(file: fileName, problem: "no parameter checkpoints (/trajectory/parameters)")
        }
        do {
            evaluator = try RunSetup.evaluator(model: model, X: X, Y: Y, outputs: outputs).1
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
        self.pipelined = pipelined
        // The producer's GD chain is the pipeline's longer half: its large products run in two
        // halves (bit-identical, checked by the evaluator), using the consumer's spare time.
        evaluator.twoThreadChain = pipelined
    }

    deinit { chain?.stop() }

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

    private func merge(_ s: GDChain.Stats) {
        maxCheckpointDrift = max(maxCheckpointDrift, s.maxCheckpointDrift)
        checkpointsCompared += s.checkpointsCompared
        stepsReplayed += s.stepsReplayed
    }

    /// Evaluates at row (replaying up to it) and caches M, the gradient and DᵀF.
    private func prepare(row: Int) throws -> Bool {
        if cachedRow == row { return true }
        guard steps[row] >= checkpointSteps[0] else { return false }
        let (ev, later, multi) = try chainEvaluation(row: row)
        cachedLater = later
        cachedMulti = multi
        cachedGram = nil
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

    /// The row's evaluation from the GD chain, with the caches to apply M here. A row at or before
    /// one already consumed restarts the chain from a checkpoint; a later row skips the rows in
    /// between (their checkpoint comparisons still count). On an error the chain is dropped.
    private func chainEvaluation(row: Int) throws
        -> (StepEvaluation, ModelEvaluator.DeferredGram?, ModelEvaluator.MultiOutputGram?) {
        if chain == nil || row <= lastPoppedRow {
            chain?.stop()
            let name = fileName
            chain = GDChain(evaluator: evaluator, learningRate: eta, targets: Array(steps[row...]), checkpointSteps: checkpointSteps,
                            loadCheckpoint: { [unowned self] in try self.loadCheckpoint($0) },
                            options: GDChain.Options(mapEvaluationError: { error in
                                if error is AnalysisError { return error }
                                return AnalysisError.replay(file: name, problem: "\(error)")
                            }, threaded: pipelined, capacity: 3))
            chainStartRow = row
        }
        let ch = chain!
        lastPoppedRow = row
        defer { merge(ch.takeStats()) }
        do {
            let item = try ch.item(at: row - chainStartRow)
            guard let ev = item.evaluation, item.later != nil || item.multiOutput != nil else { throw GDChain.Ended() }
            return (ev, item.later, item.multiOutput)
        } catch let e as GDChain.Ended {
            ch.stop(); chain = nil
            throw AnalysisError.replay(file: fileName, problem: "\(e) (row \(row))")
        } catch {
            ch.stop(); chain = nil
            throw error
        }
    }

    /// The dense M(t) (formed on first request for the row).
    public func gram(atRow row: Int) throws -> [Double]? {
        guard try prepare(row: row) else { return nil }
        if let multi = cachedMulti {
            // Dense nc × nc only up to the limit (`denseGram` throws above it): nil = not available.
            if cachedGram == nil { cachedGram = try? multi.denseGram() }
            return cachedGram?.data
        }
        guard let later = cachedLater else { return nil }
        if cachedGram == nil { cachedGram = later.gram() }
        return cachedGram?.data
    }

    /// M(t) applied without forming it (`DeferredGram.apply`: per layer the cheaper of a factored
    /// product and a dense syrk term), unless the dense M of this row is already at hand.
    public func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]? {
        guard try prepare(row: row) else { return nil }
        if let m = cachedGram { return applyDense(m.data, n: m.rows, to: vectors, count: count) }
        if let multi = cachedMulti {
            let nc = multi.dimension
            guard count > 0, vectors.count == count * nc else {
                throw AnalysisError.gram(row: row, problem: "\(vectors.count) values for \(count) vectors of n·c = \(nc)")
            }
            return multi.apply(to: Matrix(rows: count, cols: nc, data: vectors)).data
        }
        guard let later = cachedLater else { return nil }
        return later.apply(to: vectors, count: count)
    }

    /// Two-layer linear model: M*(t) D = M(t) D − (4η/(n² m)) (DᵀF) X Xᵀ D (README, What it computes), with M the
    /// exact Gram at the replayed θ(t). nil for other models.
    public func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]? {
        guard isTwoLayerLinear, evaluator.network.outputCount == 1, try prepare(row: row), cachedLater != nil else { return nil }
        let n = vector.count
        let width = Double(evaluator.network.outputLayerWidth)
        guard var out = try applyGram(atRow: row, to: vector, count: 1) else { return nil }
        let xtv = BLAS.gemv(evaluator.X, vector, trans: .transpose)   // Xᵀ D (d)
        let xxtv = BLAS.gemv(evaluator.X, xtv)                         // X Xᵀ D (n)
        let c = 4 * eta / (Double(n) * Double(n) * width) * cachedDtf
        for i in 0..<n { out[i] -= c * xxtv[i] }
        return out
    }
}
