import EOSModels
import EOSNumerics
import EOSRun
import Foundation
import TrajectoryFormat

/// Progress of a running `Trainer`, for progress lines.
public struct TrainerProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var loss: Double
    public var sharpness: Double
    /// 2/η.
    public var threshold: Double
    public var stepsPerSecond: Double
}

/// Summary of a finished (or stopped) run.
public struct TrainerOutcome: Sendable {
    public var status: RunStatus
    /// Last recorded step.
    public var lastStep: Int
    /// Largest relative eigenvalue discrepancy max_i |λ_i − λ_i^LAPACK| / |λ_1^LAPACK| over the cross-checks.
    public var maxCrossCheckDiscrepancy: Double
    public var crossChecks: Int
    /// Steps where the iterative eigensolver fell back to LAPACK.
    public var lapackFallbacks: Int
    /// Mean iterations of the warm-started eigensolver.
    public var meanEigenIterations: Double
    public var seconds: Double
    /// Why the run diverged, when it did.
    public var divergenceReason: String?
    /// The eigensolver totals of the whole run through `lastStep` (earlier parts of a resumed run
    /// included, from `Trainer.baseline`); nil when no step was recorded.
    public var totals: EigensolverTotals?
}

/// Statistics of the eigensolves of one `run`.
private struct SolveStats {
    var solves = 0, eigenIterations = 0
    var firstCheckpointStep = -1
}
/// What the recording work of one step reports back.
private struct RecordJobResult {
    var sharpness = 0.0
    var divergence: String?
    var error: Error?
}

/// Full-batch GD with constant η, recording every step (docs/FORMAT.md) into a `TrajectorySink`.
///
/// Per step t: one `ModelEvaluator.evaluate` (F, D, L, ∇L, ‖A‖², DᵀF, exact M, λ_max(M_A)), the
/// top-k eigenpairs of M by the warm-started `TopKEigensolver` (cross-checked against LAPACK every
/// `crossCheckEvery` steps), the full spectrum every `spectrumEvery`, Lanczos Hessian sharpness
/// every `hessianEvery`, checkpoints of θ every `checkpointEvery` plus the first and last step;
/// then θ ← θ − η∇L. Steps `startStep...config.steps` are recorded.
public final class Trainer {
    public let config: RunConfig
    public let evaluator: ModelEvaluator
    public private(set) var theta: [Double]
    public private(set) var step: Int
    private let solver: TopKEigensolver
    private var previousVectors: Matrix?
    private var skipRecordAtStart: Bool
    /// Totals of the earlier parts of a resumed run, through the checkpoint it continues from
    /// (read from `/run@eigensolver_check`); nil for a fresh run.
    public var baseline: EigensolverTotals?
    /// Totals through the last regular checkpoint (the fallback of an interrupt checkpoint).
    public var lastRegularTotals: EigensolverTotals?
    /// Step of the last checkpoint appended (or continued from).
    private var lastCheckpointStep: Int?
    /// The M-products' chains (format 1.1); nil when `config.recordsProducts` is false.
    public private(set) var chains: ProductChains?
    /// A resumed run's chain inputs at its checkpoint step c (rows at c and Λ(c−1)): the first
    /// step (not recorded again) recomputes M(c) and advances the chains from them.
    private var resumeChains: (rPrime: [Double], fromStart: [Double], residual: [Double], v1: [Double],
                               sharpness: Double, previousSharpness: Double?)?

    /// Whether a checkpoint taken at any step continues bit-identically: true when the top-k
    /// eigensolver solves densely (n ≤ max(dense threshold, 3·block)) and so has no warm-start
    /// state beyond the recorded eigenvectors. The iterative block solver's warm start is not in
    /// the rows: an interrupt stores it (`/resume`, `noteSolverState`); without it a stop
    /// continues from the last regular checkpoint.
    public var checkpointsAnywhere: Bool {
        Self.checkpointsAnywhere(n: evaluator.n, outputs: outputCount, k: config.k)
    }

    /// `checkpointsAnywhere` for a run of n samples with c outputs and k eigenpairs. c > 1,
    /// matrix-free: Lanczos' only state is its start vector, made from the stored eigenvectors of
    /// the previous step (`multiOutputStart`), so any checkpoint continues. Otherwise whether the
    /// block solver solves the (n·c) × (n·c) M densely.
    public static func checkpointsAnywhere(n: Int, outputs: Int, k: Int) -> Bool {
        if outputs > 1 && n * outputs > ModelEvaluator.denseMultiOutputLimit { return true }
        return solvesDensely(n: n * outputs, k: k)
    }

