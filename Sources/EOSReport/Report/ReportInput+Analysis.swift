import EOSAnalysis
import Foundation

extension ReportInput {
    /// The report's input from the analyzer's input and result (same rows, same order).
    ///
    /// λ2 comes from `eigenvalues[:, 1]` when k ≥ 2; phase, c1, ‖R‖²/n, the R′ error (primary
    /// mode: restarted at every phase-II start) and anomaly flags from `result.perStep`; the
    /// checks table from the result's summaries and story.
    /// - Precondition: `result` was computed from `analysisInput` (same row count).
    public init(runName: String, analysisInput a: AnalysisInput, result r: AnalysisResult,
                metadata: [(key: String, value: String)] = []) {
        precondition(r.perStep.step.count == a.count, "analysis result and input have different row counts")
        let k = a.k, t = a.count
        let lambda1 = (0..<t).map { a.eigenvalues[$0 * k] }
        let lambda2: [Double]? = k >= 2 ? (0..<t).map { a.eigenvalues[$0 * k + 1] } : nil
        let ps = r.perStep
        self.init(runName: runName, steps: a.steps.map { Int($0) }, eta: a.learningRate, loss: a.loss,
                  sharpness: a.sharpness, outputNormSq: a.outputNormSq, lambda1: lambda1, lambda2: lambda2,
                  outputLayerSharpness: a.outputLayerSharpness, rNormSqPerN: ps.rNormSq, c1: ps.c1,
                  rPrimeError: ps.rPrimeError, rPrimeRelativeError: ps.rPrimeRelError,
                  rPrimeMethod: r.rPrime.gramSource,
                  phase: ps.phase.map { Int($0) }, anomaly: ps.anomaly.map { $0 != 0 },
                  checks: ReportInput.checkRows(r), metadata: metadata)
        // The hover regime, by the analysis' own definition and options (docs/ANALYSIS.md §7).
        var flags = [Bool](repeating: false, count: t)
        for run in Analyzer.hoverRuns(sharpness: a.sharpness, learningRate: a.learningRate,
                                      margin: r.options.hoverMargin, minSteps: r.options.hoverMinSteps) {
            for i in run { flags[i] = true }
        }
        hover = flags
        hoverMargin = r.options.hoverMargin
        hoverMinSteps = r.options.hoverMinSteps
    }

