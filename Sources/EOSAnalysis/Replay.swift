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
/// backwards restarts from a checkpoint. Per requested row: one forward/backward pass
/// (`ModelEvaluator.evaluateDeferringGram`), then M(t) applied to the requested vectors without
/// forming it (`DeferredGram.apply`: per layer a factored product or a dense syrk term, whichever
/// is cheaper); `gram(atRow:)` forms the dense M on request.
///
/// `pipelined` (default on ≥ 2 cores): a producer thread (`ReplayPipeline`) runs the GD chain —
/// forward, backward, gradient, θ update — a few rows ahead, its large products in two halves on
/// two threads (`ModelEvaluator.twoThreadChain`, enabled only where the halves are checked to give
/// the same bits), and the caller's thread applies M from the queued `DeferredGram`s. Every result
/// is bit-identical either way.
/// Not thread-safe itself: one caller thread.
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

    // Serial replay state: θ at the walker's step (and its gradient when computed).
    private var walker = ReplayWalker()
    // Pipelined replay: a producer thread runs the GD chain ahead; rows up to `lastPoppedRow` are consumed.
    private let pipelined: Bool
    private var pipeline: ReplayPipeline?
    private var lastPoppedRow = -1
    private var cachedRow: Int?
    private var cachedLater: ModelEvaluator.DeferredGram?
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
                recordedResidual: @escaping (Int) throws -> [Double], fileName: String,
                pipelined: Bool = ProcessInfo.processInfo.activeProcessorCount >= 2) throws {
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
        self.pipelined = pipelined
        // The producer's GD chain is the pipeline's longer half: its large products run in two
        // halves (bit-identical, checked by the evaluator), using the consumer's spare time.
        evaluator.twoThreadChain = pipelined
    }

    deinit { pipeline?.stop() }

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
        var stats = ReplayWalker.Stats()
        defer { merge(stats) }
        return try walker.advance(to: target, checkpointSteps: checkpointSteps, eta: eta, stats: &stats,
                                  loadCheckpoint: { try loadCheckpoint($0) },
                                  gradient: { th in
                                      // `evaluate` (not `lossAndGradient`): the recorder's gradient, bit for bit.
                                      try wrap { try evaluator.evaluate(th, options: EvaluationOptions(gram: false, outputLayerSharpness: false)).gradient }
                                  })
    }

    private func merge(_ s: ReplayWalker.Stats) {
        maxCheckpointDrift = max(maxCheckpointDrift, s.maxCheckpointDrift)
        checkpointsCompared += s.checkpointsCompared
        stepsReplayed += s.stepsReplayed
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as AnalysisError { throw e } catch {
            throw AnalysisError.replay(file: fileName, problem: "\(error)")
        }
    }

    /// Evaluates at row (replaying up to it) and caches M, the gradient and DᵀF.
    private func prepare(row: Int) throws -> Bool {
        if cachedRow == row { return true }
        guard steps[row] >= checkpointSteps[0] else { return false }
        let ev: StepEvaluation, later: ModelEvaluator.DeferredGram
        if pipelined {
            (ev, later) = try pipelinedEvaluation(row: row)
        } else {
            guard try advance(to: steps[row]) else { return false }
            (ev, later) = try wrap { try evaluator.evaluateDeferringGram(walker.theta) }
            walker.cachedGradient = ev.gradient
            walker.cachedGradientStep = walker.currentStep
        }
        cachedLater = later
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

    /// The row's evaluation from the producer thread, with the caches to apply M here. A row at or before one
    /// already consumed restarts the producer from a checkpoint (as the serial replay restarts); a
    /// later row discards the rows in between (their checkpoint comparisons still count).
    private func pipelinedEvaluation(row: Int) throws -> (StepEvaluation, ModelEvaluator.DeferredGram) {
        if pipeline == nil || row <= lastPoppedRow {
            pipeline?.stop()
            pipeline = ReplayPipeline(evaluator: evaluator, steps: steps, checkpointSteps: checkpointSteps,
                                      eta: eta, startRow: row, fileName: fileName)
            lastPoppedRow = row - 1
        }
        let pl = pipeline!
        while true {
            let item: ReplayPipeline.Item
            do { item = try pl.pop(loadCheckpoint: { try self.loadCheckpoint($0) }) } catch {
                pl.stop(); pipeline = nil; throw error
            }
            lastPoppedRow = item.row
            merge(item.stats)
            if let e = item.error { pl.stop(); pipeline = nil; throw e }
            guard item.row <= row, let ev = item.evaluation, let later = item.later else {
                pl.stop(); pipeline = nil
                throw AnalysisError.replay(file: fileName, problem: "internal: replay pipeline skipped row \(row)")
            }
            if item.row == row { return (ev, later) }
        }
    }

    /// The dense M(t) (formed on first request for the row).
    public func gram(atRow row: Int) throws -> [Double]? {
        guard try prepare(row: row), let later = cachedLater else { return nil }
        if cachedGram == nil { cachedGram = later.gram() }
        return cachedGram?.data
    }

    /// M(t) applied without forming it (`DeferredGram.apply`: per layer the cheaper of a factored
    /// product and a dense syrk term), unless the dense M of this row is already at hand.
    public func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]? {
        guard try prepare(row: row), let later = cachedLater else { return nil }
        if let m = cachedGram { return applyDense(m.data, n: m.rows, to: vectors, count: count) }
        return later.apply(to: vectors, count: count)
    }

    /// Two-layer linear model: M*(t) D = M(t) D − (4η/(n² m)) (DᵀF) X Xᵀ D (SPEC §1), with M the
    /// exact Gram at the replayed θ(t). nil for other models.
    public func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]? {
        guard isTwoLayerLinear, try prepare(row: row), cachedLater != nil else { return nil }
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

/// θ(t) by plain GD from checkpoints: the state shared by the serial replay and the producer thread.
struct ReplayWalker {
    struct Stats {
        var maxCheckpointDrift = 0.0
        var checkpointsCompared = 0
        var stepsReplayed = 0
    }
    var theta: [Double] = []
    var currentStep: Int64?
    var cachedGradientStep: Int64?
    var cachedGradient: [Double] = []

    /// Moves to `target`; returns false when `target` precedes the first checkpoint. `gradient(θ)`
    /// must be the recorder's ∇L (from `evaluate`/`evaluateDeferringGram`), bit for bit.
    mutating func advance(to target: Int64, checkpointSteps: [Int64], eta: Double, stats: inout Stats,
                          loadCheckpoint: (Int) throws -> [Double],
                          gradient: ([Double]) throws -> [Double]) throws -> Bool {
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
            let g = cachedGradientStep == currentStep ? cachedGradient : try gradient(theta)
            BLAS.axpy(-eta, g, &theta)
            currentStep! += 1
            stats.stepsReplayed += 1
            cachedGradientStep = nil
            if nextCk < checkpointSteps.count && checkpointSteps[nextCk] == currentStep! {
                let ck = try loadCheckpoint(nextCk)
                var diff = 0.0, norm = 0.0
                for i in 0..<ck.count { let e = theta[i] - ck[i]; diff += e * e; norm += ck[i] * ck[i] }
                let drift = norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
                stats.maxCheckpointDrift = max(stats.maxCheckpointDrift, drift)
                stats.checkpointsCompared += 1
                theta = ck
                nextCk += 1
            }
        }
        return true
    }
}

