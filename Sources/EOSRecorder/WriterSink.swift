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
        try writer.append(r)
    }
    public func appendSpectrum(step: Int, eigenvalues: [Double]) throws { try writer.appendSpectrum(step: Int64(step), eigenvalues: eigenvalues) }
    public func appendHessianSharpness(step: Int, value: Double) throws { try writer.appendHessianSharpness(step: Int64(step), value: value) }
    public func appendCheckpoint(step: Int, parameters: [Double]) throws { try writer.appendCheckpoint(step: Int64(step), parameters: parameters) }
    public func appendGram(step: Int, matrix: Matrix) throws { try writer.appendGram(step: Int64(step), matrix: matrix.data) }
    public func setStatus(_ status: RunStatus) throws { try writer.setStatus(status) }
    /// Flushes, sets the final status and closes the file (`TrajectoryWriter.close(status:)`).
    public func close(status: RunStatus) throws { try writer.close(status: status) }

    /// Ends a `Trainer` run: stores the eigensolver's LAPACK cross-check summary of the run as the
    /// JSON attribute `/run@eigensolver_check` ({"checks", "lapack_fallbacks",
    /// "max_relative_discrepancy", "mean_iterations", "tolerance"}; a resumed run merges with the
    /// stored value: max of discrepancies, sum of counts), then closes with `outcome.status`.
    /// The attribute is written by the writer before it closes; the file is not reopened.
    public func finish(outcome: TrainerOutcome, tolerance: Double) throws {
        var disc = outcome.maxCrossCheckDiscrepancy, checks = outcome.crossChecks, fallbacks = outcome.lapackFallbacks
        if let stored = try writer.storedEigensolverCheck(),
           let old = try? JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: Any] {
            disc = max(disc, old["max_relative_discrepancy"] as? Double ?? 0)
            checks += old["checks"] as? Int ?? 0
            fallbacks += old["lapack_fallbacks"] as? Int ?? 0
        }
        let json = String(format: #"{"checks":%d,"lapack_fallbacks":%d,"max_relative_discrepancy":%.6e,"mean_iterations":%.3f,"tolerance":%.3e}"#,
                          checks, fallbacks, disc, outcome.meanEigenIterations, tolerance)
        try writer.setEigensolverCheck(json)
        try writer.close(status: outcome.status)
    }
}

/// Creating and resuming recordings of `Trainer` runs.
public enum RecordingSession {
    public static let softwareVersion = "0.1.0"

    /// The run-level metadata of a config and its data.
    public static func metadata(config c: RunConfig, data: Dataset, network: Network) -> RunMetadata {
        let cadences = #"{"checkpoint":\#(c.checkpointEvery),"cross_check":\#(c.crossCheckEvery),"gram":\#(c.gramEvery),"hessian":\#(c.hessianEvery),"spectrum":\#(c.spectrumEvery)}"#
        return RunMetadata(learningRate: c.learningRate, n: data.n, p: network.parameterCount, k: c.k, loss: "mse",
                           model: c.model.jsonString(), seed: Int64(bitPattern: c.initSeed),
                           dataSeed: c.data.seed.map { Int64(bitPattern: $0) }, config: c.jsonString(),
                           dataDescription: data.source, cadences: cadences, software: "eostrace",
                           softwareVersion: softwareVersion)
    }

    /// Creates the file at `path` and a trainer from θ(0).
    public static func start(config c: RunConfig, path: String, writerOptions: WriterOptions? = nil) throws
        -> (trainer: Trainer, sink: WriterSink, data: Dataset) {
        var c = c
        c.data = c.data.resolvingPaths()
        try c.validate()
        let setup = try RunSetup(config: c), data = setup.data, network = setup.network
        let trainer = try Trainer(config: c, evaluator: setup.evaluator, theta: setup.initialParameters)
        let opts = writerOptions ?? defaultWriterOptions(config: c)
        let writer = try TrajectoryWriter(path: path, metadata: metadata(config: c, data: data, network: network),
                                          X: inputs(config: c, data: data), Y: data.Y, options: opts)
        return (trainer, WriterSink(writer: writer), data)
    }

    /// Every per-step series, and the cadenced ones the config asks for.
    public static func defaultWriterOptions(config c: RunConfig) -> WriterOptions {
        WriterOptions(outputs: true, outputLayerSharpness: true, gradNorm: true, spectrum: c.spectrumEvery > 0,
                      hessian: c.hessianEvery > 0, checkpoints: true, gram: c.gramEvery > 0)
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
    /// the data (checked against the stored X and Y), restores θ from the last checkpoint that has
    /// a recorded main row, truncates every series after that step, and returns a trainer that
    /// continues from there.
    public static func resume(path: String) throws -> (trainer: Trainer, sink: WriterSink, config: RunConfig) {
        let reader = try TrajectoryReader(path: path)
        var readerOpen = true
        defer { if readerOpen { reader.close() } }
        func fail(_ s: String) -> RecorderError { .cannotResume(file: path, problem: s) }
        let status = try reader.status()
        guard status != .completed else { throw fail("run status is \"completed\"; nothing to resume") }
        let c = try config(reader: reader)
        let data = try verifiedData(reader: reader, config: c)
        let ckSteps = try reader.checkpointSteps()
        let mainSteps = try reader.steps()
        guard let ci = ckSteps.indices.last(where: { mainSteps.contains(ckSteps[$0]) }) else {
            throw fail("no parameter checkpoint with a recorded step")
        }
        let step = ckSteps[ci]
        let theta = try reader.parameters(atCheckpointIndex: ci)
        guard let row = try reader.index(ofStep: step) else { throw fail("step \(step) not found") }
        let ev = try reader.eigenvectors(row..<(row + 1))
        let vectors = Matrix(rows: c.k, cols: data.n, data: ev.values)
        reader.close(); readerOpen = false
        let evaluator = try RunSetup(config: c, data: data).evaluator
        let trainer = try Trainer(config: c, evaluator: evaluator, checkpoint: theta, step: Int(step), eigenvectors: vectors)
        let writer = try TrajectoryWriter.resume(path: path, truncatingAfter: step)
        return (trainer, WriterSink(writer: writer), c)
    }
}
