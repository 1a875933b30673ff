import EOSPhases
import Foundation

/// The per-row series the story needs beyond the summaries (phases, R′ errors).
struct StoryRows {
    var phases: [Int8]
    /// The M-dependent series with NaN where the row's value is not exact (drifted replay, top-k):
    /// such rows never feed a verdict.
    var rPrimeRelError: [Double]
    var rPrimeRelErrorFromStart: [Double]
    var firstOrderError: [Double]
    /// The primary R′ relative error at every row (exact or not): the value printed when no row is exact.
    var rPrimeRelErrorAll: [Double]
    /// Rows with a value, and those exact, per M-dependent claim.
    var firstOrderRows = 0, firstOrderExactRows = 0
    var rPrimeRows = 0, rPrimeExactRows = 0
    var rPrimeBothJudged = false

    init(phases: [Int8], series: RowSeries) {
        self.phases = phases
        func exactOnly(_ v: [Double], _ e: [UInt8]) -> [Double] { v.indices.map { e[$0] == 1 ? v[$0] : .nan } }
        rPrimeRelError = exactOnly(series.rPrimeRelError, series.rPrimeExact)
        rPrimeRelErrorAll = series.rPrimeRelError
        rPrimeRelErrorFromStart = exactOnly(series.rPrimeRelErrorFromStart, series.rPrimeFromStartExact)
        firstOrderError = exactOnly(series.firstOrderError, series.firstOrderExact)
        firstOrderRows = series.firstOrderError.filter(\.isFinite).count
        firstOrderExactRows = firstOrderError.filter(\.isFinite).count
        rPrimeRows = series.rPrimeRelError.filter(\.isFinite).count + series.rPrimeRelErrorFromStart.filter(\.isFinite).count
        rPrimeExactRows = rPrimeRelError.filter(\.isFinite).count + rPrimeRelErrorFromStart.filter(\.isFinite).count
        // The claim's value is the larger of both chains' medians: each chain must be judged.
        rPrimeBothJudged = StoryRows.judged(exact: rPrimeRelError.filter(\.isFinite).count,
                                            of: series.rPrimeRelError.filter(\.isFinite).count)
            && StoryRows.judged(exact: rPrimeRelErrorFromStart.filter(\.isFinite).count,
                                of: series.rPrimeRelErrorFromStart.filter(\.isFinite).count)
    }

    /// A claim that needs M gets a verdict only when at least half of its rows are exact; it is
    /// then judged on the exact rows alone.
    static func judged(exact: Int, of rows: Int) -> Bool { exact > 0 && 2 * exact >= rows }

    /// Median of `values` over rows whose phase is in `set` (NaN when none is finite).
    func median(_ values: [Double], phases set: Set<Int8>) -> Double {
        Distribution(values.indices.filter { set.contains(phases[$0]) }.map { values[$0] }).median
    }
}

/// The verdict scale of the story, in one place: a claim's measure is mapped to a rate in [0, 1]
/// (the rate itself, or e.g. 1 − median error) and the rate to a verdict.
public enum StoryVerdict {
    /// (lowest rate, verdict), best first; below the last cut-off: "not supported".
    public static let cutoffs: [(rate: Double, verdict: String)] = [(0.9, "supported"), (0.7, "mostly"), (0.4, "partly")]
    public static let notSupported = "not supported"
    /// No rate (NaN), or a check whose M(t) is the top-k approximation, which makes it meaningless.
    public static let notApplicable = "n/a"

    public static func verdict(_ rate: Double) -> String {
        if rate.isNaN { return notApplicable }
        return cutoffs.first { rate >= $0.rate }?.verdict ?? notSupported
    }
}

extension Analyzer {
    /// `StoryVerdict.verdict`.
    static func verdict(_ rate: Double) -> String { StoryVerdict.verdict(rate) }