/// The producer of the pipelined replay: a thread that runs the GD chain ahead of the analyzer,
/// θ(t) → `evaluateDeferringGram(θ)` → θ(t+1), and queues each row's evaluation with its
/// `DeferredGram` (at most `capacity` rows ahead, bounding memory). The consumer forms M. Every
/// BLAS call is single-threaded with the serial replay's inputs, so results are bit-identical.
///
/// Checkpoints are read by the consumer (HDF5 is not thread-safe): the producer posts a request
/// and waits; the consumer serves it while popping. Errors travel in the queue at their row, so
/// the consumer throws them exactly where the serial replay would.
///
/// @unchecked Sendable: every mutable field is guarded by `cond`; the evaluator is used by the
/// producer thread alone while it runs (the consumer touches only its immutable X and network and
/// the `DeferredGram`s, documented safe on another thread), and `stop()` joins the thread.
final class ReplayPipeline: @unchecked Sendable {
    struct Item {
        var row: Int
        var evaluation: StepEvaluation?
        var later: ModelEvaluator.DeferredGram?
        var stats: ReplayWalker.Stats
        var error: (any Error)?
    }
    private struct Cancelled: Error {}

    private let cond = NSCondition()
    private var queue: [Item] = []
    private var cancelled = false
    private var finished = false
    private var request: Int?
    private var reply: Result<[Double], any Error>?
    private let exited = DispatchSemaphore(value: 0)
    private var joined = false
    private let capacity = 3
    private let evaluator: ModelEvaluator   // the producer's alone while it runs
    private let fileName: String

