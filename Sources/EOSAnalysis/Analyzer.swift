import EOSPhases

import Foundation

/// Computes everything SPEC §3 defines from an `AnalysisInput`.
///
/// Cost: O(T k n) for the decomposition and checks plus, per consecutive pair, one application of
/// M(t) to three vectors (D, and the two R′ iterates): O(n²) with a dense provider, O(kn) with the
/// top-k approximation, or whatever a matrix-free provider costs. Memory: O(T) plus O(n) work vectors.
/// Deterministic: the same input, provider and options give identical results.
public enum Analyzer {
    public static let resultVersion = 1

    /// - Parameters:
    ///   - gram: source of M(t); nil means the top-k approximation everywhere. Rows where the
    ///     provider returns nil use the top-k approximation and are counted.
    ///   - replay: report to attach when `gram` replayed GD (see also `analyze(reader:…)`).
    ///   - gramNote: why a better source of M was not used (recorded in `gram.note`).
    ///   - progress: called with (rows done, total rows) now and then.
    public static func analyze(_ input: AnalysisInput, gram: GramProvider? = nil, options: AnalysisOptions = .init(),
                               replay: ReplayReport? = nil, gramNote: String? = nil,
                               progress: ((Int, Int) -> Void)? = nil) throws -> AnalysisResult {
        try input.validate()
        try options.validate()
        let t = input.count, n = input.n, k = input.k, eta = input.learningRate
        let (phases, cycles) = PhaseSegmentation.segment(
            steps: input.steps, sharpness: input.sharpness, loss: input.loss, dtf: input.dtf,
            learningRate: eta, rule: options.phaseRule)
        let phaseIIStarts = Set(cycles.map(\.startRow))
        let topK = TopKGramProvider(input)
        let provider: GramProvider = gram ?? topK
        let yNorm = input.targetNorm

        // Per-row and per-pair series (NaN = undefined / not applicable).
        var c1 = [Double](repeating: .nan, count: t)
        var rNormSq = [Double](repeating: .nan, count: t)
        var rNorm = [Double](repeating: .nan, count: t)
        var dNorm = [Double](repeating: .nan, count: t)
        var errS = [Double](repeating: .nan, count: t), relS = errS
        var errP = errS, relP = errS
        var firstOrder = errS, aFirstOrder = errS, eps2 = errS, c1Ratio = errS
        var exactRelNorm = errS, exactRelStep = errS
        var anomaly = [UInt8](repeating: 0, count: t)
        var replayDrift = [Double](repeating: .nan, count: t)

        var rpS = [Double](repeating: 0, count: n)   // R′ from the first step
        var rpP = rpS                                // primary R′ (restarts per options)
        var startsS = 0, startsP = 0, sinceStartP = 0
        var fromSource = 0, fallback = 0
        var work = [Double](repeating: 0, count: 3 * n)

        for i in 0..<t {
            let dBase = i * n
            let d = input.residual[dBase..<(dBase + n)]
            let v1 = input.leadingEigenvector(row: i)
            let vBase = v1.startIndex
            let c = dot(d, v1)
            var r = [Double](repeating: 0, count: n)
            for j in 0..<n { r[j] = d[dBase + j] - c * v1[vBase + j] }
            let rn = norm2(r[...])
            c1[i] = c
            rNorm[i] = rn
            rNormSq[i] = rn * rn / Double(n)
            dNorm[i] = norm2(d)

            // R′ (re)starts.
            let afterGap = i == 0 || !input.isConsecutive(i - 1)
            if afterGap { rpS = r; startsS += 1 }
            var restartP = afterGap
            if options.rPrimeRestarts && phaseIIStarts.contains(i) { restartP = true }
            if let w = options.rPrimeWindow, sinceStartP >= w { restartP = true }
            if restartP { rpP = r; startsP += 1; sinceStartP = 0 }
            errS[i] = distance(r[...], rpS[...])
            relS[i] = errS[i] / rn
            errP[i] = distance(r[...], rpP[...])
            relP[i] = errP[i] / rn

            guard input.isConsecutive(i) else { continue }
            let dnBase = (i + 1) * n
            let dn = input.residual[dnBase..<(dnBase + n)]

            // One application of M(t) to [D, P R′_S, P R′_P], P = I − v1 v1ᵀ.
            let ps = dot(v1, rpS[...]), pp = dot(v1, rpP[...])
            for j in 0..<n {
                let vj = v1[vBase + j]
                work[j] = d[dBase + j]
                work[n + j] = rpS[j] - ps * vj
                work[2 * n + j] = rpP[j] - pp * vj
            }
            var applied = try provider.applyGram(atRow: i, to: work, count: 3)
            if applied != nil {
                fromSource += 1
                if let rp = provider as? ReplayGramProvider { replayDrift[i] = rp.lastResidualDrift ?? .nan }
            } else {
                applied = try topK.applyGram(atRow: i, to: work, count: 3)
                fallback += 1
            }
            guard let md = applied, md.count == 3 * n else {
                throw AnalysisError.gram(row: i, problem: "provider returned \(applied?.count ?? 0) values, expected \(3 * n)")
            }
            var num = 0.0, den = 0.0
            for j in 0..<n {
                let step = dn[dnBase + j] - d[dBase + j]
                let e = step + eta * md[j]
                num += e * e
                den += step * step
                rpS[j] -= eta * md[n + j]
                rpP[j] -= eta * md[2 * n + j]
            }
            firstOrder[i] = num.squareRoot() / den.squareRoot()
            sinceStartP += 1

            if let ms = try provider.applyExactUpdateOperator(atRow: i, to: Array(d)) {
                guard ms.count == n else { throw AnalysisError.gram(row: i, problem: "M* D has \(ms.count) values, expected \(n)") }
                var e2 = 0.0
                for j in 0..<n { let e = dn[dnBase + j] - d[dBase + j] + eta * ms[j]; e2 += e * e }
                exactRelNorm[i] = e2.squareRoot() / norm2(dn)
                exactRelStep[i] = e2.squareRoot() / den.squareRoot()
            }

            // Pair quantities that need only recorded series.
            let dA2 = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let dLam = input.sharpness[i + 1] - input.sharpness[i]
            if dA2 != 0 && dLam != 0 && (dA2 > 0) != (dLam > 0) { anomaly[i] = 1 }
            aFirstOrder[i] = abs(dA2 + 4 * eta / Double(n) * input.dtf[i]) / abs(dA2)
            let v1n = input.leadingEigenvector(row: i + 1)
            eps2[i] = 1 - abs(dot(v1, v1n))
            progress?(i + 1, t)
        }
        for i in 0..<t where input.isConsecutive(i) {
            c1Ratio[i] = abs(c1[i + 1] / c1[i])
        }
        progress?(t, t)

        // ---- Summaries ----
        let pairRows = (0..<t).filter { input.isConsecutive($0) }
        func pairValues(_ s: [Double]) -> [Double?] {
            var out = [Double?](repeating: nil, count: t)
            for i in pairRows { out[i] = s[i] }
            return out
        }
        func rowValues(_ s: [Double]) -> [Double?] { s.map { Optional($0) } }

        // Phases.
        var counts = [Int](repeating: 0, count: 5)
        for p in phases { counts[Int(p)] += 1 }
        let phaseSummary = PhaseSummary(
            rule: options.phaseRule,
            rows: PerPhase(all: t, phase1: counts[1], phase2: counts[2], phase3: counts[3], phase4: counts[4]),
            cycles: cycles, cycleCount: cycles.count, completeCycles: cycles.filter(\.complete).count,
            durationPhase2: Distribution(cycles.map { Double($0.stepsPhase2) }),
            durationPhase3: Distribution(cycles.map { Double($0.stepsPhase3) }),
            durationPhase4: Distribution(cycles.map { Double($0.stepsPhase4) }),
            lossRisePhase3: Distribution(cycles.map(\.lossRisePhase3)))

        // Decomposition and monotonicity.
        var lossDec = [Bool?](repeating: nil, count: t), rDec = lossDec
        for i in pairRows {
            lossDec[i] = input.loss[i + 1] < input.loss[i]
            rDec[i] = rNormSq[i + 1] < rNormSq[i]
        }
        let decomposition = DecompositionSummary(
            absC1: PerPhase(values: rowValues(c1.map { abs($0) }), phases: phases),
            rShareOfLoss: PerPhase(values: (0..<t).map { rNormSq[$0] / input.loss[$0] }, phases: phases),
            lossDecreases: PerPhase(flags: lossDec, phases: phases),
            rNormSqDecreases: PerPhase(flags: rDec, phases: phases))

        // R′.
        let primaryMode: String
        switch (options.rPrimeRestarts, options.rPrimeWindow) {
        case (true, nil): primaryMode = "restart_at_phase_II"
        case (true, _): primaryMode = "restart_at_phase_II_and_every_window"
        case (false, nil): primaryMode = "from_start"
        case (false, _): primaryMode = "every_window"
        }
        func series(_ mode: String, _ starts: Int, _ abs: [Double], _ rel: [Double]) -> RPrimeSeries {
            RPrimeSeries(mode: mode, starts: starts,
                         absError: PerPhase(values: rowValues(abs), phases: phases),
                         relError: PerPhase(values: rowValues(rel), phases: phases),
                         finalAbsError: abs[t - 1], finalRelError: rel[t - 1])
        }
        let gramUsage = GramUsage(source: provider.source.rawValue, label: provider.label,
                                  rowsFromSource: fromSource, rowsTopKFallback: fallback,
                                  approximate: provider.source == .topK || fallback > 0, replay: replay, note: gramNote)
        let gramLabel = gramUsage.approximate && provider.source != .topK
            ? "\(provider.label) (top-k approximation at \(fallback) of \(fromSource + fallback) steps)"
            : provider.label
        let rPrime = RPrimeSummary(gramSource: gramLabel,
                                   fromStart: series("from_start", startsS, errS, relS),
                                   primary: series(primaryMode, startsP, errP, relP))

        // Anomalies and sign changes of Δ‖A‖².
        var changeSteps: [Int64] = []
        var lastSign = 0
        for i in 0..<t {
            if i > 0 && !input.isConsecutive(i - 1) { lastSign = 0 }
            guard input.isConsecutive(i) else { continue }
            let dA2 = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let s = dA2 > 0 ? 1 : (dA2 < 0 ? -1 : 0)
            if s != 0 {
                if lastSign != 0 && s != lastSign { changeSteps.append(input.steps[i]) }
                lastSign = s
            }
        }
        let anomalySteps = (0..<t).filter { anomaly[$0] == 1 }.map { input.steps[$0] }
        let w = Int64(options.anomalyWindow)
        func nearChange(_ s: Int64) -> Bool {
            // changeSteps is sorted: binary search for the nearest.
            var lo = 0, hi = changeSteps.count
            while lo < hi { let mid = (lo + hi) / 2; if changeSteps[mid] < s { lo = mid + 1 } else { hi = mid } }
            if lo < changeSteps.count && changeSteps[lo] - s <= w { return true }
            if lo > 0 && s - changeSteps[lo - 1] <= w { return true }
            return false
        }
        let near = anomalySteps.filter(nearChange).count
        // Chance level: the fraction of all examined pairs that lie that close to a sign change.
        let baselineNear = pairRows.isEmpty ? Double.nan
            : Double(pairRows.filter { nearChange(input.steps[$0]) }.count) / Double(pairRows.count)
        var anomalyFlags = [Bool?](repeating: nil, count: t)
        for i in pairRows { anomalyFlags[i] = anomaly[i] == 1 }
        let anomalies = AnomalySummary(
            count: anomalySteps.count, pairs: pairRows.count,
            rate: pairRows.isEmpty ? .nan : Double(anomalySteps.count) / Double(pairRows.count),
            perPhase: PerPhase(flags: anomalyFlags, phases: phases), steps: anomalySteps,
            signChanges: changeSteps.count, signChangeSteps: changeSteps, window: options.anomalyWindow,
            nearSignChange: near,
            nearSignChangeRate: anomalySteps.isEmpty ? .nan : Double(near) / Double(anomalySteps.count),
            pairsNearSignChangeRate: baselineNear)

        // Checks.
        var coMove = [Bool?](repeating: nil, count: t)
        for i in pairRows {
            let dA2 = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let dLam = input.sharpness[i + 1] - input.sharpness[i]
            if dA2 != 0 && dLam != 0 { coMove[i] = (dA2 > 0) == (dLam > 0) }
        }
        var a36: [Assumption36Item] = []
        for cy in cycles {
            let a = cy.startRow
            var e2 = -Double.infinity
            // ε2 of Assumption 3.5(iii) during this phase II: pairs (i, i+1) with a ≤ i < p; a
            // phase II of one row uses the pair starting at a.
            for i in a..<max(cy.peakRow, a + 1) where input.isConsecutive(i) { e2 = max(e2, eps2[i]) }
            if e2 == -.infinity { e2 = .nan }
            let cval = abs(c1[a]) / (e2 * dNorm[a])
            let tau = eta * input.sharpness[a] - 2
            let factor = (1 + tau) * (1 - e2 - 1 / cval)
            a36.append(Assumption36Item(cycle: cy.index, step: input.steps[a], c1: c1[a], residualNorm: dNorm[a],
                                        eps2: e2, c: cval, holds: cval > 1, tau: tau, lemma32Factor: factor))
        }
        var a37: PerPhase<Rate>?, etaL2: Distribution?
        if k >= 2 {
            let l2 = (0..<t).map { input.eigenvalues[$0 * k + 1] }
            a37 = PerPhase(flags: l2.map { $0 < 1 / eta }, phases: phases)
            etaL2 = Distribution(l2.map { eta * $0 })
        }
        let olRatio = input.outputLayerSharpness.map { ol in
            PerPhase(values: (0..<t).map { ol[$0] / input.sharpness[$0] }, phases: phases)
        }
        var p31: PerPhase<Rate>?, p32b: PerPhase<Rate>?, p32d: PerPhase<Rate>?
        if let yNorm {
            var f31 = [Bool?](repeating: nil, count: t), f32b = f31, f32d = f31
            for i in 0..<t where dNorm[i] > yNorm {
                f31[i] = input.dtf[i] > 0
                if input.isConsecutive(i) {
                    let dA2 = input.outputNormSq[i + 1] - input.outputNormSq[i]
                    let gap = dNorm[i] - yNorm
                    f32b[i] = dA2 < -4 * eta / Double(n) * gap * gap
                    f32d[i] = dA2 < 0
                }
            }
            p31 = PerPhase(flags: f31, phases: phases)
            p32b = PerPhase(flags: f32b, phases: phases)
            p32d = PerPhase(flags: f32d, phases: phases)
        }
        var l32Measured = [Double?](repeating: nil, count: t)
        var l32Pred: [Double] = [], l32Log: [Double] = [], l32Grow: [Bool] = []
        var l32Excluded = 0
        for i in pairRows where phases[i] == 2 || phases[i] == 3 {
            // |c1| at round-off level (D has no v1 component yet) makes the ratio noise.
            guard abs(c1[i]) > options.c1Floor * dNorm[i] else { l32Excluded += 1; continue }
            let pred = abs(1 - eta * input.sharpness[i])
            l32Measured[i] = c1Ratio[i]
            l32Pred.append(pred)
            l32Log.append(Foundation.log(c1Ratio[i] / pred))
            if c1Ratio[i].isFinite { l32Grow.append(c1Ratio[i] > 1) }
        }
        let exactCheck: ExactUpdateCheck? = exactRelNorm.contains { !$0.isNaN }
            ? ExactUpdateCheck(relativeToResidual: Distribution(pairRows.map { exactRelNorm[$0] }),
                               relativeToStep: Distribution(pairRows.map { exactRelStep[$0] }))
            : nil
        let checks = ChecksSummary(
            coMovement: PerPhase(flags: coMove, phases: phases),
            firstOrderResidual: PerPhase(values: pairValues(firstOrder), phases: phases),
            firstOrderOutputNorm: PerPhase(values: pairValues(aFirstOrder), phases: phases),
            eps2: PerPhase(values: pairValues(eps2), phases: phases),
            assumption36: a36, assumption36Holds: Rate(a36.map(\.holds)),
            assumption37: a37, etaLambda2: etaL2, outputLayerRatio: olRatio,
            proposition31: p31, proposition32Bound: p32b, proposition32Direction: p32d,
            lemma32: Lemma32Check(measuredRatio: PerPhase(values: l32Measured, phases: phases),
                                  predictedRatio: Distribution(l32Pred), logRatioError: Distribution(l32Log),
                                  growth: Rate(l32Grow), excludedBelowFloor: l32Excluded),
            exactUpdate: exactCheck)

        let story = makeStory(phases: phaseSummary, anomalies: anomalies, checks: checks, rPrime: rPrime,
                              decomposition: decomposition, approximate: gramUsage.approximate)

        let table = PerStepTable(
            step: input.steps, phase: phases, loss: input.loss, sharpness: input.sharpness,
            outputNormSq: input.outputNormSq, dtf: input.dtf, c1: c1, rNormSq: rNormSq,
            rPrimeError: errP, rPrimeRelError: relP, rPrimeErrorFromStart: errS, rPrimeRelErrorFromStart: relS,
            anomaly: anomaly, eps2: eps2, firstOrderError: firstOrder, outputNormFirstOrderError: aFirstOrder,
            c1Ratio: c1Ratio, exactUpdateError: exactRelNorm, replayDrift: replayDrift)

        let run = RunInfo(rows: t, firstStep: input.steps[0], lastStep: input.steps[t - 1],
                          consecutivePairs: pairRows.count, gaps: t - 1 - pairRows.count,
                          learningRate: eta, threshold: 2 / eta, n: n, k: k, modelKind: input.modelKind,
                          targetNorm: yNorm)
        return AnalysisResult(analysisVersion: resultVersion, options: options, run: run, gram: gramUsage,
                              phases: phaseSummary, decomposition: decomposition, rPrime: rPrime,
                              anomalies: anomalies, checks: checks, story: story, perStep: table)
    }

