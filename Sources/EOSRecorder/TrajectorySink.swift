import EOSNumerics

/// How a run ended (maps to the file's `/run/status`).
public enum TrainingStatus: String, Sendable, Equatable {
    case running, completed, diverged, interrupted
}

/// One recorded step (main cadence), SPEC §2 names in the comments.
public struct StepRecord: Sendable, Equatable {
    public var step: Int
    /// `loss` L = ‖D‖²/n.
    public var loss: Double
    /// `residual` D (n).
    public var residual: [Double]
    /// `outputs` F (n).
    public var outputs: [Double]?
    /// `output_norm_sq` ‖A‖².
    public var outputNormSquared: Double
    /// `eigenvalues` top-k of M, descending; `sharpness` is the first.
    public var eigenvalues: [Double]
    /// `eigenvectors` k × n (row i = v_i), signs per SPEC §2.
    public var eigenvectors: Matrix
    /// `dtf` DᵀF.
    public var dtf: Double
    /// `output_layer_sharpness` λ_max(M_A).
    public var outputLayerSharpness: Double?
    /// `grad_norm` ‖∇L‖.
    public var gradNorm: Double?

    public var sharpness: Double { eigenvalues[0] }
}

/// Where a trainer or `Recorder` writes. `TrajectoryWriter` conforms (TrajectoryWriterSink.swift);
/// `MemorySink` keeps everything in memory (tests, benchmarks).
public protocol TrajectorySink: AnyObject {
    func append(_ record: StepRecord) throws
    func appendSpectrum(step: Int, eigenvalues: [Double]) throws
    func appendHessianSharpness(step: Int, value: Double) throws
    func appendCheckpoint(step: Int, parameters: [Double]) throws
    func appendGram(step: Int, matrix: Matrix) throws
    func setStatus(_ status: TrainingStatus) throws
}

/// An in-memory sink.
public final class MemorySink: TrajectorySink {
    public private(set) var records: [StepRecord] = []
    public private(set) var spectra: [(step: Int, values: [Double])] = []
    public private(set) var hessian: [(step: Int, value: Double)] = []
    public private(set) var checkpoints: [(step: Int, parameters: [Double])] = []
    public private(set) var grams: [(step: Int, matrix: Matrix)] = []
    public private(set) var status: TrainingStatus = .running
    /// When false, only counts are kept (benchmarks).
    public var keep: Bool
    public private(set) var appended = 0

    public init(keep: Bool = true) { self.keep = keep }
    public func append(_ record: StepRecord) throws { appended += 1; if keep { records.append(record) } }
    public func appendSpectrum(step: Int, eigenvalues: [Double]) throws { if keep { spectra.append((step, eigenvalues)) } }
    public func appendHessianSharpness(step: Int, value: Double) throws { hessian.append((step, value)) }
    public func appendCheckpoint(step: Int, parameters: [Double]) throws { checkpoints.append((step, parameters)) }
    public func appendGram(step: Int, matrix: Matrix) throws { if keep { grams.append((step, matrix)) } }
    public func setStatus(_ status: TrainingStatus) throws { self.status = status }
    /// Drops everything after `step` (what a resume from a checkpoint at `step` does to a file).
    public func truncate(after step: Int) {
        records.removeAll { $0.step > step }; spectra.removeAll { $0.step > step }
        hessian.removeAll { $0.step > step }; checkpoints.removeAll { $0.step > step }; grams.removeAll { $0.step > step }
    }
}
