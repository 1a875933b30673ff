import EOSModels
import EOSNumerics
import EOSRun
import Foundation
import TrajectoryFormat

/// Adapts a `TrajectoryWriter` (the HDF5 format) to `TrajectorySink`. Optional series the writer
/// does not record (`WriterOptions`) are dropped from the rows handed to it.
public final class WriterSink: TrajectorySink {
    public let writer: TrajectoryWriter
    public init(writer: TrajectoryWriter) { self.writer = writer }

    public func append(_ row: StepRow) throws {
        var r = row
        if !writer.options.outputs { r.outputs = nil }
        if !writer.options.outputLayerSharpness { r.outputLayerSharpness = nil }
        if !writer.options.gradNorm { r.gradNorm = nil }
        if !writer.options.products { r.products = nil }
        if !writer.options.solverCost { r.cost = nil }
        if writer.options.eigenvalueThreshold == nil { r.eigenvaluesAboveThreshold = nil }
        try writer.append(r)
    }
    public func appendSpectrum(step: Int, eigenvalues: [Double]) throws { try writer.appendSpectrum(step: Int64(step), eigenvalues: eigenvalues) }
    public func appendHessianSharpness(step: Int, value: Double) throws { try writer.appendHessianSharpness(step: Int64(step), value: value) }
    public func appendCheckpoint(step: Int, parameters: [Double]) throws { try writer.appendCheckpoint(step: Int64(step), parameters: parameters) }
    public func appendGram(step: Int, matrix: Matrix) throws { try writer.appendGram(step: Int64(step), matrix: matrix.data) }
    /// "completed" only flushes the rows here: the status itself is committed by `close` /
    /// `finish`, after the eigensolver check, so that a file saying "completed" has everything.
    /// Other statuses are committed at once (rows first, see `TrajectoryWriter.setStatus`).
    public func setStatus(_ status: RunStatus) throws {
        if status == .completed { try writer.flush() } else { try writer.setStatus(status) }
    }
    /// Flushes, sets the final status and closes the file (`TrajectoryWriter.close(status:)`).
    public func close(status: RunStatus) throws { try writer.close(status: status) }

    /// Stores the totals through a checkpoint step as `/run@eigensolver_check` once that step is
    /// on disk (`TrajectoryWriter.setEigensolverCheck(_:whenDurableThrough:)`).
    public func noteCheckpoint(_ totals: EigensolverTotals) throws {
        try writer.setEigensolverCheck(totals.json, whenDurableThrough: Int64(totals.step))
    }

    /// Ends a `Trainer` run: stores the eigensolver's LAPACK cross-check totals of the whole run
    /// (`EigensolverTotals.json`, earlier parts of a resumed run included) as
    /// `/run@eigensolver_check`, then closes with `outcome.status`. An interrupted run keeps the
    /// totals of its last checkpoint, which a resume continues from. The attribute is written by
    /// the writer before the final status; the file is not reopened.
    public func finish(outcome: TrainerOutcome, tolerance: Double) throws {
        if outcome.status != .interrupted, var totals = outcome.totals {
            totals.tolerance = tolerance
            try writer.setEigensolverCheck(totals.json)
        }
        try writer.close(status: outcome.status)
    }
}

/// Creating and resuming recordings of `Trainer` runs.
public enum RecordingSession {
    public static let softwareVersion = "0.1.0"

    /// The run-level metadata of a config and its data.
    public static func metadata(config c: RunConfig, data: Dataset, network: Network) -> RunMetadata {
        let cadences = #"{"checkpoint":\#(c.checkpointEvery),"cross_check":\#(c.crossCheckEvery),"gram":\#(c.gramEvery),"hessian":\#(c.hessianEvery),"spectrum":\#(c.spectrumEvery)}"#
        var m = RunMetadata(learningRate: c.learningRate, n: data.n, p: network.parameterCount, k: c.k, loss: "mse",
                            model: c.model.jsonString(), seed: Int64(bitPattern: c.initSeed),
                            dataSeed: c.data.seed.map { Int64(bitPattern: $0) }, config: c.jsonString(),
                            dataDescription: data.source, cadences: cadences, software: "eostrace",
                            softwareVersion: softwareVersion)
        // c > 1: format 2.0 (c = 1 keeps the single-output file of format 1.1, byte for byte).
        if network.outputCount > 1 {
            m.outputCount = network.outputCount
            m.eigenvectorsStored = c.storedEigenvectors(outputs: network.outputCount)
        }
        return m
    }