    /// Verdict of a rate: ≥ 0.9 supported, ≥ 0.7 mostly, ≥ 0.4 partly, else not supported; NaN → n/a.
    static func verdict(_ rate: Double) -> String {
        if rate.isNaN { return "n/a" }
        if rate >= 0.9 { return "supported" }
        if rate >= 0.7 { return "mostly" }
        if rate >= 0.4 { return "partly" }
        return "not supported"
    }

    static func makeStory(phases: PhaseSummary, anomalies: AnomalySummary, checks: ChecksSummary,
                          rPrime: RPrimeSummary, decomposition: DecompositionSummary, approximate: Bool) -> [StoryItem] {
        var items: [StoryItem] = []
        func add(_ claim: String, _ measure: String, _ value: Double, _ rate: Double) {
            items.append(StoryItem(claim: claim, measure: measure, value: value, verdict: verdict(rate)))
        }
        let cyc = Double(phases.cycleCount)
        add("EOS: Λ crosses 2/η and comes back below it (§3.1)",
            "complete II→III→IV cycles / cycles", cyc,
            phases.cycleCount == 0 ? 0 : Double(phases.completeCycles) / cyc)
        add("‖A‖ and Λ move together (Assumption 3.1)", "co-movement rate", checks.coMovement.all.rate,
            checks.coMovement.all.rate)
        // Lift above chance: (near rate − chance)/(1 − chance); n/a when every pair is near a change.
        let chance = anomalies.pairsNearSignChangeRate
        add("Anomaly points sit near sign changes of Δ‖A‖² (§3.2, Fig. 2)",
            "fraction of anomalies within \(anomalies.window) steps (chance \(fmt(chance)); rate: lift above chance)",
            anomalies.nearSignChangeRate,
            chance < 1 ? (anomalies.nearSignChangeRate - chance) / (1 - chance) : .nan)
        let fo = checks.firstOrderResidual.all.median
        add("D follows its first-order update (Assumption 3.2)" + (approximate ? " [approximate M]" : ""),
            "median ‖D(t+1) − (I − ηM)D(t)‖/‖ΔD‖ (rate: 1 − median)", fo, 1 - fo)
        let ao = checks.firstOrderOutputNorm.all.median
        add("‖A‖² follows −(4η/n)DᵀF (Assumption 3.2)", "median relative error (rate: 1 − median)", ao, 1 - ao)
        let e2 = checks.eps2.all.p90
        add("v1 moves slowly (Assumption 3.5(iii))", "p90 of ε2 (rate: 1 − 10·p90)", e2, 1 - 10 * e2)
        add("D has a v1 component at phase-II starts (Assumption 3.6)", "rate c > 1", checks.assumption36Holds.rate,
            checks.assumption36Holds.rate)
        if let a37 = checks.assumption37 {
            add("λ2 < 1/η (Assumption 3.7)", "rate", a37.all.rate, a37.all.rate)
        }
        if let ol = checks.outputLayerRatio {
            let m = ol.all.median
            add("λ_max(M_A) ≪ Λ (§3.2)", "median λ_max(M_A)/Λ (rate: 1 − 5·median)", m, 1 - 5 * m)
        }
        if let p = checks.proposition31 {
            add("‖D‖ > ‖Y‖ ⇒ DᵀF > 0 (Proposition 3.1)", "rate", p.all.rate, p.all.rate)
        }
        if let p = checks.proposition32Bound {
            add("‖D‖ > ‖Y‖ ⇒ ‖A‖² drops by > (4η/n)(‖D‖−‖Y‖)² (Proposition 3.2)", "rate", p.all.rate, p.all.rate)
        }
        add("|c1| grows geometrically in phases II–III (Lemma 3.2)", "rate |c1(t+1)/c1(t)| > 1",
            checks.lemma32.growth.rate, checks.lemma32.growth.rate)
        let rp = rPrime.primary.relError.all.median
        add("R stays close to R′ (Lemma 3.5, Theorem 2)" + (approximate ? " [approximate M]" : ""),
            "median ‖R − R′‖/‖R‖ (rate: 1 − median)", rp, 1 - rp)
        let rd = decomposition.rNormSqDecreases.all.rate, ld = decomposition.lossDecreases.all.rate
        add("‖R‖² decreases more steadily than L (§3.4)", "rate ‖R‖² decreases (vs L: \(fmt(ld)))", rd,
            rd.isNaN || ld.isNaN ? .nan : (rd >= ld ? rd : 0))
        if let ex = checks.exactUpdate {
            let m = ex.relativeToResidual.max
            add("Two-layer linear: D(t+1) = (I − ηM*)D(t) exactly (§4)", "max relative residual (rate: 1 if ≤ 1e-8)",
                m, m <= 1e-8 ? 1 : 0)
        }
        return items
    }

    static func fmt(_ x: Double) -> String {
        x.isNaN ? "n/a" : String(format: "%.3g", x)
    }
}
