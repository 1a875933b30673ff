import TrajectoryFormat
import EOSPhases

/// Everything one analysis computed. Encodes to JSON with sorted keys (see `jsonData()`); numbers
/// that are undefined (0/0 ratios, statistics of empty samples) are NaN in memory and the strings
/// "NaN", "Infinity", "-Infinity" in JSON. Per-row quantities live in `perStep`; quantities of a
/// pair of consecutive steps (t, t+1) are stored at row t and are NaN at the last row and before gaps.
public struct AnalysisResult: Codable, Equatable, Sendable {
    /// Version of this result layout.
    public var analysisVersion: Int
    public var options: AnalysisOptions
    public var run: RunInfo
    public var gram: GramUsage
    public var phases: PhaseSummary
    public var decomposition: DecompositionSummary
    public var rPrime: RPrimeSummary
    public var anomalies: AnomalySummary
    public var checks: ChecksSummary
    /// How much of the paper's story the run supports, claim by claim.
    public var story: [StoryItem]
    public var perStep: PerStepTable
    /// The stated conventions checked against the data (`TrajectoryFormat.ConventionCheck`);
    /// nil when not run (an in-memory input).
    public var conventions: ConventionCheckResult?
    /// The recorded per-step solver cost (format 1.1), over the analyzed rows; nil when not recorded.
    public var solverCost: SolverCost?
}

/// Per-step cost the recorder logged: eigensolver iterations, matrix–vector products, wall time.
public struct SolverCost: Codable, Equatable, Sendable {
    public var rows: Int
    public var iterations: Distribution?
    public var matvecs: Distribution?
    public var matvecsTotal: Double?
    public var stepSeconds: Distribution?
    public var secondsTotal: Double?
}

public struct RunInfo: Codable, Equatable, Sendable {
    public var rows: Int
    public var firstStep: Int64
    public var lastStep: Int64
    /// Rows i with steps[i+1] == steps[i] + 1.
    public var consecutivePairs: Int
    /// Adjacent rows that are not consecutive steps.
    public var gaps: Int
    public var learningRate: Double
    /// 2/η.
    public var threshold: Double
    public var n: Int
    /// c, the number of outputs, when c > 1 (nil, and absent from the JSON, for one output):
    /// every vector the analysis uses is vec(D) ∈ R^{n·c}, sample-major.
    public var outputs: Int?
    public var k: Int
    public var modelKind: String?
    /// ‖Y‖ when known.
    public var targetNorm: Double?
}

/// Where M(t) came from. Every result that depends on M (R′ tracking, the first-order error of
/// Assumption 3.2) is exact only when `approximate` is false.
public struct GramUsage: Codable, Equatable, Sendable {
    /// `GramSource` raw value of the provider ("exact", "stored_gram", "top_k_approximation").
    public var source: String
    public var label: String
    /// Consecutive pairs for which the provider supplied M(t).
    public var rowsFromSource: Int
    /// Consecutive pairs for which the top-k approximation stood in.
    public var rowsTopKFallback: Int
    /// True when any M(t) used was the top-k approximation.
    public var approximate: Bool
    /// Replay report when the provider replayed GD (else nil).
    public var replay: ReplayReport?
    /// Why a better source of M was not used (e.g. "not replayable: no parameter checkpoints").
    public var note: String?
    /// Which M each M-dependent result used, and on how many rows it is exact ("recorded
    /// products", "replay within tolerance", "replay beyond tolerance", "stored gram", "top-k
    /// approximation").
    public var results: [MResultSource]?
    /// Replay as a verification: drift per checkpoint interval and, with products, the distance of
    /// the replayed products from the recorded ones (nil when nothing was replayed).
    public var verification: ReplayVerification?
}

/// How well replayed GD reproduced the recording (docs/ANALYSIS.md §8).
public struct ReplayReport: Codable, Equatable, Sendable {
    public var checkpoints: Int
    /// max over rows of ‖D_replay(t) − D_recorded(t)‖ / ‖D_recorded(t)‖.
    public var maxRelativeDriftResidual: Double
    /// Step where that maximum occurred.
    public var maxDriftStep: Int64?
    /// max over checkpoints reached by replay of ‖θ_replay − θ_checkpoint‖ / ‖θ_checkpoint‖.
    public var maxRelativeDriftCheckpoint: Double
    /// docs/ANALYSIS.md §8 tolerance (1e-9) and whether both drifts are within it.
    public var tolerance: Double
    public var withinTolerance: Bool

    public init(checkpoints: Int, maxRelativeDriftResidual: Double, maxDriftStep: Int64?,
                maxRelativeDriftCheckpoint: Double, tolerance: Double = 1e-9) {
        self.checkpoints = checkpoints
        self.maxRelativeDriftResidual = maxRelativeDriftResidual
        self.maxDriftStep = maxDriftStep
        self.maxRelativeDriftCheckpoint = maxRelativeDriftCheckpoint
        self.tolerance = tolerance
        withinTolerance = maxRelativeDriftResidual <= tolerance && !(maxRelativeDriftCheckpoint > tolerance)
    }
}

