/// Lemma 3.2's growth law applied to one phase II [a, p]: |c1| grows by |1 − ηΛ(t)| per step, so
/// starting from |c1(a)| it reaches ‖D(a)‖ after the first τ with
/// |c1(a)|·Π_{t=a}^{a+τ−1} |1 − ηΛ(t)| ≥ ‖D(a)‖ (recorded Λ(t), consecutive rows only). That τ is
/// the predicted number of steps from a to the peak p; the measured one is p − a.
public struct PhaseIILengthItem: Codable, Equatable, Sendable {
    public var cycle: Int
    public var startStep: Int64
    /// |c1(a)| / ‖D(a)‖.
    public var c1Share: Double
    /// The accuracy floor of c1 at a, relative to ‖D(a)‖ (`Analyzer.c1AccuracyFloor`).
    public var floorShare: Double
    /// True when |c1(a)| is at or below the floor: the prediction starts from noise.
    public var startBelowFloor: Bool
    /// τ (nil when the product never reaches ‖D(a)‖ before the recording or a gap ends it).
    public var predictedSteps: Int?
    /// p − a, and the rows of phase II (p − a + 1).
    public var measuredSteps: Int
    public var rowsPhase2: Int
    /// Geometric means over the pairs (t, t+1) in [a, p) with |c1(t)| and |c1(t+1)| above the
    /// floor: measured |c1(t+1)/c1(t)| and predicted |1 − ηΛ(t)|; NaN when no pair qualifies.
    public var measuredGrowth: Double
    public var predictedGrowth: Double
    public var pairsAboveFloor: Int
}

/// Assumption 3.1 by regime. Hover rows: maximal runs of at least `options.hoverMinSteps` rows
/// with |ηΛ/2 − 1| ≤ `options.hoverMargin`. Catapult rows: rows of phases II–IV not in a hover.
/// Other rows: the rest (phase I outside hovers).
public struct RegimeSummary: Codable, Equatable, Sendable {
    public var hoverRows: Int
    public var hoverRuns: Int
    public var catapultRows: Int
    /// Rows from the first row of phase II on (0 when there is none), and the hover rows among them.
    public var rowsFromFirstCrossing: Int
    public var hoverRowsFromFirstCrossing: Int
    public var coMovementHover: Rate
    public var coMovementCatapult: Rate
    public var coMovementOther: Rate
}

/// Assumption 3.2 for ‖A‖² with the output bias: |Δ‖A‖² + (4η/n)Dᵀ(F − β1)| / |Δ‖A‖²| beside the
/// paper's |Δ‖A‖² + (4η/n)DᵀF| / |Δ‖A‖²| (`ChecksSummary.firstOrderOutputNorm`).
public struct BiasExactCheck: Codable, Equatable, Sendable {
    /// Where β came from or why it is unavailable (`OutputBias.note`).
    public var note: String
    /// The bias-exact error per phase, on the pairs where β is known (empty when unavailable).
    public var error: PerPhase<Distribution>
    /// Both errors at the first pair where β is known (NaN when none).
    public var firstPairError: Double
    public var firstPairPaperError: Double
    /// Median of β over the rows where it is known.
    public var medianBias: Double
}