    init(evaluator: ModelEvaluator, steps: [Int64], checkpointSteps: [Int64], eta: Double, startRow: Int, fileName: String) {
        self.evaluator = evaluator
        self.fileName = fileName
        let thread = Thread { [self] in
            produce(evaluator: self.evaluator, steps: steps, checkpointSteps: checkpointSteps, eta: eta,
                    startRow: startRow, fileName: fileName)
        }
        thread.name = "eostrace.replay.producer"
        thread.start()
    }

    /// Stops the producer and waits for its thread to end (at most one evaluation). Idempotent.
    func stop() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        let wait = !joined
        joined = true
        cond.unlock()
        if wait { exited.wait() }
    }

    /// The next row's item, serving checkpoint requests meanwhile.
    func pop(loadCheckpoint: (Int) throws -> [Double]) throws -> Item {
        cond.lock()
        defer { cond.unlock() }
        while true {
            if let j = request, reply == nil {
                cond.unlock()
                let r = Result { try loadCheckpoint(j) }
                cond.lock()
                reply = r
                cond.broadcast()
                continue
            }
            if !queue.isEmpty {
                let item = queue.removeFirst()
                cond.broadcast()
                return item
            }
            if finished { throw AnalysisError.replay(file: fileName, problem: "internal: replay producer ended early") }
            cond.wait()
        }
    }

    private var isCancelled: Bool { cond.lock(); defer { cond.unlock() }; return cancelled }

    private func requestCheckpoint(_ j: Int) throws -> [Double] {
        cond.lock()
        defer { cond.unlock() }
        request = j
        reply = nil
        cond.broadcast()
        while reply == nil && !cancelled { cond.wait() }
        if cancelled { throw Cancelled() }
        let r = reply!
        request = nil
        reply = nil
        return try r.get()
    }

    /// False when cancelled.
    private func push(_ item: Item) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while queue.count >= capacity && !cancelled { cond.wait() }
        if cancelled { return false }
        queue.append(item)
        cond.broadcast()
        return true
    }

    private func produce(evaluator: ModelEvaluator, steps: [Int64], checkpointSteps: [Int64], eta: Double,
                         startRow: Int, fileName: String) {
        defer {
            cond.lock(); finished = true; cond.broadcast(); cond.unlock()
            exited.signal()
        }
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as AnalysisError { throw e } catch {
                throw AnalysisError.replay(file: fileName, problem: "\(error)")
            }
        }
        var walker = ReplayWalker()
        var stats = ReplayWalker.Stats()
        for row in startRow..<steps.count where steps[row] >= checkpointSteps[0] {
            do {
                _ = try walker.advance(to: steps[row], checkpointSteps: checkpointSteps, eta: eta, stats: &stats,
                                       loadCheckpoint: { try requestCheckpoint($0) },
                                       gradient: { th in
                                           if isCancelled { throw Cancelled() }
                                           return try wrap { try evaluator.evaluateDeferringGram(th).0.gradient }
                                       })
                if isCancelled { return }
                let (ev, later) = try wrap { try evaluator.evaluateDeferringGram(walker.theta) }
                walker.cachedGradient = ev.gradient
                walker.cachedGradientStep = walker.currentStep
                guard push(Item(row: row, evaluation: ev, later: later, stats: stats, error: nil)) else { return }
                stats = ReplayWalker.Stats()
            } catch is Cancelled {
                return
            } catch {
                _ = push(Item(row: row, evaluation: nil, later: nil, stats: stats, error: error))
                return
            }
        }
    }
}
