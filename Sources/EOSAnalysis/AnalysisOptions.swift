import EOSPhases

/// Options of one analysis; recorded with every result (JSON key `options`).
public struct AnalysisOptions: Codable, Equatable, Sendable {
    /// How phase IV ends (docs/ANALYSIS.md §1): `EOSPhases.PhaseRule` (`loss` or `dtf`).
    public typealias PhaseRule = EOSPhases.PhaseRule

    /// Phase-IV end rule.
    public var phaseRule: PhaseRule
    /// Restart R′ := R at the start of every phase II (the primary `r_prime_error` series). The
    /// series tracked from the first step is always computed as well.
    public var rPrimeRestarts: Bool
    /// When set (≥ 1), the primary R′ series is additionally restarted every `rPrimeWindow`
    /// consecutive rows, so errors measure tracking over horizons of at most that many steps.
    public var rPrimeWindow: Int?
    /// An anomaly point counts as "near a sign change of Δ‖A‖²" when within this many steps.
    public var anomalyWindow: Int

    /// Lower bound of the accuracy floor of c1 relative to ‖D‖ (`Analyzer.c1AccuracyFloor`, whose
    /// other term comes from the eigengap): Lemma 3.2 ratios |c1(t+1)/c1(t)| and the phase-II growth
    /// are measured only where |c1| is above the floor; below, the ratio is noise.
    public var c1Floor: Double

    /// Which runs above 2/η are cycles (`EOSPhases.ExcursionRule`: minimum excursion, merging);
    /// the default is every maximal run. Changes phases, cycles and verdicts, not where the
    /// primary R′ restarts (at every run of the default rule, as a recorder restarts it).
    public var excursions: ExcursionRule
    /// Hover regime: maximal runs of at least `hoverMinSteps` rows with |ηΛ/2 − 1| ≤ `hoverMargin`.
    public var hoverMargin: Double
    public var hoverMinSteps: Int

    public init(phaseRule: PhaseRule = .loss, rPrimeRestarts: Bool = true, rPrimeWindow: Int? = nil,
                anomalyWindow: Int = 2, c1Floor: Double = 1e-10, excursions: ExcursionRule = .init(),
                hoverMargin: Double = 0.03, hoverMinSteps: Int = 20) {
        self.phaseRule = phaseRule
        self.rPrimeRestarts = rPrimeRestarts
        self.rPrimeWindow = rPrimeWindow
        self.anomalyWindow = anomalyWindow
        self.c1Floor = c1Floor
        self.excursions = excursions
        self.hoverMargin = hoverMargin
        self.hoverMinSteps = hoverMinSteps
    }

    private enum CodingKeys: String, CodingKey {
        case phaseRule, rPrimeRestarts, rPrimeWindow, anomalyWindow, c1Floor, excursions, hoverMargin, hoverMinSteps
    }

    /// Options written before the excursion and hover options existed decode with their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AnalysisOptions()
        self.init(phaseRule: try c.decode(PhaseRule.self, forKey: .phaseRule),
                  rPrimeRestarts: try c.decode(Bool.self, forKey: .rPrimeRestarts),
                  rPrimeWindow: try c.decodeIfPresent(Int.self, forKey: .rPrimeWindow),
                  anomalyWindow: try c.decode(Int.self, forKey: .anomalyWindow),
                  c1Floor: try c.decode(Double.self, forKey: .c1Floor),
                  excursions: try c.decodeIfPresent(ExcursionRule.self, forKey: .excursions) ?? d.excursions,
                  hoverMargin: try c.decodeIfPresent(Double.self, forKey: .hoverMargin) ?? d.hoverMargin,
                  hoverMinSteps: try c.decodeIfPresent(Int.self, forKey: .hoverMinSteps) ?? d.hoverMinSteps)
    }

    /// Throws `AnalysisError.invalidInput` for out-of-range values.
    public func validate() throws {
        if anomalyWindow < 0 {
            throw AnalysisError.invalidInput(object: "options.anomaly_window", problem: "must be ≥ 0, got \(anomalyWindow)")
        }
        if !(c1Floor >= 0 && c1Floor.isFinite) {
            throw AnalysisError.invalidInput(object: "options.c1_floor", problem: "must be finite and ≥ 0, got \(c1Floor)")
        }
        if let problem = excursions.problem {
            throw AnalysisError.invalidInput(object: "options.excursions", problem: problem)
        }
        if !(hoverMargin >= 0 && hoverMargin.isFinite) {
            throw AnalysisError.invalidInput(object: "options.hover_margin", problem: "must be finite and ≥ 0, got \(hoverMargin)")
        }
        if hoverMinSteps < 1 {
            throw AnalysisError.invalidInput(object: "options.hover_min_steps", problem: "must be ≥ 1, got \(hoverMinSteps)")
        }
        if let w = rPrimeWindow, w < 1 {
            throw AnalysisError.invalidInput(object: "options.r_prime_window", problem: "must be ≥ 1, got \(w)")
        }
    }
}