    /// Whether the trainer's top-k eigensolver (default `TopKOptions`) solves an n × n M densely
    /// for this k (then it keeps no warm-start state beyond the recorded eigenvectors).
    public static func solvesDensely(n: Int, k: Int) -> Bool {
        let o = TopKOptions()
        let b = min(k + (o.guardVectors ?? max(2, k / 2)), n)
        return n <= max(o.denseThreshold, 3 * b)
    }

    /// c, the network's outputs (1: the single-output recorder of format 1.x).
    public var outputCount: Int { evaluator.network.outputCount }
    /// j, the eigenvectors stored per step (k for c = 1; `config.eigenvectorsStored` ?? 1 for c > 1).
    public var storedEigenvectors: Int { config.storedEigenvectors(outputs: outputCount) }
    /// c > 1 with n·c ≤ `ModelEvaluator.denseMultiOutputLimit`: M is formed densely (as for
    /// c = 1: the block top-k solver, LAPACK cross-checks, spectrum, Gram, eigenvalues above a
    /// threshold). Above the limit every product with M is matrix-free
    /// (`MultiOutputGram.apply`) and the top-k pairs come from Lanczos.
    public var isDenseMultiOutput: Bool { evaluator.n * outputCount <= ModelEvaluator.denseMultiOutputLimit }

    /// Continues the eigensolver from a warm start saved at an interrupt checkpoint (its block
    /// and generator, `EigensolverWarmStart`), instead of the recorded eigenvectors: the next
    /// solves are then bit for bit those of the uninterrupted run. False when the state does not
    /// fit this run (shape or generator state).
    public func restoreSolver(_ state: EigensolverWarmStart) -> Bool {
        guard state.rows >= config.k, state.rows <= evaluator.n * outputCount, state.cols == evaluator.n * outputCount,
              state.block.count == state.rows * state.cols else { return false }
        return solver.restore(block: Matrix(rows: state.rows, cols: state.cols, data: state.block), rngState: state.rngState)
    }

    /// A fresh run from θ(0) = `theta`.
    public init(config: RunConfig, evaluator: ModelEvaluator, theta: [Double]) throws {
        try config.validate()
        try evaluator.network.checkParameters(theta, object: "initial parameters")
        let c = evaluator.network.outputCount
        if c == 1 {
            guard config.k <= evaluator.n else {
                throw RunError.invalidConfig(source: "config", problem: "k=\(config.k) exceeds n=\(evaluator.n)")
            }
        } else {
            let nc = evaluator.n * c
            guard config.k <= nc else {
                throw RunError.invalidConfig(source: "config", problem: "k=\(config.k) exceeds n·c=\(nc)")
            }
            if nc > ModelEvaluator.denseMultiOutputLimit {
                // What needs all of M (or its full spectrum) exists only where M is formed.
                for (key, v) in [("spectrum_every", config.spectrumEvery), ("gram_every", config.gramEvery)] where v > 0 {
                    throw RunError.invalidConfig(source: "config", problem: "\(key) = \(v) needs the dense M, formed only for n·c ≤ \(ModelEvaluator.denseMultiOutputLimit) (here n·c = \(nc)); set \(key) 0 (--\(key.replacingOccurrences(of: "_", with: "-")) 0)")
                }
                if config.eigenvalueThreshold != nil {
                    throw RunError.invalidConfig(source: "config", problem: "eigenvalue_threshold needs the dense M, formed only for n·c ≤ \(ModelEvaluator.denseMultiOutputLimit) (here n·c = \(nc)); drop --eigenvalue-threshold")
                }
            }
        }
        self.config = config; self.evaluator = evaluator; self.theta = theta; self.step = 0
        self.solver = TopKEigensolver(k: config.k, options: TopKOptions(tolerance: config.eigenTolerance))
        self.skipRecordAtStart = false
        self.chains = config.recordsProducts ? ProductChains(learningRate: config.learningRate) : nil
    }

    /// Turns the M-products off (a resumed file that has none).
    public func disableProducts() { chains = nil; resumeChains = nil }