    /// Creates the file at `path` and a trainer from θ(0).
    public static func start(config c: RunConfig, path: String, writerOptions: WriterOptions? = nil) throws
        -> (trainer: Trainer, sink: WriterSink, data: Dataset) {
        var c = c
        c.data = c.data.resolvingPaths()
        try c.validate()
        let setup = try RunSetup(config: c), data = setup.data, network = setup.network
        let trainer = try Trainer(config: c, evaluator: setup.evaluator, theta: try setup.startingParameters())
        let opts = writerOptions ?? defaultWriterOptions(config: c)
        let writer = try TrajectoryWriter(path: path, metadata: metadata(config: c, data: data, network: network),
                                          X: inputs(config: c, data: data), Y: data.Y, options: opts)
        return (trainer, WriterSink(writer: writer), data)
    }

    /// Every per-step series, and the cadenced ones the config asks for.
    public static func defaultWriterOptions(config c: RunConfig) -> WriterOptions {
        var o = WriterOptions(outputs: true, outputLayerSharpness: true, gradNorm: true, spectrum: c.spectrumEvery > 0,
                              hessian: c.hessianEvery > 0, checkpoints: true, gram: c.gramEvery > 0)
        o.reserveEigensolverCheck = true
        o.products = c.recordsProducts
        o.solverCost = true
        o.eigenvalueThreshold = c.eigenvalueThreshold
        return o
    }

    /// X stored in the file when it is smaller than `store_data_below` bytes (float64), else a
    /// reference: its location and the SHA-256 of the X used for training (float64 little-endian,
    /// row-major n × d, after the row subset and centering of the config).
    public static func inputs(config c: RunConfig, data: Dataset) -> TrainingInputs { StoredRun.trainingInputs(config: c, data: data) }

    /// Rebuilds the training data of a recording from its `/run@config` and checks it against the
    /// file (`StoredRun.verifiedData`).
    public static func verifiedData(reader: TrajectoryReader, config c: RunConfig) throws -> Dataset { try StoredRun.verifiedData(reader: reader, config: c) }

    /// The recording's configuration (`/run@config`).
    public static func config(reader: TrajectoryReader) throws -> RunConfig { try StoredRun.config(reader: reader) }

    /// X (n × d) of a recording (`StoredRun.inputs`).
    public static func inputs(reader: TrajectoryReader) throws -> Matrix { try StoredRun.inputs(reader: reader) }

