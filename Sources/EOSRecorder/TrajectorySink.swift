import EOSNumerics
import Foundation
import TrajectoryFormat

// The step record handed to sinks is the format's `StepRow` (TrajectoryFormat/RunMetadata.swift);
// the run status is the format's `RunStatus`. This file adds what the trainer needs on top.

extension StepRow {
    /// A main-cadence row as the trainer and `Recorder` produce it: `sharpness` is `eigenvalues[0]`,
    /// `eigenvectors` is the k × n matrix (row i = v_i, signs per docs/FORMAT.md) stored row-major.
    public init(step: Int, loss: Double, residual: [Double], outputs: [Double]?, outputNormSquared: Double,
                eigenvalues: [Double], eigenvectors: Matrix, dtf: Double, outputLayerSharpness: Double? = nil,
                gradNorm: Double? = nil) {
        self.init(step: Int64(step), loss: loss, residual: residual, outputNormSq: outputNormSquared,
                  sharpness: eigenvalues[0], eigenvalues: eigenvalues, eigenvectors: eigenvectors.data, dtf: dtf,
                  outputs: outputs, outputLayerSharpness: outputLayerSharpness, gradNorm: gradNorm)
    }

    /// The stored eigenvectors as a j × N matrix (row i = v_i; N = n·c, the residual's length;
    /// j = k for one output).
    public var eigenvectorMatrix: Matrix {
        let n = residual.count
        return Matrix(rows: n == 0 ? 0 : eigenvectors.count / n, cols: n, data: eigenvectors)
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
    /// The eigensolver's running totals through a checkpoint step, right after that step's
    /// checkpoint was appended (`WriterSink` stores them once the step is on disk).
    func noteCheckpoint(_ totals: EigensolverTotals) throws
}

extension TrajectorySink {
    public func noteCheckpoint(_ totals: EigensolverTotals) throws {}
}

/// Running totals of the top-k eigensolver from step 0 through `step` (all parts of a resumed
/// run together): what `/run@eigensolver_check` holds, so that a resume from the checkpoint at
/// `step` continues the totals exactly.
public struct EigensolverTotals: Sendable, Equatable {
    public var step: Int
    public var checks = 0, lapackFallbacks = 0
    /// Largest relative eigenvalue discrepancy of the cross-checks against LAPACK.
    public var maxDiscrepancy = 0.0
    public var solves = 0, iterations = 0
    public var tolerance: Double
    /// For the totals of an interrupt checkpoint (not on the regular cadence): the JSON of the
    /// totals of the last regular checkpoint before it, stored alongside (key "fallback") so that
    /// a resume can first fall back to that checkpoint in the file and only then drop the
    /// interrupt checkpoint row (which an uninterrupted run does not have).
    public var fallbackJSON: String?

    public init(step: Int, tolerance: Double) { self.step = step; self.tolerance = tolerance }

    /// Mean iterations per solve.
    public var meanIterations: Double { solves == 0 ? 0 : Double(iterations) / Double(solves) }

    /// The JSON of `/run@eigensolver_check`: {"checks", "lapack_fallbacks",
    /// "max_relative_discrepancy", "mean_iterations", "tolerance"} and, since issue 11, the exact
    /// counts "solves", "iterations" and the "step" the totals run through.
    public var json: String {
        let base = String(format: #"{"checks":%d,"lapack_fallbacks":%d,"max_relative_discrepancy":%.6e,"mean_iterations":%.3f,"tolerance":%.3e,"solves":%d,"iterations":%d,"step":%d"#,
                          checks, lapackFallbacks, maxDiscrepancy, meanIterations, tolerance, solves, iterations, step)
        return base + (fallbackJSON.map { #","fallback":"# + $0 } ?? "") + "}"
    }

    /// Parses `json`; nil unless it has every key (files before issue 11 have no "step").
    public init?(json: String) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        self.init(object: o)
        if let f = o["fallback"] as? [String: Any] {
            guard let fb = EigensolverTotals(object: f) else { return nil }
            fallbackJSON = fb.json
        }
    }

    private init?(object o: [String: Any]) {
        guard let step = o["step"] as? Int, let checks = o["checks"] as? Int, let fb = o["lapack_fallbacks"] as? Int,
              let disc = (o["max_relative_discrepancy"] as? NSNumber)?.doubleValue,
              let tol = (o["tolerance"] as? NSNumber)?.doubleValue,
              let solves = o["solves"] as? Int, let iterations = o["iterations"] as? Int else { return nil }
        self.step = step; self.checks = checks; self.lapackFallbacks = fb; self.maxDiscrepancy = disc
        self.tolerance = tol; self.solves = solves; self.iterations = iterations
    }
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
