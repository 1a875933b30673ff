import TrajectoryFormat

extension AnalysisResult {
    /// The `/analysis` contents of this result in the format's type (written by TrajectoryFormat):
    /// the per-step table, a `long_name` per dataset, `options` and `summary` JSON.
    public func fileResults(sourceFile: String?, softwareVersion: String) throws -> AnalysisResults {
        let p = perStep
        return AnalysisResults(
            steps: p.step, phase: p.phase, c1: p.c1, rNormSq: p.rNormSq, rPrimeError: p.rPrimeError, anomaly: p.anomaly,
            longNames: [
                "phase": "Phase 1-4 (docs/ANALYSIS.md §1), rule: \(options.phaseRule.rawValue)",
                "c1": "c1(t) = D(t)^T v1(t)",
                "r_norm_sq": run.outputs.map { "|R(t)|^2 / n (n samples), R = (I - v1 v1^T) vec(D) over n*\($0) outputs" }
                    ?? "|R(t)|^2 / n, R = (I - v1 v1^T) D",
                "r_prime_error": "|R(t) - R'(t)| (\(rPrime.primary.mode); M: \(rPrime.gramSource)); NaN where undefined",
                "anomaly": "1 at step t when sign(Lambda(t+1)-Lambda(t)) != sign(|A(t+1)|-|A(t)|)",
            ],
            options: try optionsJSON(), summary: try summaryJSON(), sourceFile: sourceFile,
            softwareVersion: softwareVersion)
    }
}

/// Writes the `/analysis` group of docs/FORMAT.md and schemas/trajectory-v1.json (see
/// `TrajectoryFormat.AnalysisResults` for the layout; TrajectoryFormat does the writing).
public enum AnalysisFile {
    /// Datasets written under /analysis (besides `step`).
    public static let datasetNames = AnalysisResults.datasetNames

    /// Writes `path` holding only `/analysis` (root `format` "eostrace-analysis") under the output
    /// rule of `TrajectoryFormat.OutputFile`: an existing file only with `force`, never a live
    /// one, written beside it and renamed into place when complete.
    public static func write(_ result: AnalysisResult, to path: String, force: Bool = false, sourceFile: String?,
                             softwareVersion: String) throws {
        try result.fileResults(sourceFile: sourceFile, softwareVersion: softwareVersion).write(to: path, force: force)
    }

    /// Writes `/analysis` into the recording itself (`source_file` = `path`), crash-safe: a
    /// complete copy with `/analysis` is renamed over the recording (see
    /// `AnalysisResults.writeInPlace(recording:)`). The steps must equal `/trajectory/step`; an
    /// existing `/analysis` of the same length is replaced.
    ///
    /// - Throws: `TrajectoryError(.invalidData)` when the steps differ from the recording's.
    public static func writeInPlace(_ result: AnalysisResult, recording path: String, softwareVersion: String) throws {
        try result.fileResults(sourceFile: path, softwareVersion: softwareVersion).writeInPlace(recording: path)
    }
}