    /// For a resume from the checkpoint at step c whose row is recorded: the recorded `r_prime`
    /// and `r_prime_from_start` at c, D(c), v1(c), Λ(c) and Λ(c−1) (nil when c is the first
    /// recorded step). Without this call a resumed run with products cannot continue its chains
    /// and `run` throws.
    public func continueChains(rPrime: [Double], fromStart: [Double], residual: [Double], v1: [Double],
                               sharpness: Double, previousSharpness: Double?) {
        resumeChains = (rPrime, fromStart, residual, v1, sharpness, previousSharpness)
    }

    /// Continues a run from a checkpoint θ(`step`) whose row is already recorded; `eigenvectors`
    /// are the recorded v_i(step) (k × n), used for sign continuity and as the warm start.
    /// With c > 1 outputs `eigenvectors` are the j stored ones (j × n·c).
    public convenience init(config: RunConfig, evaluator: ModelEvaluator, checkpoint theta: [Double], step: Int,
                eigenvectors: Matrix) throws {
        try self.init(config: config, evaluator: evaluator, theta: theta)
        let rows = storedEigenvectors, cols = evaluator.n * outputCount
        guard eigenvectors.rows == rows, eigenvectors.cols == cols else {
            throw RecorderError.shapeMismatch(object: "eigenvectors at step \(step)", expected: "\(rows) × \(cols)",
                                              got: "\(eigenvectors.rows) × \(eigenvectors.cols)")
        }
        self.step = step
        self.previousVectors = eigenvectors
        self.solver.setWarmStart(eigenvectors, seed: UInt64(step))
        self.skipRecordAtStart = true
        self.lastCheckpointStep = step
    }

    /// Run the GD chain (forward and backward pass, θ update) of step t+1 on a producer thread
    /// (`GDChain`) while this thread does the recording work of step t (M, eigensolve, sink
    /// writes); the producer also runs pieces of step t+1's M (`GramWork`) while step t is being
    /// recorded. The results are bit-identical either way (the recording work runs in step order,
    /// the eigensolver sees the same warm starts, and θ never depends on it). It only pays when a
    /// second core is idle: measured on the shared 2-core machine at load 9–12 it was ~20% slower
    /// than serial, so the default is serial and `eostrace record --pipeline auto` turns it on
    /// when the load average leaves a core free.
    public var pipelined = false

    /// Whether pipelining is likely to pay: ≥ 2 active processors and a 1-minute load average
    /// (from /proc/loadavg) at most processors − 1.
    public static func pipeliningLikelyHelps() -> Bool {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard cores >= 2 else { return false }
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let load = text.split(separator: " ").first.flatMap({ Double($0) }) else { return false }
        return load <= Double(cores - 1)
    }

