import Foundation

extension Analyzer {
    /// Verdict of a rate: ≥ 0.9 supported, ≥ 0.7 mostly, ≥ 0.4 partly, else not supported; NaN → n/a.
    static func verdict(_ rate: Double) -> String {
        if rate.isNaN { return "n/a" }
        if rate >= 0.9 { return "supported" }
        if rate >= 0.7 { return "mostly" }
        if rate >= 0.4 { return "partly" }
        return "not supported"
    }

    /// The paper's claims, each with its measure, value and verdict (`verdict`).
    static func makeStory(phases: PhaseSummary, anomalies: AnomalySummary, checks: ChecksSummary,
                          rPrime: RPrimeSummary, decomposition: DecompositionSummary, approximate: Bool) -> [StoryItem] {
        var items: [StoryItem] = []
        func add(_ claim: String, _ measure: String, _ value: Double, _ rate: Double) {
            items.append(StoryItem(claim: claim, measure: measure, value: value, verdict: verdict(rate)))
        }
        let cycleCount = Double(phases.cycleCount)
        add("EOS: Λ crosses 2/η and comes back below it (§3.1)",
            "complete II→III→IV cycles / cycles", cycleCount,
            phases.cycleCount == 0 ? 0 : Double(phases.completeCycles) / cycleCount)
        add("‖A‖ and Λ move together (Assumption 3.1)", "co-movement rate", checks.coMovement.all.rate,
            checks.coMovement.all.rate)
        // Lift above chance: (near rate − chance)/(1 − chance); n/a when every pair is near a change.
        let chance = anomalies.pairsNearSignChangeRate
        add("Anomaly points sit near sign changes of Δ‖A‖² (§3.2, Fig. 2)",
            "fraction of anomalies within \(anomalies.window) steps (chance \(fmt(chance)); rate: lift above chance)",
            anomalies.nearSignChangeRate,
            chance < 1 ? (anomalies.nearSignChangeRate - chance) / (1 - chance) : .nan)
        let firstOrderErrorMedian = checks.firstOrderResidual.all.median
        add("D follows its first-order update (Assumption 3.2)" + (approximate ? " [approximate M]" : ""),
            "median ‖D(t+1) − (I − ηM)D(t)‖/‖ΔD‖ (rate: 1 − median)", firstOrderErrorMedian, 1 - firstOrderErrorMedian)
        let outputNormErrorMedian = checks.firstOrderOutputNorm.all.median
        add("‖A‖² follows −(4η/n)DᵀF (Assumption 3.2)", "median relative error (rate: 1 − median)",
            outputNormErrorMedian, 1 - outputNormErrorMedian)
        let eps2P90 = checks.eps2.all.p90
        add("v1 moves slowly (Assumption 3.5(iii))", "p90 of ε2 (rate: 1 − 10·p90)", eps2P90, 1 - 10 * eps2P90)
        add("D has a v1 component at phase-II starts (Assumption 3.6)", "rate c > 1", checks.assumption36Holds.rate,
            checks.assumption36Holds.rate)
        if let assumption37 = checks.assumption37 {
            add("λ2 < 1/η (Assumption 3.7)", "rate", assumption37.all.rate, assumption37.all.rate)
        }
        if let outputLayerRatio = checks.outputLayerRatio {
            let ratioMedian = outputLayerRatio.all.median
            add("λ_max(M_A) ≪ Λ (§3.2)", "median λ_max(M_A)/Λ (rate: 1 − 5·median)", ratioMedian, 1 - 5 * ratioMedian)
        }
        if let proposition31 = checks.proposition31 {
            add("‖D‖ > ‖Y‖ ⇒ DᵀF > 0 (Proposition 3.1)", "rate", proposition31.all.rate, proposition31.all.rate)
        }
        if let proposition32 = checks.proposition32Bound {
            add("‖D‖ > ‖Y‖ ⇒ ‖A‖² drops by > (4η/n)(‖D‖−‖Y‖)² (Proposition 3.2)", "rate",
                proposition32.all.rate, proposition32.all.rate)
        }
        add("|c1| grows geometrically in phases II–III (Lemma 3.2)", "rate |c1(t+1)/c1(t)| > 1",
            checks.lemma32.growth.rate, checks.lemma32.growth.rate)
        let rPrimeRelErrorMedian = rPrime.primary.relError.all.median
        add("R stays close to R′ (Lemma 3.5, Theorem 2)" + (approximate ? " [approximate M]" : ""),
            "median ‖R − R′‖/‖R‖ (rate: 1 − median)", rPrimeRelErrorMedian, 1 - rPrimeRelErrorMedian)
        let rDecreaseRate = decomposition.rNormSqDecreases.all.rate, lossDecreaseRate = decomposition.lossDecreases.all.rate
        add("‖R‖² decreases more steadily than L (§3.4)", "rate ‖R‖² decreases (vs L: \(fmt(lossDecreaseRate)))",
            rDecreaseRate,
            rDecreaseRate.isNaN || lossDecreaseRate.isNaN ? .nan : (rDecreaseRate >= lossDecreaseRate ? rDecreaseRate : 0))
        if let exactUpdate = checks.exactUpdate {
            let maxRelativeResidual = exactUpdate.relativeToResidual.max
            add("Two-layer linear: D(t+1) = (I − ηM*)D(t) exactly (§4)", "max relative residual (rate: 1 if ≤ 1e-8)",
                maxRelativeResidual, maxRelativeResidual <= 1e-8 ? 1 : 0)
        }
        return items
    }

    /// `%.3g`, or "n/a" for NaN.
    static func fmt(_ x: Double) -> String {
        x.isNaN ? "n/a" : String(format: "%.3g", x)
    }
}
