import EOSNumerics
import TrajectoryFormat

// The step record handed to sinks is the format's `StepRow` (TrajectoryFormat/RunMetadata.swift);
// the run status is the format's `RunStatus`. This file adds what the trainer needs on top.

extension StepRow {
    /// A main-cadence row as the trainer and `Recorder` produce it: `sharpness` is `eigenvalues[0]`,
    /// `eigenvectors` is the k × n matrix (row i = v_i, signs per SPEC §2) stored row-major.
    public init(step: Int, loss: Double, residual: [Double], outputs: [Double]?, outputNormSquared: Double,
                eigenvalues: [Double], eigenvectors: Matrix, dtf: Double, outputLayerSharpness: Double? = nil,
                gradNorm: Double? = nil) {
        self.init(step: Int64(step), loss: loss, residual: residual, outputNormSq: outputNormSquared,
                  sharpness: eigenvalues[0], eigenvalues: eigenvalues, eigenvectors: eigenvectors.data, dtf: dtf,
                  outputs: outputs, outputLayerSharpness: outputLayerSharpness, gradNorm: gradNorm)
    }

    /// The eigenvectors as a k × n matrix (row i = v_i).
    public var eigenvectorMatrix: Matrix {
        let k = eigenvalues.count
        return Matrix(rows: k, cols: k == 0 ? 0 : eigenvectors.count / k, data: eigenvectors)
    }
}

/// Where a trainer or `Recorder` writes. `WriterSink` adapts a `TrajectoryWriter`;
/// `MemorySink` keeps everything in memory (tests, benchmarks).
public protocol TrajectorySink: AnyObject {
    func append(_ row: StepRow) throws
    func appendSpectrum(step: Int, eigenvalues: [Double]) throws
    func appendHessianSharpness(step: Int, value: Double) throws
    func appendCheckpoint(step: Int, parameters: [Double]) throws
    func appendGram(step: Int, matrix: Matrix) throws
    func setStatus(_ status: RunStatus) throws
}

/// An in-memory sink.
public final class MemorySink: TrajectorySink {
    public private(set) var records: [StepRow] = []
    public private(set) var spectra: [(step: Int, values: [Double])] = []
    public private(set) var hessian: [(step: Int, value: Double)] = []
    public private(set) var checkpoints: [(step: Int, parameters: [Double])] = []
    public private(set) var grams: [(step: Int, matrix: Matrix)] = []
    public private(set) var status: RunStatus = .running
    /// When false, only counts are kept (benchmarks).
    public var keep: Bool
    public private(set) var appended = 0

    public init(keep: Bool = true) { self.keep = keep }
    public func append(_ row: StepRow) throws { appended += 1; if keep { records.append(row) } }
    public func appendSpectrum(step: Int, eigenvalues: [Double]) throws { if keep { spectra.append((step, eigenvalues)) } }
    public func appendHessianSharpness(step: Int, value: Double) throws { hessian.append((step, value)) }
    public func appendCheckpoint(step: Int, parameters: [Double]) throws { checkpoints.append((step, parameters)) }
    public func appendGram(step: Int, matrix: Matrix) throws { if keep { grams.append((step, matrix)) } }
    public func setStatus(_ status: RunStatus) throws { self.status = status }
    /// Drops everything after `step` (what a resume from a checkpoint at `step` does to a file).
    public func truncate(after step: Int) {
        records.removeAll { $0.step > Int64(step) }; spectra.removeAll { $0.step > step }
        hessian.removeAll { $0.step > step }; checkpoints.removeAll { $0.step > step }; grams.removeAll { $0.step > step }
    }
}
