import EOSPhases

/// Options of one analysis; recorded with every result (JSON key `options`).
public struct AnalysisOptions: Codable, Equatable, Sendable {
    /// How phase IV ends (SPEC §3.1): `EOSPhases.PhaseRule` (`loss` or `dtf`).
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

    /// Lemma 3.2 ratios |c1(t+1)/c1(t)| are measured only where |c1(t)| > c1Floor·‖D(t)‖: below,
    /// the v1 component is at round-off level and its ratio is noise.
    public var c1Floor: Double

    public init(phaseRule: PhaseRule = .loss, rPrimeRestarts: Bool = true, rPrimeWindow: Int? = nil,
                anomalyWindow: Int = 2, c1Floor: Double = 1e-10) {
        self.phaseRule = phaseRule
        self.rPrimeRestarts = rPrimeRestarts
        self.rPrimeWindow = rPrimeWindow
        self.anomalyWindow = anomalyWindow
        self.c1Floor = c1Floor
    }

    /// Throws `AnalysisError.invalidInput` for out-of-range values.
    public func validate() throws {
        if anomalyWindow < 0 {
            throw AnalysisError.invalidInput(object: "options.anomaly_window", problem: "must be ≥ 0, got \(anomalyWindow)")
        }
        if !(c1Floor >= 0 && c1Floor.isFinite) {
            throw AnalysisError.invalidInput(object: "options.c1_floor", problem: "must be finite and ≥ 0, got \(c1Floor)")
        }
        if let w = rPrimeWindow, w < 1 {
            throw AnalysisError.invalidInput(object: "options.r_prime_window", problem: "must be ≥ 1, got \(w)")
        }
    }
}
