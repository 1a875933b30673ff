import EOSModels
import EOSNumerics
import Foundation

/// The GD chain of a run, θ(t+1) = θ(t) − η ∇L(θ(t)) with constant η, yielding the full
/// evaluation (`ModelEvaluator.evaluateDeferringGram`: F, D, L, ∇L, ‖A‖², DᵀF and the caches
/// for M; for a network with c > 1 outputs `evaluateMultiOutput`, whose `MultiOutputGram` holds
/// the factors of M, `Item.multiOutput`) at each of its target steps — the one chain under the recorder (`Trainer`: every
/// step) and the analyzer's replay (`ReplayGramProvider`: the rows whose M it needs).
///
/// θ starts from the nearest checkpoint at or before the first target (`checkpointSteps`,
/// increasing; `loadCheckpoint(j)` gives θ at `checkpointSteps[j]`, p). A trainer gives its start
/// as the one checkpoint. Passing a later checkpoint, the chain compares the replayed θ with it
/// (relative drift, `Stats`) and continues from the checkpoint. Between targets only ∇L is used
/// (from the same `evaluateDeferringGram`, so every θ is the recorder's bit for bit).
///
/// `threaded`: a producer thread runs the chain ahead of the caller (at most `capacity` items
/// queued, bounding memory); otherwise each `item(at:)` computes inline. The arithmetic is the
/// same single-threaded BLAS calls on the same inputs in the same order either way, so every
/// item is bit-identical. `loadCheckpoint` always runs on the caller's thread (HDF5 is not
/// thread-safe): the producer posts a request and waits, the caller serves it while waiting
/// for items. Errors travel in the queue at their item, so the caller gets them where the
/// inline chain would throw them.
///
/// @unchecked Sendable: every field the two threads share is guarded by `cond`; the evaluator is
/// used by the producer while it runs (the caller touches only the items, whose `DeferredGram`
/// and `GramWork` are documented safe on another thread), and `stop()` joins the producer.
public final class GDChain: @unchecked Sendable {
    /// Checkpoint comparisons and GD steps since the previous item (or `takeStats`).
    public struct Stats: Sendable {
        /// Largest relative drift ‖θ_replayed − θ_ck‖/‖θ_ck‖ at a checkpoint passed.
        public var maxCheckpointDrift = 0.0
        public var checkpointsCompared = 0
        /// θ updates done.
        public var stepsReplayed = 0
        public init() {}
        mutating func merge(_ s: Stats) {
            maxCheckpointDrift = max(maxCheckpointDrift, s.maxCheckpointDrift)
            checkpointsCompared += s.checkpointsCompared
            stepsReplayed += s.stepsReplayed
        }
    }

    /// The chain at one target step.
    public struct Item: @unchecked Sendable {
        /// Index into `targets`.
        public var index: Int
        public var step: Int64
        /// θ(step), before its update (p).
        public var theta: [Double]
        /// The evaluation at θ(step); nil when `halt` says θ(step) was not finite or the
        /// evaluation overflowed.
        public var evaluation: StepEvaluation?
        public var later: ModelEvaluator.DeferredGram?
        /// c > 1 outputs: the factors of M at θ(step) (dense M, matrix-free M·V, λ_max(M_A));
        /// `later` and `work` are nil then.
        public var multiOutput: ModelEvaluator.MultiOutputGram?
        /// M and λ_max(M_A) as pieces (`Options.gramWork`); the producer runs pieces while the
        /// item waits in the queue.
        public var work: GramWork?
        /// Why the chain stopped at this step (`Options.divergence`); no items follow.
        public var halt: String?
    }

    public struct Options {
        /// Stop the chain, with the reason in `Item.halt` (and no more items), when θ(t) is not
        /// finite ("parameters not finite"), when the evaluation overflows (the `NumericsError`'s
        /// text) or when this returns a reason for the evaluation. nil: no such checks (errors
        /// are thrown).
        public var divergence: (@Sendable (StepEvaluation) -> String?)?
        /// Attach `GramWork(outputLayerSharpness: true)` to the items at steps where this is true.
        public var gramWork: (@Sendable (Int64) -> Bool)?
        /// Maps an error of the evaluator (not of `loadCheckpoint`) before it is thrown.
        public var mapEvaluationError: @Sendable (any Error) -> any Error
        /// Run on a producer thread.
        public var threaded: Bool
        /// Items the producer may queue ahead of the caller.
        public var capacity: Int
        public init(divergence: (@Sendable (StepEvaluation) -> String?)? = nil, gramWork: (@Sendable (Int64) -> Bool)? = nil,
                    mapEvaluationError: @escaping @Sendable (any Error) -> any Error = { $0 },
                    threaded: Bool = false, capacity: Int = 3) {
            self.divergence = divergence; self.gramWork = gramWork; self.mapEvaluationError = mapEvaluationError
            self.threaded = threaded; self.capacity = max(capacity, 1)
        }
    }