    /// The paper's claims, each with its measure, value, verdict and the rows it is judged on.
    /// Claims that need M(t) (Assumption 3.2 for D, R′ tracking) get no verdict ("n/a", marked
    /// "[approximate M: no verdict]") when any M(t) was the top-k approximation: it leaves out
    /// all but k directions of M, so the first-order error and R′ measure the approximation.
    static func makeStory(phases: PhaseSummary, anomalies: AnomalySummary, checks: ChecksSummary,
                          rPrime: RPrimeSummary, decomposition: DecompositionSummary, approximate: Bool,
                          rows: StoryRows) -> [StoryItem] {
        var items: [StoryItem] = []
        func add(_ claim: String, _ measure: String, _ value: Double, _ rate: Double, _ basis: String, needsM: Bool = false,
                 exactRows: Int = 0, rowsWithValue: Int = 0) {
            let noVerdict = needsM && !StoryRows.judged(exact: exactRows, of: rowsWithValue)
            var b = basis
            if needsM && !noVerdict && exactRows < rowsWithValue {
                b += " (exact M only: \(exactRows) of \(rowsWithValue) rows; the others are left out)"
            }
            items.append(StoryItem(claim: claim + (noVerdict ? " [approximate M: no verdict]" : ""), measure: measure,
                                   value: value, verdict: noVerdict ? StoryVerdict.notApplicable : verdict(rate), basis: b, rate: rate))
        }
        let cycleCount = Double(phases.cycleCount)
        let multiStep = phases.cycles.filter { $0.complete && $0.endRow > $0.startRow }.count
        add("EOS: Λ crosses 2/η and comes back below it (§3.1)",
            "\(phases.cycleText); rate: complete cycles of ≥ 2 steps above 2/η / cycles", cycleCount,
            phases.cycleCount == 0 ? 0 : Double(multiStep) / cycleCount, "cycles")
        add("‖A‖ and Λ move together (Assumption 3.1)", "co-movement rate", checks.coMovement.all.rate,
            checks.coMovement.all.rate, "all pairs")
        let r = checks.regimes
        if r.rowsFromFirstCrossing > 0 {
            let share = Double(r.rowsFromFirstCrossing - r.hoverRowsFromFirstCrossing) / Double(r.rowsFromFirstCrossing)
            add("The paper's mechanism (catapult cycles, ‖A‖ and Λ co-moving) describes the run (§3.1, Assumption 3.1)",
                "share of rows from the first crossing not in a hover (co-movement: catapult \(fmt(r.coMovementCatapult.rate)), hover \(fmt(r.coMovementHover.rate)))",
                share, r.coMovementHover.total > 0 && r.coMovementHover.rate < 0.5 ? min(share, r.coMovementCatapult.rate) : share,
                "rows from the first crossing of 2/η")
        }
        // Lift above chance: (near rate − chance)/(1 − chance); n/a when every pair is near a change.
        let chance = anomalies.pairsNearSignChangeRate
        add("Anomaly points sit near sign changes of Δ‖A‖² (§3.2, Fig. 2)",
            "fraction of anomalies within \(anomalies.window) steps (chance \(fmt(chance)); rate: lift above chance)",
            anomalies.nearSignChangeRate,
            chance < 1 ? (anomalies.nearSignChangeRate - chance) / (1 - chance) : .nan, "anomaly points")
        // Judged on the exact rows only when enough rows are exact; otherwise the (approximate)
        // value over all rows is printed without a verdict.
        let firstOrderErrorMedian = StoryRows.judged(exact: rows.firstOrderExactRows, of: rows.firstOrderRows)
                                    ? Distribution(rows.firstOrderError).median
                                                                  : checks.firstOrderResidual.all.median
        add("D follows its first-order update (Assumption 3.2)",
            "median ‖D(t+1) − (I − ηM)D(t)‖/‖ΔD‖ (rate: 1 − median)", firstOrderErrorMedian, 1 - firstOrderErrorMedian,
            "all pairs", needsM: true, exactRows: rows.firstOrderExactRows, rowsWithValue: rows.firstOrderRows)
        let outputNormErrorMedian = checks.firstOrderOutputNorm.all.median
        add("‖A‖² follows −(4η/n)DᵀF (Assumption 3.2)", "median relative error (rate: 1 − median)",
            outputNormErrorMedian, 1 - outputNormErrorMedian, "all pairs")
        let eps2P90 = checks.eps2.all.p90
        add("v1 moves slowly (Assumption 3.5(iii))", "p90 of ε2 (rate: 1 − 10·p90)", eps2P90, 1 - 10 * eps2P90, "all pairs")
        add("D has a v1 component at phase-II starts (Assumption 3.6)",
            "rate c > 1, ε2 = max over the phase-II pairs (with ε2 at the start step: \(checks.assumption36HoldsAtStart.hits) of \(checks.assumption36HoldsAtStart.total))",
            checks.assumption36Holds.rate, checks.assumption36Holds.rate, "phase-II starts")
        if let assumption37 = checks.assumption37 {
            add("λ2 < 1/η (Assumption 3.7)", "rate", assumption37.all.rate, assumption37.all.rate, "all rows")
        }
        if let outputLayerRatio = checks.outputLayerRatio {
            let ratioMedian = outputLayerRatio.all.median
            add("λ_max(M_A) ≪ Λ (§3.2)", "median λ_max(M_A)/Λ (rate: 1 − 5·median)", ratioMedian, 1 - 5 * ratioMedian, "all rows")
        }
        if let proposition31 = checks.proposition31 {
            add("‖D‖ > ‖Y‖ ⇒ DᵀF > 0 (Proposition 3.1)", "rate", proposition31.all.rate, proposition31.all.rate,
                "rows with ‖D‖ > ‖Y‖")
        }
        if let proposition32 = checks.proposition32Bound {
            add("‖D‖ > ‖Y‖ ⇒ ‖A‖² drops by > (4η/n)(‖D‖−‖Y‖)² (Proposition 3.2)", "rate",
                proposition32.all.rate, proposition32.all.rate, "pairs with ‖D‖ > ‖Y‖")
        }
        add("|c1| grows geometrically in phases II–III (Lemma 3.2)", "rate |c1(t+1)/c1(t)| > 1",
            checks.lemma32.growth.rate, checks.lemma32.growth.rate, "phases II–III")
        // Theorem 2 is about R′ from a restart through phases III and IV (and phase I from the
        // start): phase-II rows right after a restart are close to R′ by construction.
        let exactR = rows.rPrimeBothJudged
        let tracked = rows.median(exactR ? rows.rPrimeRelError : rows.rPrimeRelErrorAll, phases: [Phase.I.rawValue, Phase.III.rawValue, Phase.IV.rawValue])
        let fromStart = exactR ? Distribution(rows.rPrimeRelErrorFromStart).median : rPrime.fromStart.relError.all.median
        let worst = tracked.isNaN ? fromStart : (fromStart.isNaN ? tracked : max(tracked, fromStart))
        add("R stays close to R′ (Lemma 3.5, Theorem 2)",
            "median ‖R − R′‖/‖R‖ on phases I, III, IV \(fmt(tracked)) and from the start \(fmt(fromStart)) (value: the larger; rate: 1 − value; all rows: \(fmt(rPrime.primary.relError.all.median)))",
            worst, 1 - worst, "phases I, III, IV (restarted R′) and all rows (R′ from the start)", needsM: true,
            exactRows: rows.rPrimeBothJudged ? rows.rPrimeExactRows : 0, rowsWithValue: rows.rPrimeRows)
        let rDecreaseRate = decomposition.rNormSqDecreases.all.rate, lossDecreaseRate = decomposition.lossDecreases.all.rate
        add("‖R‖² decreases more steadily than L (§3.4)", "rate ‖R‖² decreases (vs L: \(fmt(lossDecreaseRate)))",
            rDecreaseRate,
            rDecreaseRate.isNaN || lossDecreaseRate.isNaN ? .nan : (rDecreaseRate >= lossDecreaseRate ? rDecreaseRate : 0),
            "all pairs")
        if let exactUpdate = checks.exactUpdate {
            let maxRelativeResidual = exactUpdate.relativeToResidual.max
            add("Two-layer linear: D(t+1) = (I − ηM*)D(t) exactly (§4)", "max relative residual (rate: 1 if ≤ 1e-8)",
                maxRelativeResidual, maxRelativeResidual <= 1e-8 ? 1 : 0, "all pairs")
        }
        return items
    }

    /// `%.3g`, or "n/a" for NaN.
    static func fmt(_ x: Double) -> String {
        x.isNaN ? "n/a" : String(format: "%.3g", x)
    }
}
