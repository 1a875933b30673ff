/// The per-row and per-pair series of one analysis, T values each (NaN = undefined / not
/// applicable). Quantities of a pair of rows (t, t+1) are stored at row t and stay NaN at the
/// last row and before a gap.
struct RowSeries {
    /// c1(t) = D(t)ᵀ v1(t).
    var c1: [Double]
    /// ‖R(t)‖²/n, R = (I − v1 v1ᵀ) D (n the sample count; R has n·c entries).
    var rNormSq: [Double]
    /// ‖D(t)‖.
    var residualNorm: [Double]
    /// ‖R − R′‖ and ‖R − R′‖/‖R‖, R′ tracked from the first step (restarted only after gaps).
    var rPrimeErrorFromStart: [Double], rPrimeRelErrorFromStart: [Double]
    /// ‖R − R′‖ and ‖R − R′‖/‖R‖ of the primary R′ (restarted per `AnalysisOptions`).
    var rPrimeError: [Double], rPrimeRelError: [Double]
    /// Pair: ‖D(t+1) − (I − ηM)D(t)‖ / ‖D(t+1) − D(t)‖ (Assumption 3.2).
    var firstOrderError: [Double]
    /// Pair: |Δ‖A‖² + (4η/n)DᵀF| / |Δ‖A‖²| (Assumption 3.2 for ‖A‖²).
    var outputNormFirstOrderError: [Double]
    /// Pair: ε2 = 1 − |⟨v1(t), v1(t+1)⟩| (Assumption 3.5(iii)).
    var eps2: [Double]
    /// Pair: |c1(t+1)/c1(t)| (Lemma 3.2).
    var c1Ratio: [Double]
    /// Pair, two-layer linear models only: ‖D(t+1) − (I − ηM*)D(t)‖ relative to ‖D(t+1)‖ and to
    /// ‖D(t+1) − D(t)‖.
    var exactUpdateErrorRelativeToResidual: [Double], exactUpdateErrorRelativeToStep: [Double]
    /// Pair: 1 when sign ΔΛ ≠ sign Δ‖A‖² (both non-zero), else 0.
    var anomaly: [UInt8]
    /// Pair, replayed M only: relative drift of the replayed D from the recorded one.
    var replayDrift: [Double]
    /// Number of (re)starts of the R′ iterates (from the first step; primary).
    var rPrimeStartsFromStart = 0, rPrimeStartsPrimary = 0
    /// 1 where the row's value is exact (M(t) from the products, a replay within tolerance or the
    /// stored gram; for R′ every M since the chain's last start), else 0.
    var firstOrderExact: [UInt8], rPrimeExact: [UInt8], rPrimeFromStartExact: [UInt8], exactUpdateExact: [UInt8]
    /// Verification (replay and products both used): relative distance of the replayed M(t)D(t)
    /// and R′ chains from the recorded ones.
    var gramResidualDifference: [Double], rPrimeDifference: [Double], rPrimeFromStartDifference: [Double]

    init(rowCount t: Int) {
        let undefined = [Double](repeating: .nan, count: t)
        c1 = undefined; rNormSq = undefined; residualNorm = undefined
        rPrimeErrorFromStart = undefined; rPrimeRelErrorFromStart = undefined
        rPrimeError = undefined; rPrimeRelError = undefined
        firstOrderError = undefined; outputNormFirstOrderError = undefined; eps2 = undefined; c1Ratio = undefined
        exactUpdateErrorRelativeToResidual = undefined; exactUpdateErrorRelativeToStep = undefined
        anomaly = [UInt8](repeating: 0, count: t)
        replayDrift = undefined
        let zeros = [UInt8](repeating: 0, count: t)
        firstOrderExact = zeros; rPrimeExact = zeros; rPrimeFromStartExact = zeros; exactUpdateExact = zeros
        gramResidualDifference = undefined; rPrimeDifference = undefined; rPrimeFromStartDifference = undefined
    }
}

/// Where the M(t) applications of the row pass came from.
struct GramApplicationCounts {
    /// Rows whose M(t) came from the provider.
    var fromSource = 0
    /// Rows where the provider had none and the top-k approximation was used.
    var topKFallback = 0
}

/// Which M-dependent results the recorded products serve in one analysis (the rest use the
/// provider), and why not.
struct MPlan {
    var firstOrder = false
    var primary = false
    var fromStart = false
    var exactUpdate = false
    /// Two-layer linear model: the exact M* update is checked.
    var linear = false
    /// Replay also runs as a verification.
    var verify = false
    /// Result → why the products did not serve it.
    var notes: [String: String] = [:]

    /// The provider's M is needed at all.
    var needsProvider: Bool { verify || !firstOrder || !primary || !fromStart || (linear && !exactUpdate) }
}

