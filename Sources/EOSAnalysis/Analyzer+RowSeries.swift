/// The per-row and per-pair series of one analysis, T values each (NaN = undefined / not
/// applicable). Quantities of a pair of rows (t, t+1) are stored at row t and stay NaN at the
/// last row and before a gap.
struct RowSeries {
    /// c1(t) = D(t)ᵀ v1(t).
    var c1: [Double]
    /// ‖R(t)‖²/n, R = (I − v1 v1ᵀ) D.
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

    init(rowCount t: Int) {
        let undefined = [Double](repeating: .nan, count: t)
        c1 = undefined; rNormSq = undefined; residualNorm = undefined
        rPrimeErrorFromStart = undefined; rPrimeRelErrorFromStart = undefined
        rPrimeError = undefined; rPrimeRelError = undefined
        firstOrderError = undefined; outputNormFirstOrderError = undefined; eps2 = undefined; c1Ratio = undefined
        exactUpdateErrorRelativeToResidual = undefined; exactUpdateErrorRelativeToStep = undefined
        anomaly = [UInt8](repeating: 0, count: t)
        replayDrift = undefined
    }
}

/// Where the M(t) applications of the row pass came from.
struct GramApplicationCounts {
    /// Rows whose M(t) came from the provider.
    var fromSource = 0
    /// Rows where the provider had none and the top-k approximation was used.
    var topKFallback = 0
}

extension Analyzer {
    /// The one pass over the rows: decomposition D = c1 v1 + R, R′ tracking (one application of
    /// M(t) per consecutive pair to [D, P R′_S, P R′_P], P = I − v1 v1ᵀ), first-order errors, the
    /// exact-update check, and the pair quantities that need only recorded series. The provider
    /// is asked for rows in increasing order, each once.
    ///
    /// - Parameter phaseIIStarts: rows where a phase II begins (primary R′ restarts there).
    static func computeRowSeries(_ input: AnalysisInput, provider: GramProvider, topK: TopKGramProvider,
                                 phaseIIStarts: Set<Int>, options: AnalysisOptions,
                                 progress: ((Int, Int) -> Void)?) throws -> (RowSeries, GramApplicationCounts) {
        let t = input.count, n = input.n, eta = input.learningRate
        var series = RowSeries(rowCount: t)
        var tracker = RPrimeTracker(n: n, options: options, phaseIIStarts: phaseIIStarts)
        var counts = GramApplicationCounts()
        var work = [Double](repeating: 0, count: 3 * n)

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
            series.rNormSq[i] = rNorm * rNorm / Double(n)
            series.residualNorm[i] = norm2(d)

            // R′ (re)starts and the distance of R from both R′ iterates.
            tracker.beginRow(i, r: r, afterGap: i == 0 || !input.isConsecutive(i - 1))
            series.rPrimeErrorFromStart[i] = distance(r[...], tracker.fromStart[...])
            series.rPrimeRelErrorFromStart[i] = series.rPrimeErrorFromStart[i] / rNorm
            series.rPrimeError[i] = distance(r[...], tracker.primary[...])
            series.rPrimeRelError[i] = series.rPrimeError[i] / rNorm

            guard input.isConsecutive(i) else { continue }
            let dnBase = (i + 1) * n
            let dn = input.residual[dnBase..<(dnBase + n)]       // D(t+1), indices dnBase...

            // One application of M(t) to [D, P R′_S, P R′_P], P = I − v1 v1ᵀ.
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
                if let rp = provider as? ReplayGramProvider { series.replayDrift[i] = rp.lastResidualDrift ?? .nan }
            } else {
                applied = try topK.applyGram(atRow: i, to: work, count: 3)
                counts.topKFallback += 1
            }
            guard let gramTimesWork = applied, gramTimesWork.count == 3 * n else {
                throw AnalysisError.gram(row: i, problem: "provider returned \(applied?.count ?? 0) values, expected \(3 * n)")
            }
            // First-order error of D and one GD step of both R′ iterates.
            var firstOrderErrorSq = 0.0, stepNormSq = 0.0
            for j in 0..<n {
                let step = dn[dnBase + j] - d[dBase + j]
                let e = step + eta * gramTimesWork[j]
                firstOrderErrorSq += e * e
                stepNormSq += step * step
            }
            tracker.advance(eta: eta, gramTimesProjected: gramTimesWork)
            series.firstOrderError[i] = firstOrderErrorSq.squareRoot() / stepNormSq.squareRoot()

            // Two-layer linear models: D(t+1) = (I − η M*) D(t) exactly.
            if let exactTimesD = try provider.applyExactUpdateOperator(atRow: i, to: Array(d)) {
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
            series.outputNormFirstOrderError[i] = abs(outputNormSqChange + 4 * eta / Double(n) * input.dtf[i]) / abs(outputNormSqChange)
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
}
