import EOSModels
import EOSNumerics
import Foundation
import TrajectoryFormat

/// Records a trajectory from a user's own training loop (any framework): hand over per-step arrays,
/// the format is written for you. Eigenpairs come either from you, or from the Gram matrix you
/// pass (top-k by the warm-started `TopKEigensolver`). Signs follow docs/FORMAT.md in both cases.
///
///     let rec = try Recorder(path: "run.h5", X: X, Y: Y, learningRate: 0.01, k: 4,
///                            model: #"{"kind":"external"}"#)
///     for t in 0..<T {
///         ... your GD step ...
///         try rec.record(step: t, residual: D, outputs: F, outputNormSquared: a2, gram: M)
///     }
///     try rec.finish()
///
/// Shapes are checked with thrown `RecorderError.shapeMismatch`; NaN/Inf throw `.nonFinite`.
public final class Recorder {
    public let n: Int
    public let k: Int
    public let Y: [Double]
    public let sink: TrajectorySink
    private let writerSink: WriterSink?
    private let solver: TopKEigensolver
    private var previous: Matrix?
    private var lastStep: Int?
    private var finished = false
    /// The M-products' chains (format 1.1) when recorded: every step must then come with its
    /// Gram matrix (`record(step:residual:outputs:outputNormSquared:gram:)`).
    private var chains: ProductChains?
    /// Wall-clock start of the current step (the previous `record` call, or the init).
    private var stepStart = Date()

    /// Writes to a new HDF5 file.
    /// - Parameters:
    ///   - X: inputs n × d (stored in the file).
    ///   - model: JSON model description (`{"kind":"external"}` when not replayable by eostrace).
    ///   - parameterCount: p (0 when unknown; then no checkpoints can be recorded).
    ///   - products: record the M-products (`gram_residual`, `r_prime`, `r_prime_from_start`) at
    ///     every step (format 1.1); then every step must be recorded with its Gram matrix.
    ///   - lossConvention: the normalisation of the loss your M belongs to (`/run@loss_convention`).
    public init(path: String, X: Matrix, Y: [Double], learningRate: Double, k: Int, model: String = #"{"kind":"external"}"#,
                parameterCount: Int = 0, recordOutputs: Bool = true, config: String? = nil, seed: Int64? = nil,
                products: Bool = true, lossConvention: LossConvention = .meanSquaredError) throws {
        guard Y.count == X.rows else { throw RecorderError.shapeMismatch(object: "Y", expected: "\(X.rows) targets (rows of X)", got: "\(Y.count)") }
        guard k >= 1 && k <= X.rows else { throw RecorderError.shapeMismatch(object: "k", expected: "1...\(X.rows)", got: "\(k)") }
        guard SeriesInvariants.isValidLearningRate(learningRate) else { throw RecorderError.invalidConfig(source: path, problem: "learning rate must be positive") }
        var meta = RunMetadata(learningRate: learningRate, n: X.rows, p: parameterCount, k: k, model: model, seed: seed,
                               config: config, software: "eostrace", softwareVersion: RecordingSession.softwareVersion)
        meta.lossConvention = lossConvention
        var options = WriterOptions(outputs: recordOutputs, checkpoints: parameterCount > 0)
        options.products = products
        options.solverCost = true
        let writer = try TrajectoryWriter(path: path, metadata: meta, X: .stored(values: X.data, d: X.cols), Y: Y,
                                          options: options)
        if products { chains = ProductChains(learningRate: learningRate) }
        let ws = WriterSink(writer: writer)
        self.writerSink = ws; self.sink = ws
        self.n = X.rows; self.k = k; self.Y = Y
        self.solver = TopKEigensolver(k: k)
    }

    /// Records into any sink (tests, custom storage). With `learningRate`, the M-products are
    /// computed too (steps must then come with their Gram matrix).
    public init(sink: TrajectorySink, Y: [Double], k: Int, learningRate: Double? = nil) throws {
        guard k >= 1 && k <= Y.count else { throw RecorderError.shapeMismatch(object: "k", expected: "1...\(Y.count)", got: "\(k)") }
        self.sink = sink; self.writerSink = nil; self.n = Y.count; self.k = k; self.Y = Y
        self.solver = TopKEigensolver(k: k)
        if let learningRate {
            guard SeriesInvariants.isValidLearningRate(learningRate) else { throw RecorderError.invalidConfig(source: "Recorder", problem: "learning rate must be positive") }
            chains = ProductChains(learningRate: learningRate)
        }
    }

    private func check(_ a: [Double], _ name: String, _ count: Int) throws {
        guard a.count == count else { throw RecorderError.shapeMismatch(object: name, expected: "\(count) values", got: "\(a.count)") }
        guard a.allSatisfy({ $0.isFinite }) else { throw RecorderError.nonFinite(object: name) }
    }

    /// Records step `step` given the Gram matrix M = (2/n) J Jᵀ (n × n); top-k computed here.
    public func record(step: Int, residual: [Double], outputs: [Double]? = nil, outputNormSquared: Double, gram: Matrix) throws {
        guard gram.rows == n && gram.cols == n else {
            throw RecorderError.shapeMismatch(object: "gram", expected: "\(n) × \(n)", got: "\(gram.rows) × \(gram.cols)")
        }
        guard gram.isFinite else { throw RecorderError.nonFinite(object: "gram") }
        let r = try solver.solve(gram)
        try record(step: step, residual: residual, outputs: outputs, outputNormSquared: outputNormSquared,
                   eigenvalues: r.pairs.values, eigenvectors: r.pairs.vectors, gram: gram,
                   cost: (Int64(r.iterations), Int64(solver.matvecCount(of: r, n: n))))
    }

