/// One II→III→IV cycle (docs/ANALYSIS.md §1). Rows index the input arrays; steps are the GD step values.
public struct Cycle: Codable, Equatable, Sendable {
    /// Why phase IV ended.
    public enum IVEnd: String, Codable, Sendable {
        /// A step with L(t) ≤ L(p) was reached (loss rule).
        case lossRecovered = "loss_recovered"
        /// A step with DᵀF < 0 was reached (dtf rule).
        case dtfNegative = "dtf_negative"
        /// The next run above 2/η began first.
        case nextRun = "next_run"
        /// The recording ended first.
        case endOfRecording = "end_of_recording"
    }

    public var index: Int
    /// First row of phase II (a), the peak row p (last of II), the last row of phase III (b).
    public var startRow: Int, peakRow: Int, endRow: Int
    /// Last row of phase IV, nil when IV is empty.
    public var ivEndRow: Int?
    public var startStep: Int64, peakStep: Int64, endStep: Int64
    public var ivEndStep: Int64?
    /// Rows in phases II, III, IV.
    public var rowsPhase2: Int, rowsPhase3: Int, rowsPhase4: Int
    /// Step spans (last step − first step + 1; equals rows when there are no gaps; 0 when empty).
    public var stepsPhase2: Int64, stepsPhase3: Int64, stepsPhase4: Int64
    public var ivEndReason: IVEnd
    /// Λ(p) and L(p).
    public var peakSharpness: Double
    public var lossAtPeak: Double
    /// max L over phase III (= L(p) when III is empty) and the rise max L(III) − L(p) (≥ 0).
    public var maxLossPhase3: Double
    public var lossRisePhase3: Double
    /// False when the run above 2/η touches the last row (the recording may have cut it short)
    /// or IV ended with the recording.
    public var complete: Bool
}