    /// Reopens an interrupted (or killed) recording at `path`: reads its configuration, rebuilds
    /// the data (checked against the stored X and Y), picks the checkpoint to continue from,
    /// truncates every series after that step, and returns a trainer that continues from there.
    ///
    /// The checkpoint is the one named by `/run@eigensolver_check` ("step", committed only once
    /// every row through it was on disk, so every cadence is complete there and the eigensolver
    /// totals continue exactly). Without that attribute (killed before its first commit) the run
    /// restarts from θ(0); a file from before issue 11 (no "step") continues from its last
    /// checkpoint that has a main row.
    ///
    /// `adjust` receives the stored configuration (already checked against the file's attributes)
    /// and returns the one to continue with: it may throw to refuse, and may change only `steps`
    /// (applied explicitly: `/run@config` is rewritten), to no fewer than the checkpoint's step.
    public static func resume(path: String, batchSteps: Int? = nil,
                              adjust: (RunConfig) throws -> RunConfig = { $0 }) throws
        -> (trainer: Trainer, sink: WriterSink, config: RunConfig) {
        let reader = try TrajectoryReader(path: path)
        var readerOpen = true
        defer { if readerOpen { reader.close() } }
        func fail(_ s: String) -> RecorderError { .cannotResume(file: path, problem: s) }
        let status = try reader.status()
        guard status != .completed else { throw fail("run status is \"completed\"; nothing to resume") }
        let stored = try config(reader: reader)
        try stored.validate(source: "\(path): /run@config")
        let data = try verifiedData(reader: reader, config: stored)
        let network = try RunSetup(config: stored, data: data).network
        try StoredRun.checkConfigMatchesFile(reader: reader, config: stored, n: data.n, parameterCount: network.parameterCount)
        let c = try adjust(stored)
        var onlySteps = c
        onlySteps.steps = stored.steps
        guard onlySteps == stored else { throw fail("only --steps may change on --resume") }
        let ckSteps = try reader.checkpointSteps()
        let mainSteps = try reader.steps()
        let storedCheck = try reader.eigensolverCheckJSON()
        var totals = storedCheck.flatMap { EigensolverTotals(json: $0) }
        let ci: Int?
        if let named = totals {
            func usable(_ t: EigensolverTotals) -> Int? {
                guard let i = ckSteps.lastIndex(of: Int64(t.step)), mainSteps.contains(Int64(t.step)) else { return nil }
                return i
            }
            if let i = usable(named) {
                ci = i
            } else if let fb = named.fallbackJSON.flatMap({ EigensolverTotals(json: $0) }), let i = usable(fb) {
                // The interrupt checkpoint was cut (by an explicit truncation): its fallback.
                ci = i
                totals = fb
            } else {
                throw fail("/run@eigensolver_check names step \(named.step), which has no checkpoint and row")
            }
        } else if storedCheck != nil {
            ci = ckSteps.indices.last(where: { mainSteps.contains(ckSteps[$0]) })
        } else {
            ci = nil
        }
        guard let ci else {
            // Nothing committed yet: start over from θ(0), as a fresh recording would.
            reader.close(); readerOpen = false
            let setup = try RunSetup(config: c, data: data)
            let trainer = try Trainer(config: c, evaluator: setup.evaluator, theta: setup.initialParameters)
            let writer = try TrajectoryWriter.resume(path: path, truncatingAfter: -1, batchSteps: batchSteps, overwriting: true,
                                                     runConfig: c != stored ? c.jsonString() : nil)  // crash-safe copy + rename
            if !writer.options.products { trainer.disableProducts() }
            return (trainer, WriterSink(writer: writer), c)
        }
        let step = ckSteps[ci]
        let lastRecorded = max(mainSteps.last ?? 0, ckSteps.last ?? 0)
        if c.steps < Int(lastRecorded) {
            throw fail("--steps \(c.steps) is below the last recorded step \(lastRecorded); give --steps \(lastRecorded) or more")
        }
        let theta = try reader.parameters(atCheckpointIndex: ci)
        guard let row = try reader.index(ofStep: step) else { throw fail("step \(step) not found") }
        let ev = try reader.eigenvectors(row..<(row + 1))
        // The stored eigenvectors: k × n, or j × n·c for c > 1 outputs.
        let vectors = Matrix(rows: reader.eigenvectorsStored, cols: reader.flatCount, data: ev.values)
        // The chains' state at the checkpoint (format 1.1): the rows at c and Λ(c − 1).
        var chainRows: (rPrime: [Double], fromStart: [Double], residual: [Double], sharpness: Double, previous: Double?)?
        let fileHasProducts = reader.has(Layout.Series.gramResidual) && reader.has(Layout.Series.rPrime)
            && reader.has(Layout.Series.rPrimeFromStart)
        if fileHasProducts {
            let one = row..<(row + 1)
            let sh = try reader.read(Layout.Series.sharpness, range: (row > 0 ? row - 1 : row)..<(row + 1))
            chainRows = (try reader.read(Layout.Series.rPrime, range: one), try reader.read(Layout.Series.rPrimeFromStart, range: one),
                         try reader.read(Layout.Series.residual, range: one), sh.last!, row > 0 ? sh.first : nil)
        }
        reader.close(); readerOpen = false
        let evaluator = try RunSetup(config: c, data: data).evaluator
        let trainer = try Trainer(config: c, evaluator: evaluator, checkpoint: theta, step: Int(step), eigenvectors: vectors)
        if let cr = chainRows, trainer.chains != nil {
            trainer.continueChains(rPrime: cr.rPrime, fromStart: cr.fromStart, residual: cr.residual, v1: vectors.row(0),
                                   sharpness: cr.sharpness, previousSharpness: cr.previous)
        } else {
            trainer.disableProducts()
        }
        trainer.baseline = totals
        // After an interrupt checkpoint (totals with a fallback): the file first falls back to the
        // last regular checkpoint, then loses the interrupt row (an uninterrupted run has none).
        let fallback = totals?.fallbackJSON.flatMap { EigensolverTotals(json: $0) }
        if var t = trainer.baseline { t.fallbackJSON = nil; trainer.baseline = t }
        trainer.lastRegularTotals = fallback ?? totals
        if fallback != nil && !trainer.checkpointsAnywhere {
            throw fail("step \(step) is an interrupt checkpoint, which this run's eigensolver cannot continue from")
        }
        let writer = try TrajectoryWriter.resume(path: path, truncatingAfter: step, batchSteps: batchSteps,
                                                 checkpointsThrough: fallback.map { Int64($0.step) },
                                                 eigensolverCheckFirst: fallback?.json, overwriting: true,
                                                 runConfig: c != stored ? c.jsonString() : nil)  // crash-safe copy + rename
        return (trainer, WriterSink(writer: writer), c)
    }
}