    /// Records step `step` given the top-k eigenpairs of M (values descending, vectors k × n as rows).
    /// Records step `step` given the top-k eigenpairs of M and M as an operator (matrix-free
    /// training loops): `applyGram(V)` returns the rows (M vᵢ)ᵀ of the r × n block V. The
    /// M-products are computed with it (2 or 3 vectors per step); the solver cost is −1 (unknown).
    public func record(step: Int, residual: [Double], outputs: [Double]? = nil, outputNormSquared: Double,
                       eigenvalues: [Double], eigenvectors: Matrix, applyGram: (Matrix) throws -> Matrix) throws {
        try withoutActuallyEscaping(applyGram) { op in
            try record(step: step, residual: residual, outputs: outputs, outputNormSquared: outputNormSquared,
                       eigenvalues: eigenvalues, eigenvectors: eigenvectors, gram: nil, apply: op, cost: (-1, -1))
        }
    }

    /// Without a Gram matrix no M-products can be computed: a `Recorder` that records them
    /// (the default of the file-writing init) refuses this call; create it with `products: false`.
    public func record(step: Int, residual: [Double], outputs: [Double]? = nil, outputNormSquared: Double,
                       eigenvalues: [Double], eigenvectors: Matrix) throws {
        if chains != nil {
            throw RecorderError.invalidConfig(source: "Recorder", problem: "this recorder records the M-products, which need M: pass gram: or applyGram: (or create it with products: false)")
        }
        try record(step: step, residual: residual, outputs: outputs, outputNormSquared: outputNormSquared,
                   eigenvalues: eigenvalues, eigenvectors: eigenvectors, gram: nil, apply: nil, cost: (-1, -1))
    }

    private func record(step: Int, residual: [Double], outputs: [Double]?, outputNormSquared: Double,
                        eigenvalues: [Double], eigenvectors: Matrix, gram: Matrix?,
                        apply: ((Matrix) throws -> Matrix)? = nil, cost: (Int64, Int64)) throws {
        guard !finished else { throw RecorderError.invalidConfig(source: "Recorder", problem: "record after finish") }
        if !SeriesInvariants.isIncreasing(lastStep.map(Int64.init), then: Int64(step)), let last = lastStep {
            throw RecorderError.shapeMismatch(object: "step", expected: "a step > \(last)", got: "\(step)")
        }
        try check(residual, "residual", n)
        if let outputs { try check(outputs, "outputs", n) }
        try check(eigenvalues, "eigenvalues", k)
        guard eigenvectors.rows == k && eigenvectors.cols == n else {
            throw RecorderError.shapeMismatch(object: "eigenvectors", expected: "\(k) × \(n)", got: "\(eigenvectors.rows) × \(eigenvectors.cols)")
        }
        guard eigenvectors.isFinite else { throw RecorderError.nonFinite(object: "eigenvectors") }
        guard outputNormSquared.isFinite else { throw RecorderError.nonFinite(object: "output_norm_sq") }
        for i in 1..<max(k, 1) where eigenvalues[i] > eigenvalues[i - 1] {
            throw RecorderError.shapeMismatch(object: "eigenvalues", expected: "descending order", got: "\(eigenvalues)")
        }
        let F = outputs ?? zip(residual, Y).map { $0 + $1 }
        var v = eigenvectors
        EigenvectorSigns.apply(&v, previous: previous)
        previous = v
        var row = StepRow(step: step, loss: BLAS.dot(residual, residual) / Double(n), residual: residual, outputs: F,
                          outputNormSquared: outputNormSquared, eigenvalues: eigenvalues, eigenvectors: v,
                          dtf: BLAS.dot(residual, F))
        if chains != nil {
            if let gram {
                row.products = chains!.step(residual: residual, v1: v.row(0), sharpness: eigenvalues[0], gram: gram)
            } else if let apply {
                // On a copy: a failing operator leaves the chains as they were.
                var ch = chains!
                row.products = try ch.step(residual: residual, v1: v.row(0), sharpness: eigenvalues[0], applyGram: apply)
                chains = ch
            }
        }
        let now = Date()
        row.cost = StepCost(iterations: cost.0, matvecs: cost.1, seconds: now.timeIntervalSince(stepStart))
        stepStart = now
        try sink.append(row)
        lastStep = step
    }

    /// Records a parameter checkpoint θ(step).
    public func checkpoint(step: Int, parameters: [Double]) throws { try sink.appendCheckpoint(step: step, parameters: parameters) }

    /// Writes what is buffered, sets the final status and closes the file (or sets the status of
    /// a custom sink). Every error is thrown. Call it once the loop ends, also when it stops early
    /// (`.interrupted`): a `Recorder` released without `finish` writes nothing more (rows since
    /// the last flush are lost, `/run/status` stays "running").
    public func finish(status: RunStatus = .completed) throws {
        guard !finished else { return }
        finished = true
        if let ws = writerSink { try ws.close(status: status) } else { try sink.setStatus(status) }
    }
}