    /// Runs until `config.steps`, divergence, or `shouldStop()` returns true (checked once per
    /// step, after the step is recorded). A resume continues from the last regular checkpoint
    /// (every `checkpointEvery` steps), where the eigensolver's warm start is reset, so resumed
    /// runs are bit-identical to uninterrupted ones.
    ///
    /// The GD chain (forward, backward, θ update) is a `GDChain`; with `pipelined` it runs on a
    /// producer thread one step ahead while this thread does the recording work, in step order.
    public func run(sink: TrajectorySink, shouldStop: () -> Bool = { false },
                    progress: (TrainerProgress) -> Void = { _ in }) throws -> TrainerOutcome {
        let c = config
        let start = Date()
        var outcome = TrainerOutcome(status: .running, lastStep: step, maxCrossCheckDiscrepancy: 0, crossChecks: 0,
                                     lapackFallbacks: 0, meanEigenIterations: 0, seconds: 0, divergenceReason: nil)
        var solves = SolveStats()
        let firstStep = step
        solves.firstCheckpointStep = firstStep
        let threshold = 2 / c.learningRate
        let skipFirst = skipRecordAtStart
        let divergenceLoss = c.divergenceLoss
        // A resume with products recomputes M at the checkpoint step to advance the chains.
        let firstNeedsGram = skipFirst && chains != nil
        if firstNeedsGram && resumeChains == nil {
            throw RecorderError.cannotResume(file: "(trainer)", problem: "the M-product chains at step \(firstStep) are unknown")
        }
        let chain = GDChain(evaluator: evaluator, learningRate: c.learningRate, theta: theta, step: Int64(firstStep),
                            lastStep: Int64(c.steps),
                            options: GDChain.Options(divergence: { Trainer.divergence($0, divergenceLoss: divergenceLoss) },
                                                     gramWork: { firstNeedsGram || !(skipFirst && $0 == Int64(firstStep)) },
                                                     threaded: pipelined, capacity: 1))
        defer { chain.stop() }
        func diverge(_ why: String) {
            outcome.status = .diverged; outcome.divergenceReason = why
        }
        for index in chain.targets.indices {
            let stepStart = Date()
            let item = try chain.item(at: index)
            let t = Int(item.step)
            theta = item.theta; step = t
            if let why = item.halt {
                diverge("step \(t): \(why)")
                break
            }
            if skipFirst && t == firstStep {
                // Already recorded: only the chains advance, from the recorded rows and M(c).
                if let multi = item.multiOutput, let rc = resumeChains {
                    var ch = ProductChains.resuming(learningRate: c.learningRate, rPrime: rc.rPrime, fromStart: rc.fromStart,
                                                    previousSharpness: rc.previousSharpness)
                    let dense = isDenseMultiOutput ? try multi.denseGram() : nil
                    _ = try Trainer.multiOutputProducts(&ch, residual: rc.residual, v1: rc.v1, sharpness: rc.sharpness,
                                                        dense: dense, multi: multi)
                    chains = ch
                    resumeChains = nil
                } else if let work = item.work, let rc = resumeChains {
                    var ch = ProductChains.resuming(learningRate: c.learningRate, rPrime: rc.rPrime, fromStart: rc.fromStart,
                                                    previousSharpness: rc.previousSharpness)
                    _ = ch.step(residual: rc.residual, v1: rc.v1, sharpness: rc.sharpness, gram: work.gram())
                    chains = ch
                    resumeChains = nil
                }
            } else if let multi = item.multiOutput, let ev = item.evaluation {
                let r = recordMultiOutputStep(t: t, ev: ev, multi: multi, theta: item.theta, sink: sink, outcome: &outcome,
                                              solves: &solves, started: stepStart)
                if let e = r.error { throw e }
                if let why = r.divergence { diverge(why); break }
                let elapsed = Date().timeIntervalSince(start)
                progress(TrainerProgress(step: t, totalSteps: c.steps, loss: ev.loss, sharpness: r.sharpness,
                                         threshold: threshold, stepsPerSecond: Double(t - firstStep + 1) / max(elapsed, 1e-9)))
            } else if let work = item.work, let ev = item.evaluation {
                let r = recordStep(t: t, ev: ev, work: work, theta: item.theta, sink: sink, outcome: &outcome, solves: &solves,
                                   started: stepStart)
                if let e = r.error { throw e }
                if let why = r.divergence { diverge(why); break }
                let elapsed = Date().timeIntervalSince(start)
                progress(TrainerProgress(step: t, totalSteps: c.steps, loss: ev.loss, sharpness: r.sharpness,
                                         threshold: threshold, stepsPerSecond: Double(t - firstStep + 1) / max(elapsed, 1e-9)))
            }
            if t >= c.steps {
                outcome.status = .completed
                break
            }
            if shouldStop() {
                // A checkpoint of θ(t) so that a resume continues from the interrupted step: with
                // a dense eigensolver (`checkpointsAnywhere`) the recorded eigenvectors are its
                // whole state; an iterative one's warm start (block and generator) goes to the
                // sink too, when it can store it (otherwise the resume starts from the last
                // regular checkpoint).
                // (c > 1: the warm start is n·c wide, which /resume's [warm_start, sample] layout
                // does not hold; such a stop continues from the last regular checkpoint.)
                let storesState = sink.storesSolverState && outputCount == 1
                let keepsState = checkpointsAnywhere || storesState
                if lastCheckpointStep != t && outcome.lastStep == t && keepsState, let regular = lastRegularTotals {
                    if !checkpointsAnywhere, let block = solver.block {
                        try sink.noteSolverState(EigensolverWarmStart(step: Int64(t), rows: block.rows, cols: block.cols,
                                                                      block: block.data, rngState: solver.rngState))
                    }
                    try sink.appendCheckpoint(step: t, parameters: item.theta)
                    var totals = totals(through: t, outcome: outcome, solves: solves)
                    totals.fallbackJSON = regular.json
                    try sink.noteCheckpoint(totals)
                    lastCheckpointStep = t
                }
                outcome.status = .interrupted
                break
            }
        }
        try sink.setStatus(outcome.status)
        outcome.totals = totals(through: outcome.lastStep, outcome: outcome, solves: solves)
        outcome.seconds = Date().timeIntervalSince(start)
        outcome.meanEigenIterations = solves.solves == 0 ? 0 : Double(solves.eigenIterations) / Double(solves.solves)
        return outcome
    }