    /// The chain ended before the item asked for (an internal error of the caller's requests).
    public struct Ended: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "internal: the GD chain ended before the requested step" }
    }
    private struct Cancelled: Error {}

    public let evaluator: ModelEvaluator
    public let learningRate: Double
    public let targets: [Int64]
    public let checkpointSteps: [Int64]
    private let loadCheckpoint: (Int) throws -> [Double]
    private let options: Options

    // Inline chain state, and the caller's running stats.
    private var walker = Walker()
    private var stats = Stats()
    private var lastIndex = -1
    private var halted = false

    // Producer hand-off, guarded by `cond`.
    private let cond = NSCondition()
    private var queue: [Queued] = []
    private var poppedThrough = -1
    private var cancelled = false
    private var finished = false
    private var request: Int?
    private var reply: Result<[Double], any Error>?
    private let exited = DispatchSemaphore(value: 0)
    private var joined = false

    /// - Parameters:
    ///   - targets: the steps to evaluate, increasing, none before `checkpointSteps[0]`.
    ///   - checkpointSteps: steps of the stored θ, increasing, not empty.
    ///   - loadCheckpoint: j → θ at `checkpointSteps[j]` (p); called on the caller's thread.
    public init(evaluator: ModelEvaluator, learningRate: Double, targets: [Int64], checkpointSteps: [Int64],
                loadCheckpoint: @escaping (Int) throws -> [Double], options: Options = Options()) {
        self.evaluator = evaluator
        self.learningRate = learningRate
        self.targets = targets
        self.checkpointSteps = checkpointSteps
        self.loadCheckpoint = loadCheckpoint
        self.options = options
        joined = !options.threaded
        if options.threaded {
            let thread = Thread { [self] in produce() }
            thread.name = "eostrace.gd-chain"
            thread.start()
        }
    }

    /// A chain from θ(`step`) = `theta` through `lastStep`, every step a target (the trainer's).
    public convenience init(evaluator: ModelEvaluator, learningRate: Double, theta: [Double], step: Int64,
                            lastStep: Int64, options: Options = Options()) {
        let start = theta
        self.init(evaluator: evaluator, learningRate: learningRate, targets: Array(step...max(step, lastStep)),
                  checkpointSteps: [step], loadCheckpoint: { _ in start }, options: options)
    }

    deinit { if !joined { stop() } }

    /// Stops the producer and waits for its thread to end (at most one evaluation). Idempotent.
    public func stop() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        let wait = !joined
        joined = true
        cond.unlock()
        if wait { exited.wait() }
    }

    /// The item at `targets[index]`; `index` must increase from call to call (items skipped are
    /// dropped, their stats kept for `takeStats`). Throws the chain's error at or before it.
    public func item(at index: Int) throws -> Item {
        precondition(index > lastIndex && index < targets.count, "GDChain: items must be asked for in increasing order")
        lastIndex = index
        if !options.threaded {
            guard !halted else { throw Ended() }
            var s = Stats()
            defer { stats.merge(s) }
            guard try walker.advance(to: targets[index], checkpointSteps: checkpointSteps, eta: learningRate, stats: &s,
                                     loadCheckpoint: loadCheckpoint,
                                     gradient: { th in try mapped { try gradient(th) } })
            else { throw Ended() }
            let it = try evaluate(index: index, walker: &walker)
            halted = it.halt != nil
            return it
        }
        while true {
            let q = try pop()
            stats.merge(q.stats)
            if let e = q.error { throw e }
            guard let it = q.item, it.index <= index, it.index == index || it.halt == nil else { throw Ended() }
            if it.index == index { return it }
        }
    }

    /// Stats accumulated since the last call.
    public func takeStats() -> Stats {
        defer { stats = Stats() }
        return stats
    }

    /// ∇L(θ) between targets, from the same evaluation the items use (bit for bit).
    private func gradient(_ theta: [Double]) throws -> [Double] {
        if evaluator.network.outputCount > 1 { return try evaluator.evaluateMultiOutput(theta).0.gradient }
        return try evaluator.evaluateDeferringGram(theta).0.gradient
    }

    private func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw options.mapEvaluationError(error) }
    }

    /// The item at the walker's θ (= θ(targets[index])); caches ∇L for the next update.
    private func evaluate(index: Int, walker: inout Walker) throws -> Item {
        let t = targets[index]
        var item = Item(index: index, step: t, theta: walker.theta)
        if options.divergence != nil, !walker.theta.allSatisfy({ $0.isFinite }) {
            item.halt = "parameters not finite"
            return item
        }
        let ev: StepEvaluation
        var later: ModelEvaluator.DeferredGram?
        do {
            if evaluator.network.outputCount > 1 {
                let (e, multi) = try evaluator.evaluateMultiOutput(walker.theta)
                ev = e
                item.multiOutput = multi
            } else {
                let (e, l) = try evaluator.evaluateDeferringGram(walker.theta)
                ev = e
                later = l
            }
        } catch let e as NumericsError where options.divergence != nil {
            // Overflow inside the network (e.g. Inf activations) is divergence, not a failure.
            item.halt = "\(e)"
            return item
        } catch {
            throw options.mapEvaluationError(error)
        }
        walker.cachedGradient = ev.gradient
        walker.cachedGradientStep = walker.currentStep
        item.evaluation = ev
        item.later = later
        if let why = options.divergence?(ev) {
            item.halt = why
            return item
        }
        if let later, options.gramWork?(t) == true { item.work = later.work(outputLayerSharpness: true) }
        return item
    }

    // MARK: producer thread

    /// A queued item, or the error the chain stopped with there; with the stats since the last.
    private struct Queued { var index: Int; var item: Item?; var error: (any Error)?; var stats: Stats }

    /// The next queued entry, serving checkpoint requests meanwhile.
    private func pop() throws -> Queued {
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
                let q = queue.removeFirst()
                poppedThrough = q.index
                cond.broadcast()
                return q
            }
            if finished { throw Ended() }
            cond.wait()
        }
    }

    private var isCancelled: Bool { cond.lock(); defer { cond.unlock() }; return cancelled }
    private func isPopped(_ index: Int) -> Bool { cond.lock(); defer { cond.unlock() }; return poppedThrough >= index || cancelled }

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
    private func push(_ q: Queued) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while queue.count >= options.capacity && !cancelled { cond.wait() }
        if cancelled { return false }
        queue.append(q)
        cond.broadcast()
        return true
    }

    private func produce() {
        defer {
            cond.lock(); finished = true; cond.broadcast(); cond.unlock()
            exited.signal()
        }
        var walker = Walker()
        var stats = Stats()
        for index in targets.indices {
            do {
                guard try walker.advance(to: targets[index], checkpointSteps: checkpointSteps, eta: learningRate, stats: &stats,
                                         loadCheckpoint: { try requestCheckpoint($0) },
                                         gradient: { th in
                                             if isCancelled { throw Cancelled() }
                                             return try mapped { try gradient(th) }
                                         })
                else { return }
                if isCancelled { return }
                let item = try evaluate(index: index, walker: &walker)
                guard push(Queued(index: index, item: item, error: nil, stats: stats)) else { return }
                stats = Stats()
                // While the caller is still busy with the previous item, run pieces of this one's
                // Gram here (bit-identical whichever thread runs which piece).
                if let work = item.work { while !isPopped(index) && work.helpOne() {} }
                if item.halt != nil { return }
            } catch is Cancelled {
                return
            } catch {
                _ = push(Queued(index: index, item: nil, error: error, stats: stats))
                return
            }
        }
    }
}

/// θ(t) by plain GD from checkpoints: the state of one chain.
struct Walker {
    var theta: [Double] = []
    var currentStep: Int64?
    var cachedGradientStep: Int64?
    var cachedGradient: [Double] = []

    /// Moves to `target`; returns false when `target` precedes the first checkpoint. `gradient(θ)`
    /// must be the recorder's ∇L (from `evaluateDeferringGram`), bit for bit.
    mutating func advance(to target: Int64, checkpointSteps: [Int64], eta: Double, stats: inout GDChain.Stats,
                          loadCheckpoint: (Int) throws -> [Double],
                          gradient: ([Double]) throws -> [Double]) throws -> Bool {
        // Nearest checkpoint at or before target.
        var lo = 0, hi = checkpointSteps.count
        while lo < hi { let mid = (lo + hi) / 2; if checkpointSteps[mid] <= target { lo = mid + 1 } else { hi = mid } }
        let j = lo - 1
        guard j >= 0 else { return false }
        // Start from the checkpoint only when there is no usable state; otherwise keep stepping
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