public struct PhaseSummary: Codable, Equatable, Sendable {
    public var rule: AnalysisOptions.PhaseRule
    /// Rows per phase (`all` = T).
    public var rows: PerPhase<Int>
    public var cycles: [Cycle]
    public var cycleCount: Int
    public var completeCycles: Int
    /// The excursion rule that made the cycles (`options.excursions`).
    public var excursions: ExcursionRule
    /// Cycles whose run above 2/η is one row, and max Λ/(2/η) − 1 over them (NaN when none).
    public var oneStepCycles: Int
    public var oneStepMaxMargin: Double
    /// `EOSPhases.CycleCount.text`: "32 cycles, 27 of them one-step excursions ≤ 0.5 % above 2/η".
    public var cycleText: String
    /// Durations in steps of phases II, III, IV over cycles, and the loss rise in phase III.
    public var durationPhase2: Distribution
    public var durationPhase3: Distribution
    public var durationPhase4: Distribution
    public var lossRisePhase3: Distribution
}

public struct DecompositionSummary: Codable, Equatable, Sendable {
    /// |c1(t)| = |D(t)ᵀv1(t)|.
    public var absC1: PerPhase<Distribution>
    /// (‖R(t)‖²/n) / L(t): share of the loss outside v1.
    public var rShareOfLoss: PerPhase<Distribution>
    /// Over consecutive pairs: fraction where L decreases, and where ‖R‖² decreases.
    public var lossDecreases: PerPhase<Rate>
    public var rNormSqDecreases: PerPhase<Rate>
}

public struct RPrimeSeries: Codable, Equatable, Sendable {
    /// "from_start", "restart_at_phase_II", "restart_at_phase_II_and_every_window", "every_window".
    public var mode: String
    /// How many times R′ was set to R (first row, after gaps, and at the mode's restarts).
    public var starts: Int
    /// e(t) = ‖R(t) − R′(t)‖ and e(t)/‖R(t)‖.
    public var absError: PerPhase<Distribution>
    public var relError: PerPhase<Distribution>
    public var finalAbsError: Double
    public var finalRelError: Double
}

public struct RPrimeSummary: Codable, Equatable, Sendable {
    /// Label of the M(t) used (copied from `gram`); approximate unless exact.
    public var gramSource: String
    public var fromStart: RPrimeSeries
    /// The series reported as `r_prime_error` (per the options).
    public var primary: RPrimeSeries
}

public struct AnomalySummary: Codable, Equatable, Sendable {
    public var count: Int
    /// Consecutive pairs examined.
    public var pairs: Int
    public var rate: Double
    public var perPhase: PerPhase<Rate>
    /// Steps t that are anomaly points.
    public var steps: [Int64]
    /// Sign changes of ‖A(t+1)‖² − ‖A(t)‖² (within contiguous stretches), located at the first
    /// step t of the first pair with the new sign.
    public var signChanges: Int
    public var signChangeSteps: [Int64]
    /// Anomaly points within `window` steps of a sign change.
    public var window: Int
    public var nearSignChange: Int
    public var nearSignChangeRate: Double
    /// Chance level: fraction of all examined pairs within `window` steps of a sign change. When
    /// sign changes are dense (period-2 oscillation) this is near 1 and "near" means little.
    public var pairsNearSignChangeRate: Double
}

/// Assumption 3.6 measured at the start t0 of one phase II.
public struct Assumption36Item: Codable, Equatable, Sendable {
    public var cycle: Int
    public var step: Int64
    /// c1(t0), ‖D(t0)‖, ε2 = max ε2(t) over the consecutive pairs of this phase II [a, p].
    public var c1: Double
    public var residualNorm: Double
    public var eps2: Double
    /// c = |c1(t0)| / (ε2 ‖D(t0)‖); the assumption holds when c > 1.
    public var c: Double
    public var holds: Bool
    /// The second reading: ε2 = ε2(t0) of the pair (t0, t0+1) only, c = |c1(t0)|/(ε2(t0)‖D(t0)‖).
    public var eps2AtStart: Double
    public var cAtStart: Double
    public var holdsAtStart: Bool
    /// τ = ηΛ(t0) − 2 and Lemma 3.2's factor (1+τ)(1 − ε2 − 1/c); growth is guaranteed when > 1.
    public var tau: Double
    public var lemma32Factor: Double
}

public struct Lemma32Check: Codable, Equatable, Sendable {
    /// |c1(t+1)/c1(t)| on consecutive pairs with t in phases II–III.
    public var measuredRatio: PerPhase<Distribution>
    /// |1 − ηΛ(t)| on the same pairs.
    public var predictedRatio: Distribution
    /// log(measured / predicted).
    public var logRatioError: Distribution
    /// Fraction of those pairs where |c1| grows (measured ratio > 1).
    public var growth: Rate
    /// Pairs left out because |c1(t)| or |c1(t+1)| is at or below its accuracy floor
    /// (`Analyzer.c1AccuracyFloor`·‖D‖: the eigenvector's error from the eigengap, at least
    /// `options.c1Floor`).
    public var excludedBelowFloor: Int
}