    /// `baseline` plus this run's counts, through step `t`.
    private func totals(through t: Int, outcome: TrainerOutcome, solves: SolveStats) -> EigensolverTotals {
        var r = baseline ?? EigensolverTotals(step: t, tolerance: config.eigenTolerance)
        r.step = t
        r.tolerance = config.eigenTolerance
        r.checks += outcome.crossChecks
        r.lapackFallbacks += outcome.lapackFallbacks
        r.maxDiscrepancy = max(r.maxDiscrepancy, outcome.maxCrossCheckDiscrepancy)
        r.solves += solves.solves
        r.iterations += solves.eigenIterations
        return r
    }

    /// The cadenced extras of step t, after its row, for one output and for several: the spectrum
    /// and the Gram (only when M is dense), the Hessian sharpness (R-operator), and a regular
    /// checkpoint. Returns whether a checkpoint was taken (the caller then resets its solver's
    /// warm start to what a resume from it sees).
    private func appendCadenced(t: Int, dense M: Matrix?, theta: [Double], sink: TrajectorySink,
                                outcome: TrainerOutcome, solves: SolveStats) throws -> Bool {
        let c = config
        if c.spectrumEvery > 0 && t % c.spectrumEvery == 0, let M {
            try sink.appendSpectrum(step: t, eigenvalues: try SymmetricEigen.allEigenvalues(M))
        }
        if c.gramEvery > 0 && t % c.gramEvery == 0, let M { try sink.appendGram(step: t, matrix: M) }
        if c.hessianEvery > 0 && t % c.hessianEvery == 0 {
            let op = try HessianOperator(evaluator: evaluator, theta: theta)
            let lz = try op.sharpness(maxIterations: 100, tolerance: 1e-8, seed: UInt64(t) &+ 1)
            try sink.appendHessianSharpness(step: t, value: lz.value)
        }
        guard t == solves.firstCheckpointStep || t == c.steps || (c.checkpointEvery > 0 && t % c.checkpointEvery == 0) else {
            return false
        }
        try sink.appendCheckpoint(step: t, parameters: theta)
        let totals = totals(through: t, outcome: outcome, solves: solves)
        try sink.noteCheckpoint(totals)
        lastRegularTotals = totals
        lastCheckpointStep = t
        return true
    }

