/// The four phases of docs/ANALYSIS.md §1, numbered as in the `/analysis/phase` dataset (int8 1–4).
public enum Phase: Int8, Sendable, CaseIterable {
    /// Λ ≤ 2/η (and not recovering from a run above it).
    case I = 1
    /// In a run above 2/η, up to and including its peak (first maximum of Λ).
    case II
    /// In a run above 2/η, after its peak.
    case III
    /// After a run above 2/η, until the loss recovers (`PhaseRule`) or the next run begins.
    case IV

    /// "I", "II", "III" or "IV".
    public var roman: String { ["I", "II", "III", "IV"][Int(rawValue) - 1] }
}

/// How phase IV ends (docs/ANALYSIS.md §1). Raw values are the JSON / CLI spellings.
public enum PhaseRule: String, Codable, Sendable, CaseIterable {
    /// IV ends at the first step with L(t) ≤ L(p) (p = peak of the run), or when the next run
    /// above 2/η begins. The step with L(t) ≤ L(p) is phase I.
    case loss
    /// IV ends at the first step with DᵀF < 0, or when the next run above 2/η begins. That
    /// step is phase I.
    case dtf

    /// True when a step after a run ends phase IV: L(t) ≤ L(p) (`loss`) or DᵀF(t) < 0 (`dtf`).
    /// `dtf` is read only by the `dtf` rule, `loss` and `lossAtPeak` only by the `loss` rule.
    @inlinable public func endsPhaseIV(loss: Double, lossAtPeak: Double, dtf: Double) -> Bool {
        switch self {
        case .loss: return loss <= lossAtPeak
        case .dtf: return dtf < 0
        }
    }
}

/// The two comparisons every phase decision is made of (shared by the offline segmentation and
/// the online trackers, so they cannot disagree on them).
public enum StabilityThreshold {
    /// 2/η, the stability threshold of GD with step size η.
    @inlinable public static func of(learningRate: Double) -> Double { 2 / learningRate }

    /// Λ > 2/η, strictly (Λ = 2/η is not above; NaN is not above).
    @inlinable public static func isAbove(_ sharpness: Double, threshold: Double) -> Bool { sharpness > threshold }

    /// True when Λ is a new peak of the run: strictly larger than the peak so far (so the peak of
    /// a run is its *first* maximum).
    @inlinable public static func isNewPeak(_ sharpness: Double, over peak: Double) -> Bool { sharpness > peak }
}
