import EOSModels
import EOSNumerics
import Foundation

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
    public var status: TrainingStatus
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
}

/// Full-batch GD with constant η, recording every step (SPEC §2) into a `TrajectorySink`.
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

    /// A fresh run from θ(0) = `theta`.
    public init(config: RunConfig, evaluator: ModelEvaluator, theta: [Double]) throws {
        try config.validate()
        try evaluator.network.checkParameters(theta, object: "initial parameters")
        guard config.k <= evaluator.n else {
            throw RecorderError.invalidConfig(source: "config", problem: "k=\(config.k) exceeds n=\(evaluator.n)")
        }
        self.config = config; self.evaluator = evaluator; self.theta = theta; self.step = 0
        self.solver = TopKEigensolver(k: config.k, options: TopKOptions(tolerance: config.eigenTolerance))
        self.skipRecordAtStart = false
    }

    /// Continues a run from a checkpoint θ(`step`) whose row is already recorded; `eigenvectors`
    /// are the recorded v_i(step) (k × n), used for sign continuity and as the warm start.
    public convenience init(config: RunConfig, evaluator: ModelEvaluator, checkpoint theta: [Double], step: Int,
                eigenvectors: Matrix) throws {
        try self.init(config: config, evaluator: evaluator, theta: theta)
        guard eigenvectors.rows == config.k, eigenvectors.cols == evaluator.n else {
            throw RecorderError.shapeMismatch(object: "eigenvectors at step \(step)", expected: "\(config.k) × \(evaluator.n)",
                                              got: "\(eigenvectors.rows) × \(eigenvectors.cols)")
        }
        self.step = step
        self.previousVectors = eigenvectors
        self.solver.setWarmStart(eigenvectors, seed: UInt64(step))
        self.skipRecordAtStart = true
    }

    /// Runs until `config.steps`, divergence, or `shouldStop()` returns true (checked once per
    /// step). A resume continues from the last regular checkpoint (every `checkpointEvery` steps),
    /// where the eigensolver's warm start is reset, so resumed runs are bit-identical to
    /// uninterrupted ones.
    public func run(sink: TrajectorySink, shouldStop: () -> Bool = { false },
                    progress: (TrainerProgress) -> Void = { _ in }) throws -> TrainerOutcome {
        let c = config
        let start = Date()
        var outcome = TrainerOutcome(status: .running, lastStep: step, maxCrossCheckDiscrepancy: 0, crossChecks: 0,
                                     lapackFallbacks: 0, meanEigenIterations: 0, seconds: 0, divergenceReason: nil)
        var eigenIterations = 0, solves = 0
        let firstStep = step
        let threshold = 2 / c.learningRate
        while true {
            let t = step
            let record = !(skipRecordAtStart && t == firstStep)
            guard theta.allSatisfy({ $0.isFinite }) else {
                outcome.status = .diverged; outcome.divergenceReason = "step \(t): parameters not finite"
                break
            }
            let ev: StepEvaluation
            do {
                ev = try evaluator.evaluate(theta, options: EvaluationOptions(gram: record, outputLayerSharpness: record))
            } catch let e as NumericsError {
                // Overflow inside the network (e.g. Inf activations) is divergence, not a failure.
                outcome.status = .diverged; outcome.divergenceReason = "step \(t): \(e)"
                break
            }
            if let why = divergence(ev) {
                outcome.status = .diverged; outcome.divergenceReason = "step \(t): \(why)"
                break
            }
            if record {
                let M = ev.gram!
                let r = try solver.solve(M)
                solves += 1; eigenIterations += r.iterations
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
                try sink.append(StepRecord(step: t, loss: ev.loss, residual: ev.residual, outputs: ev.outputs,
                                           outputNormSquared: ev.outputNormSquared, eigenvalues: r.pairs.values,
                                           eigenvectors: vectors, dtf: ev.dtf, outputLayerSharpness: ev.outputLayerSharpness,
                                           gradNorm: ev.gradientNorm))
                if c.spectrumEvery > 0 && t % c.spectrumEvery == 0 {
                    try sink.appendSpectrum(step: t, eigenvalues: try SymmetricEigen.allEigenvalues(M))
                }
                if c.gramEvery > 0 && t % c.gramEvery == 0 { try sink.appendGram(step: t, matrix: M) }
                if c.hessianEvery > 0 && t % c.hessianEvery == 0 {
                    let op = try HessianOperator(evaluator: evaluator, theta: theta)
                    let lz = try op.sharpness(maxIterations: 100, tolerance: 1e-8, seed: UInt64(t) &+ 1)
                    try sink.appendHessianSharpness(step: t, value: lz.value)
                }
                if t == firstStep || t == c.steps || (c.checkpointEvery > 0 && t % c.checkpointEvery == 0) {
                    try sink.appendCheckpoint(step: t, parameters: theta)
                    // Restart the eigensolver from exactly what a resume from this checkpoint sees.
                    solver.setWarmStart(vectors, seed: UInt64(t))
                }
                outcome.lastStep = t
                let elapsed = Date().timeIntervalSince(start)
                progress(TrainerProgress(step: t, totalSteps: c.steps, loss: ev.loss, sharpness: r.pairs.values[0],
                                         threshold: threshold, stepsPerSecond: Double(t - firstStep + 1) / max(elapsed, 1e-9)))
            }
            if t >= c.steps { outcome.status = .completed; break }
            if shouldStop() {
                // No extra checkpoint: a resume restarts from the last regular checkpoint, so the
                // resumed trajectory (eigensolver warm starts included) is bit-identical.
                outcome.status = .interrupted
                break
            }
            BLAS.axpy(-c.learningRate, ev.gradient, &theta)
            step += 1
        }
        try sink.setStatus(outcome.status)
        outcome.seconds = Date().timeIntervalSince(start)
        outcome.meanEigenIterations = solves == 0 ? 0 : Double(eigenIterations) / Double(solves)
        return outcome
    }

    private func divergence(_ ev: StepEvaluation) -> String? {
        if !ev.loss.isFinite { return "loss is \(ev.loss)" }
        if ev.loss > config.divergenceLoss { return "loss \(ev.loss) exceeds divergence_loss \(config.divergenceLoss)" }
        if !ev.gradient.allSatisfy({ $0.isFinite }) { return "gradient not finite" }
        if let g = ev.gram, !g.isFinite { return "Gram matrix not finite" }
        return nil
    }

    /// Per-step costs for the benchmark, measured on `steps` steps from θ with the two kinds of
    /// step interleaved (medians, robust to a shared machine): a plain GD step (loss and gradient
    /// only), and a fully recorded step (evaluate with the exact M and λ_max(M_A), warm top-k,
    /// signs, hand-off to a sink) — exactly the per-step work of `run` without the cadenced extras.
    public static func benchmark(config: RunConfig, evaluator: ModelEvaluator, theta: [Double], steps: Int) throws
        -> (plain: Double, recorded: Double, eigenIterations: Double, evaluate: Double, eigensolver: Double) {
        var thA = theta, thB = theta
        let solver = TopKEigensolver(k: config.k, options: TopKOptions(tolerance: config.eigenTolerance))
        let sink = MemorySink(keep: false)
        var previous: Matrix?
        var plain: [Double] = [], recorded: [Double] = [], evals: [Double] = [], eigs: [Double] = []
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
            try sink.append(StepRecord(step: t, loss: ev.loss, residual: ev.residual, outputs: ev.outputs,
                                       outputNormSquared: ev.outputNormSquared, eigenvalues: r.pairs.values, eigenvectors: v,
                                       dtf: ev.dtf, outputLayerSharpness: ev.outputLayerSharpness, gradNorm: ev.gradientNorm))
            BLAS.axpy(-config.learningRate, ev.gradient, &thB)
            let t4 = Date()
            iterations += r.iterations
            plain.append(t1.timeIntervalSince(t0)); recorded.append(t4.timeIntervalSince(t1))
            evals.append(t2.timeIntervalSince(t1)); eigs.append(t3.timeIntervalSince(t2))
        }
        func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
        return (median(plain), median(recorded), Double(iterations) / Double(steps), median(evals), median(eigs))
    }
}