    /// The recording work of step t: M, λ_max(M_A), the top-k eigenpairs (warm-started), signs,
    /// the cross-check, the row, and the cadenced extras. Runs in step order.
    private func recordStep(t: Int, ev: StepEvaluation, work: GramWork, theta: [Double], sink: TrajectorySink,
                            outcome: inout TrainerOutcome, solves: inout SolveStats, started: Date) -> RecordJobResult {
        let c = config
        var ev = ev
        do {
            let M = work.gram()
            do { ev.outputLayerSharpness = try work.outputLayerSharpness() } catch let e as NumericsError {
                return RecordJobResult(divergence: "step \(t): \(e)")
            }
            if !M.isFinite { return RecordJobResult(divergence: "step \(t): Gram matrix not finite") }
            let r = try solver.solve(M)
            solves.solves += 1; solves.eigenIterations += r.iterations
            if r.usedLAPACK && M.rows > 64 { outcome.lapackFallbacks += 1 }
            var vectors = r.pairs.vectors
            EigenvectorSigns.apply(&vectors, previous: previousVectors)
            previousVectors = vectors
            if c.crossCheckEvery > 0 && t % c.crossCheckEvery == 0 {
                let ref = try SymmetricEigen.topK(M, k: c.k)
                let scale = max(abs(ref.values[0]), .leastNormalMagnitude)
                var worst = 0.0
                for i in 0..<c.k { worst = max(worst, abs(ref.values[i] - r.pairs.values[i]) / scale) }
                outcome.maxCrossCheckDiscrepancy = max(outcome.maxCrossCheckDiscrepancy, worst)
                outcome.crossChecks += 1
            }
            var row = StepRow(step: t, loss: ev.loss, residual: ev.residual, outputs: ev.outputs,
                              outputNormSquared: ev.outputNormSquared, eigenvalues: r.pairs.values,
                              eigenvectors: vectors, dtf: ev.dtf, outputLayerSharpness: ev.outputLayerSharpness,
                              gradNorm: ev.gradientNorm)
            if chains != nil {
                row.products = chains!.step(residual: ev.residual, v1: vectors.row(0), sharpness: r.pairs.values[0], gram: M)
            }
            if let x = c.eigenvalueThreshold { row.eigenvaluesAboveThreshold = try SymmetricEigen.eigenvalues(M, above: x) }
            row.cost = StepCost(iterations: Int64(r.iterations), matvecs: Int64(solver.matvecCount(of: r, n: M.rows)),
                                seconds: Date().timeIntervalSince(started))
            try sink.append(row)
            if try appendCadenced(t: t, dense: M, theta: theta, sink: sink, outcome: outcome, solves: solves) {
                // Restart the eigensolver from exactly what a resume from this checkpoint sees.
                solver.setWarmStart(vectors, seed: UInt64(t))
            }
            outcome.lastStep = t
            return RecordJobResult(sharpness: r.pairs.values[0])
        } catch {
            return RecordJobResult(error: error)
        }
    }

    /// The M-products of a c-output step: with the dense M (n·c ≤ the dense limit) by the same
    /// symmetric products as for c = 1, else through the matrix-free `MultiOutputGram.apply`.
    static func multiOutputProducts(_ chains: inout ProductChains, residual: [Double], v1: [Double], sharpness: Double,
                                    dense: Matrix?, multi: ModelEvaluator.MultiOutputGram) throws -> StepProducts {
        if let m = dense { return chains.step(residual: residual, v1: v1, sharpness: sharpness, gram: m) }
        return try chains.step(residual: residual, v1: v1, sharpness: sharpness, applyGram: { multi.apply(to: $0) })
    }

    /// Lanczos' start vector at step t (matrix-free path): the sum of the stored eigenvectors of
    /// the previous step (signs continuous), plus — when fewer than k are stored — a vector drawn
    /// from a generator seeded by t, half their norm, so that every wanted direction is present.
    /// It depends only on what the file holds, so a resume from any checkpoint starts the same.
    func multiOutputStart(t: Int, dimension nc: Int) -> [Double]? {
        guard let prev = previousVectors, prev.cols == nc, prev.rows >= 1 else { return nil }
        var s = [Double](repeating: 0, count: nc)
        for i in 0..<prev.rows { BLAS.axpy(1, prev.row(i), &s) }
        if prev.rows < config.k {
            var rng = SeededRNG(seed: UInt64(t) &+ 0x5EED)
            var g = rng.normals(nc)
            let scale = 0.5 * BLAS.nrm2(s) / max(BLAS.nrm2(g), .leastNormalMagnitude)
            BLAS.scale(&g, scale)
            BLAS.axpy(1, g, &s)
        }
        return s
    }