extension Analyzer {
    /// The one pass over the rows: decomposition D = c1 v1 + R, R′ tracking (one application of
    /// M(t) per consecutive pair to [D, P R′_S, P R′_P], P = I − v1 v1ᵀ), first-order errors, the
    /// exact-update check, and the pair quantities that need only recorded series. The provider
    /// is asked for rows in increasing order, each once.
    ///
    /// - Parameter phaseIIStarts: rows where a phase II begins (primary R′ restarts there).
    static func computeRowSeries(_ input: AnalysisInput, provider: GramProvider, topK: TopKGramProvider,
                                 phaseIIStarts: Set<Int>, options: AnalysisOptions, plan: MPlan = MPlan(),
                                 progress: ((Int, Int) -> Void)?) throws -> (RowSeries, GramApplicationCounts) {
        // Vectors over the outputs have n·c entries (sample-major); scalars divide by the sample count.
        let t = input.count, n = input.dimension, samples = Double(input.n), eta = input.learningRate
        var series = RowSeries(rowCount: t)
        var tracker = RPrimeTracker(n: n, options: options, phaseIIStarts: phaseIIStarts)
        var counts = GramApplicationCounts()
        var work = [Double](repeating: 0, count: 3 * n)
        let products = input.products
        let useProvider = plan.needsProvider
        let replay = provider as? ReplayGramProvider
        // Whether every M(t) the tracker's chains used since their last start was exact.
        var fromStartChainExact = true, primaryChainExact = true

        for i in 0..<t {
            let dBase = i * n
            let d = input.residual[dBase..<(dBase + n)]          // D(t), indices dBase...
            let v1 = input.leadingEigenvector(row: i)            // v1(t), indices vBase...
            let vBase = v1.startIndex
            // Decomposition D = c1 v1 + R.
            let c1 = dot(d, v1)
            var r = [Double](repeating: 0, count: n)             // R(t) = D − c1 v1
            for j in 0..<n { r[j] = d[dBase + j] - c1 * v1[vBase + j] }
            let rNorm = norm2(r[...])
            series.c1[i] = c1
            series.rNormSq[i] = rNorm * rNorm / samples
            series.residualNorm[i] = norm2(d)

            // R′ (re)starts and the distance of R from both R′ iterates.
            let afterGap = i == 0 || !input.isConsecutive(i - 1)
            let restarted = tracker.beginRow(i, r: r, afterGap: afterGap)
            if restarted.fromStart { fromStartChainExact = true }
            if restarted.primary { primaryChainExact = true }
            if plan.fromStart, let rec = try products?.rPrimeFromStart?(i) {
                series.rPrimeErrorFromStart[i] = distance(r[...], rec[...])
                series.rPrimeFromStartExact[i] = 1
                if useProvider { series.rPrimeFromStartDifference[i] = distance(tracker.fromStart[...], rec[...]) / norm2(rec[...]) }
            } else {
                series.rPrimeErrorFromStart[i] = distance(r[...], tracker.fromStart[...])
                series.rPrimeFromStartExact[i] = fromStartChainExact ? 1 : 0
            }
            series.rPrimeRelErrorFromStart[i] = series.rPrimeErrorFromStart[i] / rNorm
            var primaryRecorded: [Double]?
            if plan.primary { primaryRecorded = try (options.rPrimeRestarts ? products?.rPrime : products?.rPrimeFromStart)?(i) }
            if let rec = primaryRecorded {
                series.rPrimeError[i] = distance(r[...], rec[...])
                series.rPrimeExact[i] = 1
                if useProvider && options.rPrimeRestarts {
                    series.rPrimeDifference[i] = distance(tracker.primary[...], rec[...]) / norm2(rec[...])
                }
            } else {
                series.rPrimeError[i] = distance(r[...], tracker.primary[...])
                series.rPrimeExact[i] = primaryChainExact ? 1 : 0
            }
            series.rPrimeRelError[i] = series.rPrimeError[i] / rNorm

            guard input.isConsecutive(i) else { continue }
            let dnBase = (i + 1) * n
            let dn = input.residual[dnBase..<(dnBase + n)]       // D(t+1), indices dnBase...

            // One application of M(t) to [D, P R′_S, P R′_P], P = I − v1 v1ᵀ, when the provider is needed.
            var gramTimesWork: [Double] = []
            var rowExact = false
            if useProvider {
                let fromStartAlongV1 = dot(v1, tracker.fromStart[...]), primaryAlongV1 = dot(v1, tracker.primary[...])
                for j in 0..<n {
                    let vj = v1[vBase + j]
                    work[j] = d[dBase + j]
                    work[n + j] = tracker.fromStart[j] - fromStartAlongV1 * vj
                    work[2 * n + j] = tracker.primary[j] - primaryAlongV1 * vj
                }
                var applied = try provider.applyGram(atRow: i, to: work, count: 3)
                if applied != nil {
                    counts.fromSource += 1
                    if let replay {
                        let drift = replay.lastResidualDrift ?? .nan
                        series.replayDrift[i] = drift
                        rowExact = drift <= replayDriftTolerance
                    } else {
                        rowExact = provider.source != .topK
                    }
                } else {
                    applied = try topK.applyGram(atRow: i, to: work, count: 3)
                    counts.topKFallback += 1
                }
                guard let a = applied, a.count == 3 * n else {
                    throw AnalysisError.gram(row: i, problem: "provider returned \(applied?.count ?? 0) values, expected \(3 * n)")
                }
                gramTimesWork = a
                tracker.advance(eta: eta, gramTimesProjected: gramTimesWork)
                fromStartChainExact = fromStartChainExact && rowExact
                primaryChainExact = primaryChainExact && rowExact
            }
            // First-order error of D: M(t)D(t) from the products or the provider.
            var gramTimesD: ArraySlice<Double>
            if plan.firstOrder, let rec = try products?.gramResidual?(i) {
                gramTimesD = rec[...]
                series.firstOrderExact[i] = 1
                if useProvider {
                    series.gramResidualDifference[i] = distance(gramTimesWork[0..<n], gramTimesD) / norm2(gramTimesD)
                }
            } else {
                gramTimesD = gramTimesWork[0..<n]
                series.firstOrderExact[i] = rowExact ? 1 : 0
            }
            var firstOrderErrorSq = 0.0, stepNormSq = 0.0
            let gBase = gramTimesD.startIndex
            for j in 0..<n {
                let step = dn[dnBase + j] - d[dBase + j]
                let e = step + eta * gramTimesD[gBase + j]
                firstOrderErrorSq += e * e
                stepNormSq += step * step
            }
            series.firstOrderError[i] = firstOrderErrorSq.squareRoot() / stepNormSq.squareRoot()

            // Two-layer linear models: D(t+1) = (I − η M*) D(t) exactly.
            var exactTimesD: [Double]?
            if plan.linear && plan.exactUpdate, let lin = products?.linear {
                exactTimesD = linearExactUpdate(gramTimesD: gramTimesD, d: d, dtf: input.dtf[i], eta: eta, linear: lin, n: input.n)
                series.exactUpdateExact[i] = 1
            } else if useProvider, let e = try provider.applyExactUpdateOperator(atRow: i, to: Array(d)) {
                exactTimesD = e
                series.exactUpdateExact[i] = rowExact ? 1 : 0
            }
            if let exactTimesD {
                guard exactTimesD.count == n else {
                    throw AnalysisError.gram(row: i, problem: "M* D has \(exactTimesD.count) values, expected \(n)")
                }
                var exactErrorSq = 0.0
                for j in 0..<n { let e = dn[dnBase + j] - d[dBase + j] + eta * exactTimesD[j]; exactErrorSq += e * e }
                series.exactUpdateErrorRelativeToResidual[i] = exactErrorSq.squareRoot() / norm2(dn)
                series.exactUpdateErrorRelativeToStep[i] = exactErrorSq.squareRoot() / stepNormSq.squareRoot()
            }

            // Pair quantities that need only recorded series.
            let outputNormSqChange = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let sharpnessChange = input.sharpness[i + 1] - input.sharpness[i]
            if outputNormSqChange != 0 && sharpnessChange != 0 && (outputNormSqChange > 0) != (sharpnessChange > 0) {
                series.anomaly[i] = 1
            }
            series.outputNormFirstOrderError[i] = abs(outputNormSqChange + 4 * eta / samples * input.dtf[i]) / abs(outputNormSqChange)
            let v1Next = input.leadingEigenvector(row: i + 1)
            series.eps2[i] = 1 - abs(dot(v1, v1Next))
            progress?(i + 1, t)
        }
        for i in 0..<t where input.isConsecutive(i) {
            series.c1Ratio[i] = abs(series.c1[i + 1] / series.c1[i])
        }
        progress?(t, t)
        series.rPrimeStartsFromStart = tracker.startsFromStart
        series.rPrimeStartsPrimary = tracker.startsPrimary
        return (series, counts)
    }

    /// M*(t)D = M(t)D − (4η/(n²m))(DᵀF) X XᵀD for the two-layer linear network (X n×d row-major).
    static func linearExactUpdate(gramTimesD: ArraySlice<Double>, d: ArraySlice<Double>, dtf: Double, eta: Double,
                                  linear: (x: [Double], d: Int, width: Int), n: Int) -> [Double] {
        let dim = linear.d, x = linear.x, dBase = d.startIndex, gBase = gramTimesD.startIndex
        var xtd = [Double](repeating: 0, count: dim)          // Xᵀ D
        for i in 0..<n {
            let di = d[dBase + i]
            for c in 0..<dim { xtd[c] += x[i * dim + c] * di }
        }
        let coef = 4 * eta / (Double(n) * Double(n) * Double(linear.width)) * dtf
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for c in 0..<dim { s += x[i * dim + c] * xtd[c] }
            out[i] = gramTimesD[gBase + i] - coef * s
        }
        return out
    }
}