    /// The checks table: what the analysis used, phases, anomalies, each docs/ANALYSIS.md check
    /// (value over all rows, per-phase detail), R′ tracking, and the paper's story verdicts.
    public static func checkRows(_ r: AnalysisResult) -> [CheckRow] {
        func g(_ v: Double) -> String { Markup.number(v, significant: 4) }
        func rate(_ x: Rate) -> String { x.total == 0 ? "-" : "\(g(x.rate)) (\(x.hits)/\(x.total))" }
        func dist(_ d: Distribution) -> String { d.count == 0 ? "-" : "median \(g(d.median)), p90 \(g(d.p90)), max \(g(d.max))" }
        func perPhase<V>(_ p: PerPhase<V>, _ f: (V) -> String) -> String {
            "I: \(f(p.phase1)) · II: \(f(p.phase2)) · III: \(f(p.phase3)) · IV: \(f(p.phase4))"
        }
        func short(_ d: Distribution) -> String { d.count == 0 ? "-" : g(d.median) }
        let star = r.gram.approximate ? " *" : ""
        var rows: [CheckRow] = []
        rows.append(CheckRow(name: "Gram M(t) used", value: r.gram.source,
                             detail: r.gram.label + (r.gram.approximate ? " — APPROXIMATE: rows marked * depend on it" : "")))
        if let rp = r.gram.replay {
            rows.append(CheckRow(name: "replay drift of D (relative)", value: g(rp.maxRelativeDriftResidual),
                                 detail: "\(rp.checkpoints) checkpoints; tolerance \(g(rp.tolerance)): \(rp.withinTolerance ? "ok" : "EXCEEDED")"))
        }
        rows.append(CheckRow(name: "phases (rule: \(r.options.phaseRule.rawValue))",
                             value: "I \(r.phases.rows.phase1) · II \(r.phases.rows.phase2) · III \(r.phases.rows.phase3) · IV \(r.phases.rows.phase4)",
                             detail: "rows per phase"))
        rows.append(CheckRow(name: "cycles", value: r.phases.cycleText,
                             detail: "\(r.phases.completeCycles) complete" + (r.phases.excursions.isDefault ? "; every run above 2/η"
                                 : "; runs merged across gaps < \(r.phases.excursions.mergeGap), kept with ≥ \(r.phases.excursions.minSteps) steps above 2/η and peak > (1+\(g(r.phases.excursions.minMargin)))·2/η")))
        rows.append(CheckRow(name: "anomaly points", value: "\(r.anomalies.count) of \(r.anomalies.pairs) pairs (rate \(g(r.anomalies.rate)))",
                             detail: "\(r.anomalies.nearSignChange) within \(r.anomalies.window) steps of one of \(r.anomalies.signChanges) sign changes of Δ‖A‖²"))
        let c = r.checks
        rows.append(CheckRow(name: "Assumption 3.1: co-movement sign(ΔΛ) = sign(Δ‖A‖)", value: rate(c.coMovement.all), detail: perPhase(c.coMovement, rate)))
        rows.append(CheckRow(name: "Assumption 3.2: first-order error of D\(star)", value: dist(c.firstOrderResidual.all), detail: "medians " + perPhase(c.firstOrderResidual, short)))
        rows.append(CheckRow(name: "Assumption 3.2: first-order error of ‖A‖²", value: dist(c.firstOrderOutputNorm.all), detail: "medians " + perPhase(c.firstOrderOutputNorm, short)))
        if let b = c.outputBias {
            rows.append(CheckRow(name: "Assumption 3.2: ‖A‖² with output bias b, −(4η/n)Dᵀ(F − b)", value: b.error.all.count == 0 ? "-" : dist(b.error.all),
                                 detail: b.note + "; first pair \(g(b.firstPairError)) (paper's line \(g(b.firstPairPaperError)))"))
        }
        rows.append(CheckRow(name: "Assumption 3.5(iii): ε2 = 1 − |⟨v1(t), v1(t+1)⟩|", value: dist(c.eps2.all), detail: "medians " + perPhase(c.eps2, short)))
        rows.append(CheckRow(name: "Assumption 3.6 at phase-II starts (c > 1)", value: rate(c.assumption36Holds),
                             detail: "ε2 = max over the phase-II pairs; with ε2 at the start step: \(rate(c.assumption36HoldsAtStart))"))
        let rg = c.regimes
        rows.append(CheckRow(name: "Assumption 3.1: co-movement by regime", value: "catapult \(rate(rg.coMovementCatapult)) · hover \(rate(rg.coMovementHover))",
                             detail: "hover: \(rg.hoverRuns) runs of ≥ \(r.options.hoverMinSteps) steps with |ηΛ/2 − 1| ≤ \(g(r.options.hoverMargin)) (\(rg.hoverRows) rows); catapult: phases II–IV outside hovers (\(rg.catapultRows) rows); other \(rate(rg.coMovementOther))"))
        if !c.phase2Lengths.isEmpty {
            let pairs = c.phase2Lengths.map { item in
                "\(item.startStep): \(item.predictedSteps.map(String.init) ?? "never")/\(item.measuredSteps)" + (item.startBelowFloor ? "*" : "")
            }
            rows.append(CheckRow(name: "phase II length, Lemma 3.2 growth law (predicted/measured steps to the peak)",
                                 value: pairs.prefix(12).joined(separator: " · ") + (pairs.count > 12 ? " · …" : ""),
                                 detail: "first τ with |c1(a)|·Π|1 − ηΛ(t)| ≥ ‖D(a)‖, by phase-II start step; * = |c1(a)| below the eigenvector's accuracy floor"))
        }
        if let a = c.assumption37 { rows.append(CheckRow(name: "Assumption 3.7: λ2 < 1/η", value: rate(a.all), detail: perPhase(a, rate))) }
        if let o = c.outputLayerRatio { rows.append(CheckRow(name: "λ_max(M_A) / Λ", value: dist(o.all), detail: "medians " + perPhase(o, short))) }
        if let p = c.proposition31 { rows.append(CheckRow(name: "Proposition 3.1: DᵀF > 0 when ‖D‖ > ‖Y‖", value: rate(p.all), detail: perPhase(p, rate))) }
        if let p = c.proposition32Bound { rows.append(CheckRow(name: "Proposition 3.2: bound when ‖D‖ > ‖Y‖", value: rate(p.all), detail: perPhase(p, rate))) }
        if let p = c.proposition32Direction { rows.append(CheckRow(name: "Proposition 3.2: direction Δ‖A‖² < 0", value: rate(p.all), detail: perPhase(p, rate))) }
        rows.append(CheckRow(name: "Lemma 3.2: |c1(t+1)/c1(t)| vs |1 − ηΛ| (II–III)",
                             value: "log(measured/predicted) median \(g(c.lemma32.logRatioError.median))",
                             detail: "predicted median \(g(c.lemma32.predictedRatio.median)); |c1| grows on \(rate(c.lemma32.growth)) of the pairs"))
        rows.append(CheckRow(name: "‖R‖² decreases", value: rate(r.decomposition.rNormSqDecreases.all), detail: perPhase(r.decomposition.rNormSqDecreases, rate)))
        rows.append(CheckRow(name: "L decreases", value: rate(r.decomposition.lossDecreases.all), detail: perPhase(r.decomposition.lossDecreases, rate)))
        for s in [r.rPrime.fromStart, r.rPrime.primary] {
            rows.append(CheckRow(name: "R′ tracking\(star) (\(s.mode), \(s.starts) starts)",
                                 value: "relative " + dist(s.relError.all), detail: "absolute " + dist(s.absError.all) + "; M: \(r.rPrime.gramSource)"))
        }
        if let e = c.exactUpdate {
            rows.append(CheckRow(name: "two-layer linear exact update (M*)", value: dist(e.relativeToResidual),
                                 detail: "‖D(t+1) − (I − ηM*)D(t)‖ / ‖D(t+1)‖; should be round-off"))
        }
        for s in r.story {
            let (name, formula) = splitMeasure(s.measure)
            let rateText = s.rate.map { rate in formula.map { "; rate = \($0) = \(g(rate))" } ?? (rate == s.value ? "" : "; rate = \(g(rate))") } ?? ""
            rows.append(CheckRow(name: "claim: \(s.claim)", value: "\(s.verdict)",
                                 detail: "\(name) = \(g(s.value))\(rateText); on \(s.basis)"))
        }
        return rows
    }
}

extension CompareInput {
    /// One comparison row from an analysed run (phases and anomaly rate from the analysis).
    public init(label: String, analysisInput a: AnalysisInput, result r: AnalysisResult, file: String? = nil) {
        self.init(label: label, steps: a.steps.map { Int($0) }, sharpness: a.sharpness, eta: a.learningRate,
                  phase: r.perStep.phase.map { Int($0) }, anomalyRate: r.anomalies.rate.isFinite ? r.anomalies.rate : nil,
                  loss: a.loss, file: file)
    }
}