    /// The recording work of step t for c > 1 outputs: λ_max(M_A); the top-k pairs of M — with
    /// the dense M (n·c ≤ the limit) by the block solver as for c = 1 (LAPACK cross-checks,
    /// spectrum, Gram, threshold eigenvalues at their cadences), else by Lanczos on the
    /// matrix-free M·v at the same residual tolerance; signs; the top-j eigenvectors stored; the
    /// M-products; the Hessian sharpness (R-operator) and checkpoints at their cadences.
    private func recordMultiOutputStep(t: Int, ev: StepEvaluation, multi: ModelEvaluator.MultiOutputGram, theta: [Double],
                                       sink: TrajectorySink, outcome: inout TrainerOutcome, solves: inout SolveStats,
                                       started: Date) -> RecordJobResult {
        let c = config
        var ev = ev
        let nc = multi.dimension, j = storedEigenvectors
        do {
            do { ev.outputLayerSharpness = try multi.outputLayerSharpness() } catch let e as NumericsError {
                return RecordJobResult(divergence: "step \(t): \(e)")
            }
            var dense: Matrix?
            if isDenseMultiOutput {
                let m = try multi.denseGram()
                if !m.isFinite { return RecordJobResult(divergence: "step \(t): Gram matrix not finite") }
                dense = m
            }
            let values: [Double], iterations: Int, matvecs: Int
            var vectors: Matrix
            if let M = dense {
                let r = try solver.solve(M)
                if r.usedLAPACK && M.rows > 64 { outcome.lapackFallbacks += 1 }
                values = r.pairs.values; vectors = r.pairs.vectors
                iterations = r.iterations; matvecs = solver.matvecCount(of: r, n: M.rows)
                if c.crossCheckEvery > 0 && t % c.crossCheckEvery == 0 {
                    let ref = try SymmetricEigen.topK(M, k: c.k)
                    let scale = max(abs(ref.values[0]), .leastNormalMagnitude)
                    var worst = 0.0
                    for i in 0..<c.k { worst = max(worst, abs(ref.values[i] - values[i]) / scale) }
                    outcome.maxCrossCheckDiscrepancy = max(outcome.maxCrossCheckDiscrepancy, worst)
                    outcome.crossChecks += 1
                }
            } else {
                let r = try Lanczos.topK(dimension: nc, k: c.k, tolerance: c.eigenTolerance,
                                         start: multiOutputStart(t: t, dimension: nc), seed: UInt64(t) &+ 1,
                                         apply: { multi.apply(to: $0) })
                guard r.converged else {
                    throw RecorderError.shapeMismatch(object: "top-\(c.k) eigenpairs of M at step \(t)",
                                                      expected: "residual ≤ \(c.eigenTolerance)·‖M‖ (Lanczos, matrix-free)",
                                                      got: "\(r.relativeResidual) after \(r.iterations) products")
                }
                values = r.pairs.values; vectors = r.pairs.vectors
                iterations = r.iterations; matvecs = r.iterations
            }
            solves.solves += 1; solves.eigenIterations += iterations
            // Signs against the stored vectors of the previous step (what a resume has).
            EigenvectorSigns.apply(&vectors, previous: previousVectors)
            let stored = vectors.rows(0..<j)
            previousVectors = stored
            var row = StepRow(step: t, loss: ev.loss, residual: ev.residual, outputs: ev.outputs,
                              outputNormSquared: ev.outputNormSquared, eigenvalues: values,
                              eigenvectors: stored, dtf: ev.dtf, outputLayerSharpness: ev.outputLayerSharpness,
                              gradNorm: ev.gradientNorm)
            if chains != nil {
                row.products = try Trainer.multiOutputProducts(&chains!, residual: ev.residual, v1: stored.row(0),
                                                               sharpness: values[0], dense: dense, multi: multi)
            }
            if let x = c.eigenvalueThreshold, let M = dense { row.eigenvaluesAboveThreshold = try SymmetricEigen.eigenvalues(M, above: x) }
            row.cost = StepCost(iterations: Int64(iterations), matvecs: Int64(matvecs), seconds: Date().timeIntervalSince(started))
            try sink.append(row)
            if try appendCadenced(t: t, dense: dense, theta: theta, sink: sink, outcome: outcome, solves: solves) {
                // Restart the block solver from exactly what a resume from this checkpoint sees
                // (the stored vectors; the seed fills the rest).
                if dense != nil { solver.setWarmStart(stored, seed: UInt64(t)) }
            }
            outcome.lastStep = t
            return RecordJobResult(sharpness: values[0])
        } catch {
            return RecordJobResult(error: error)
        }
    }

    /// Why the evaluation at θ(t) ends the run (non-finite or too large loss, non-finite ∇L), if it does.
    private static func divergence(_ ev: StepEvaluation, divergenceLoss: Double) -> String? {
        if !ev.loss.isFinite { return "loss is \(ev.loss)" }
        if ev.loss > divergenceLoss { return "loss \(ev.loss) exceeds divergence_loss \(divergenceLoss)" }
        if !ev.gradient.allSatisfy({ $0.isFinite }) { return "gradient not finite" }
        if let g = ev.gram, !g.isFinite { return "Gram matrix not finite" }
        return nil
    }