public struct ExactUpdateCheck: Codable, Equatable, Sendable {
    /// ‖D(t+1) − (I − ηM*(t))D(t)‖ / ‖D(t+1)‖ (round-off expected) and / ‖D(t+1) − D(t)‖.
    public var relativeToResidual: Distribution
    public var relativeToStep: Distribution
}

public struct ChecksSummary: Codable, Equatable, Sendable {
    /// 3.1: sign(ΔΛ) = sign(Δ‖A‖) on pairs where both differences are nonzero.
    public var coMovement: PerPhase<Rate>
    /// 3.2: ‖D(t+1) − (I − ηM(t))D(t)‖ / ‖D(t+1) − D(t)‖ (depends on M: see `gram`).
    public var firstOrderResidual: PerPhase<Distribution>
    /// 3.2: |Δ‖A‖² + (4η/n)DᵀF| / |Δ‖A‖²|.
    public var firstOrderOutputNorm: PerPhase<Distribution>
    /// 3.2 bias-exact: |Δ‖A‖² + (4η/n)Dᵀ(F − β1)| / |Δ‖A‖²| with β the output bias (nil when not computed).
    public var outputBias: BiasExactCheck?
    /// 3.5(iii): ε2(t) = 1 − |⟨v1(t), v1(t+1)⟩|.
    public var eps2: PerPhase<Distribution>
    /// 3.6 at each phase-II start.
    public var assumption36: [Assumption36Item]
    public var assumption36Holds: Rate
    /// 3.6 with ε2 at the start step only (the second reading).
    public var assumption36HoldsAtStart: Rate
    /// Lemma 3.2's growth law: predicted against measured length of every phase II.
    public var phase2Lengths: [PhaseIILengthItem]
    /// 3.1 co-movement by regime (hover, catapult cycles, other rows).
    public var regimes: RegimeSummary
    /// 3.7: λ2(t) < 1/η (nil when k < 2), and ηλ2 distribution.
    public var assumption37: PerPhase<Rate>?
    public var etaLambda2: Distribution?
    /// λ_max(M_A)/Λ (nil when not recorded).
    public var outputLayerRatio: PerPhase<Distribution>?
    /// Proposition 3.1: DᵀF > 0 on rows with ‖D‖ > ‖Y‖ (nil when ‖Y‖ unknown).
    public var proposition31: PerPhase<Rate>?
    /// Proposition 3.2 on consecutive pairs with ‖D(t)‖ > ‖Y‖: Δ‖A‖² < −(4η/n)(‖D‖ − ‖Y‖)²
    /// (`bound`), and the weaker Δ‖A‖² < 0 (`direction`).
    public var proposition32Bound: PerPhase<Rate>?
    public var proposition32Direction: PerPhase<Rate>?
    public var lemma32: Lemma32Check
    /// Two-layer linear runs only: residual of the exact M* update.
    public var exactUpdate: ExactUpdateCheck?
}

/// One claim of the paper with the measured support.
public struct StoryItem: Codable, Equatable, Sendable {
    public var claim: String
    public var measure: String
    public var value: Double
    /// "supported" (≥ 0.9), "mostly" (≥ 0.7), "partly" (≥ 0.4), "not supported", or "n/a";
    /// thresholds apply to rates; error measures are mapped to a rate first (see `Analyzer`).
    public var verdict: String
    /// The rows (phases) the value and verdict are computed on, e.g. "phases II–III".
    public var basis: String
    /// The rate in [0, 1] the verdict is read from (the value itself, or e.g. 1 − the value; see
    /// the measure's "rate:" part); nil in results written before it was stored.
    public var rate: Double? = nil
}

/// Per-row series (CSV columns, /analysis datasets). Pair quantities sit at the first row.
public struct PerStepTable: Codable, Equatable, Sendable {
    public var step: [Int64]
    public var phase: [Int8]
    public var loss: [Double]
    public var sharpness: [Double]
    public var outputNormSq: [Double]
    public var dtf: [Double]
    public var c1: [Double]
    /// ‖R(t)‖²/n.
    public var rNormSq: [Double]
    public var rPrimeError: [Double]
    public var rPrimeRelError: [Double]
    public var rPrimeErrorFromStart: [Double]
    public var rPrimeRelErrorFromStart: [Double]
    public var anomaly: [UInt8]
    public var eps2: [Double]
    public var firstOrderError: [Double]
    public var outputNormFirstOrderError: [Double]
    public var c1Ratio: [Double]
    public var exactUpdateError: [Double]
    /// ‖D_replay(t) − D(t)‖/‖D(t)‖ where M(t) came from replay (NaN elsewhere).
    public var replayDrift: [Double]
    /// 1 where the row's first-order error of D / primary R′ error / R′-from-start error is
    /// exact (recorded products, a replay within tolerance, the stored gram; for R′ every M since
    /// the last restart), 0 where it is not (drifted replay, top-k).
    public var firstOrderExact: [UInt8]? = nil
    public var rPrimeExact: [UInt8]? = nil
    public var rPrimeFromStartExact: [UInt8]? = nil
}
