/// The recorded M-products of a format-1.1 recording (`TrajectoryFormat.RecordedProducts`), row
/// by row: with them the results that need M(t) are exact from the file alone.
public struct ProductSource: Sendable {
    /// Row → M(t)D(t) (n values), when recorded.
    public var gramResidual: (@Sendable (Int) throws -> [Double])?
    /// Row → R′(t) restarted at every causal phase-II start, when recorded.
    public var rPrime: (@Sendable (Int) throws -> [Double])?
    /// Row → R′(t) from the first recorded step, when recorded.
    public var rPrimeFromStart: (@Sendable (Int) throws -> [Double])?
    /// True when the analyzed rows begin at the recording's first step (where the recorded chains
    /// start); false for a `--steps` range that starts later.
    public var startsAtFirstRecordedStep: Bool
    /// Two-layer linear models: X (n×d row-major), d and the width m, for M*(t)D(t) =
    /// M(t)D(t) − (4η/(n²m))(DᵀF)XXᵀD(t) from `gramResidual`.
    public var linear: (x: [Double], d: Int, width: Int)?

    public init(gramResidual: (@Sendable (Int) throws -> [Double])? = nil, rPrime: (@Sendable (Int) throws -> [Double])? = nil,
                rPrimeFromStart: (@Sendable (Int) throws -> [Double])? = nil, startsAtFirstRecordedStep: Bool = true,
                linear: (x: [Double], d: Int, width: Int)? = nil) {
        self.gramResidual = gramResidual
        self.rPrime = rPrime
        self.rPrimeFromStart = rPrimeFromStart
        self.startsAtFirstRecordedStep = startsAtFirstRecordedStep
        self.linear = linear
    }

    /// Whether any product is present.
    public var isEmpty: Bool { gramResidual == nil && rPrime == nil && rPrimeFromStart == nil }
}

/// Which M(t) a result used (the `source` of `MResultSource`).
public enum MSourceKind: String, Codable, Sendable, CaseIterable {
    /// Read from the recording's M-products: exact on any machine.
    case recordedProducts = "recorded_products"
    /// GD replayed from checkpoints, every used row within the 1e-9 drift tolerance.
    case replayWithinTolerance = "replay_within_tolerance"
    /// GD replayed, but some rows drifted past the tolerance: those rows are not exact.
    case replayBeyondTolerance = "replay_beyond_tolerance"
    /// The recording's stored `gram` (top-k approximation at the other steps).
    case storedGram = "stored_gram"
    /// Σ_{i≤k} λ_i v_i v_iᵀ: not exact.
    case topK = "top_k_approximation"

    /// The words the summary prints.
    public var words: String {
        switch self {
        case .recordedProducts: return "recorded products"
        case .replayWithinTolerance: return "replay within tolerance"
        case .replayBeyondTolerance: return "replay beyond tolerance"
        case .storedGram: return "stored gram"
        case .topK: return "top-k approximation"
        }
    }
}

/// The M behind one M-dependent result, and on how many of its rows it is exact.
public struct MResultSource: Codable, Equatable, Sendable {
    /// "first_order_residual", "r_prime" (primary R′), "r_prime_from_start", "exact_update".
    public var result: String
    /// `MSourceKind` raw value.
    public var source: String
    /// e.g. "recorded products", "replay within tolerance", "replay beyond tolerance at 12 of 300 rows (not exact there)".
    public var label: String
    /// Rows with a value, and those of them whose value is exact (M within tolerance, and for R′
    /// every M since the last restart).
    public var rows: Int
    public var exactRows: Int
    /// True when every row with a value is exact.
    public var exact: Bool
    /// Why the recorded products did not serve this result (nil when they did or the file has none).
    public var note: String?
}

/// Replay as a verification: its drift per checkpoint interval and, for a file with products,
/// how far the replayed products are from the recorded ones.
public struct ReplayVerification: Codable, Equatable, Sendable {
    /// The drift tolerance (1e-9 relative).
    public var tolerance: Double
    public var intervals: [DriftInterval]
    /// Rows whose replayed D(t) drifted past the tolerance (never labelled exact).
    public var rowsBeyondTolerance: Int
    /// First step past the tolerance, or nil.
    public var firstStepBeyondTolerance: Int64?
    /// With products: max over rows of ‖M_replay D − gram_residual‖/‖gram_residual‖, and of the
    /// replayed R′ against `r_prime` / `r_prime_from_start` (relative to ‖R′‖); nil without them.
    public var maxGramResidualDifference: Double?
    public var maxRPrimeDifference: Double?
    public var maxRPrimeFromStartDifference: Double?
}

/// One checkpoint interval [fromStep, toStep] of the replay.
public struct DriftInterval: Codable, Equatable, Sendable {
    public var fromStep: Int64
    public var toStep: Int64
    public var rows: Int
    /// max ‖D_replay(t) − D(t)‖/‖D(t)‖ over its rows.
    public var maxDrift: Double
    public var rowsBeyondTolerance: Int
    public var firstStepBeyondTolerance: Int64?
    /// With products: max relative difference of the replayed M(t)D(t) from `gram_residual`.
    public var maxGramResidualDifference: Double?
}

/// The replay tolerance of the analysis (relative drift of D).
public let replayDriftTolerance = 1e-9