    /// Per-step costs for the benchmark, measured on `steps` steps from θ with the two kinds of
    /// step interleaved (medians, robust to a shared machine): a plain GD step (loss and gradient
    /// only), and a fully recorded step (evaluate with the exact M and λ_max(M_A), warm top-k,
    /// signs, the M-products unless `config.products` is false, hand-off to a sink) — exactly the
    /// per-step work of `run` without the cadenced extras.
    public static func benchmark(config: RunConfig, evaluator: ModelEvaluator, theta: [Double], steps: Int) throws
        -> (plain: Double, recorded: Double, eigenIterations: Double, evaluate: Double, eigensolver: Double, products: Double) {
        var thA = theta, thB = theta
        let solver = TopKEigensolver(k: config.k, options: TopKOptions(tolerance: config.eigenTolerance))
        let sink = MemorySink(keep: false)
        var previous: Matrix?
        var chains = config.recordsProducts ? ProductChains(learningRate: config.learningRate) : nil
        var plain: [Double] = [], recorded: [Double] = [], evals: [Double] = [], eigs: [Double] = [], prods: [Double] = []
        var iterations = 0
        for t in 0..<steps {
            let t0 = Date()
            try evaluator.gradientStep(&thA, learningRate: config.learningRate)
            let t1 = Date()
            let ev = try evaluator.evaluate(thB)
            let t2 = Date()
            let r = try solver.solve(ev.gram!)
            var v = r.pairs.vectors
            EigenvectorSigns.apply(&v, previous: previous)
            previous = v
            let t3 = Date()
            var row = StepRow(step: t, loss: ev.loss, residual: ev.residual, outputs: ev.outputs,
                              outputNormSquared: ev.outputNormSquared, eigenvalues: r.pairs.values, eigenvectors: v,
                              dtf: ev.dtf, outputLayerSharpness: ev.outputLayerSharpness, gradNorm: ev.gradientNorm)
            let tp = Date()
            if chains != nil {
                row.products = chains!.step(residual: ev.residual, v1: v.row(0), sharpness: r.pairs.values[0], gram: ev.gram!)
            }
            prods.append(Date().timeIntervalSince(tp))
            row.cost = StepCost(iterations: Int64(r.iterations), matvecs: Int64(solver.matvecCount(of: r, n: ev.gram!.rows)),
                                seconds: Date().timeIntervalSince(t1))
            try sink.append(row)
            BLAS.axpy(-config.learningRate, ev.gradient, &thB)
            let t4 = Date()
            iterations += r.iterations
            plain.append(t1.timeIntervalSince(t0)); recorded.append(t4.timeIntervalSince(t1))
            evals.append(t2.timeIntervalSince(t1)); eigs.append(t3.timeIntervalSince(t2))
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
        return (median(plain), median(recorded), Double(iterations) / Double(steps), median(evals), median(eigs), median(prods))
    }

    /// Wall time per step of whole runs from θ, no cadenced extras (`steps` steps each, three
    /// rounds interleaved, medians): plain GD steps, `run` serial, and `run` pipelined. This is
    /// what a user waits for, including the overlap the pipelined trainer gets from a second core.
    public static func benchmarkRuns(config: RunConfig, evaluator: ModelEvaluator, theta: [Double], steps: Int,
                                     rounds: Int = 3) throws -> (plain: Double, serial: Double, pipelined: Double) {
        var c = config
        c.steps = steps; c.spectrumEvery = 0; c.hessianEvery = 0; c.checkpointEvery = 0; c.crossCheckEvery = 0; c.gramEvery = 0
        var plain: [Double] = [], serial: [Double] = [], piped: [Double] = []
        for _ in 0..<rounds {
            var th = theta
            let t0 = Date()
            for _ in 0..<(steps + 1) { try evaluator.gradientStep(&th, learningRate: c.learningRate) }
            plain.append(Date().timeIntervalSince(t0) / Double(steps + 1))
            for mode in [false, true] {
                let tr = try Trainer(config: c, evaluator: evaluator, theta: theta)
                tr.pipelined = mode
                let t1 = Date()
                _ = try tr.run(sink: MemorySink(keep: false))
                let per = Date().timeIntervalSince(t1) / Double(steps + 1)
                if mode { piped.append(per) } else { serial.append(per) }
            }
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
        return (median(plain), median(serial), median(piped))
    }
}
