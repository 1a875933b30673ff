import EOSPhases
import Foundation

extension Analyzer {
    /// Relative residual tolerance of the recorder's eigensolver (‖Mv − λv‖ ≤ tol·‖M‖, the
    /// `eigen_tolerance` default of `eostrace record`), used when the recording does not state its
    /// own (`AnalysisInput.eigenTolerance`, from `/run@config`).
    public static let eigenResidualTolerance = 1e-10

    /// The accuracy floor of c1(t) relative to ‖D(t)‖: an eigenvector with residual tol·‖M‖ is
    /// off by about tol·‖M‖/(λ1 − λ2) in angle, so c1 = Dᵀv1 is known to ‖D‖·tol·λ1/(λ1 − λ2)
    /// (‖M‖ = λ1; tol the recording's eigensolver tolerance). Never below `options.c1Floor`;
    /// `options.c1Floor` alone when k < 2 (no gap); infinite when λ1 ≤ λ2 (v1 undetermined).
    /// The one floor of every c1 result: Lemma 3.2's ratios and the phase-II growth law.
    static func c1AccuracyFloor(_ input: AnalysisInput, row: Int, options: AnalysisOptions) -> Double {
        guard input.k >= 2 else { return options.c1Floor }
        let l1 = input.eigenvalues[row * input.k], l2 = input.eigenvalues[row * input.k + 1]
        let tol = input.eigenTolerance ?? eigenResidualTolerance
        let gapFloor = l1 > l2 ? tol * abs(l1) / (l1 - l2) : .infinity
        return max(options.c1Floor, gapFloor)
    }

    /// |c1(row)| is above its accuracy floor (`c1AccuracyFloor`·‖D(row)‖).
    static func c1AboveFloor(_ input: AnalysisInput, _ series: RowSeries, row: Int, options: AnalysisOptions) -> Bool {
        abs(series.c1[row]) > c1AccuracyFloor(input, row: row, options: options) * series.residualNorm[row]
    }

    /// The ratio |c1(i+1)/c1(i)| of the consecutive pair (i, i+1) is measured: both ends are above
    /// their accuracy floors (a ratio with either end at the floor is noise).
    static func c1PairAboveFloor(_ input: AnalysisInput, _ series: RowSeries, pair i: Int, options: AnalysisOptions) -> Bool {
        c1AboveFloor(input, series, row: i, options: options) && c1AboveFloor(input, series, row: i + 1, options: options)
    }

    /// Lemma 3.2's growth law against every phase II (see `PhaseIILengthItem`).
    static func phase2LengthItems(_ input: AnalysisInput, _ series: RowSeries, cycles: [Cycle],
                                   options: AnalysisOptions) -> [PhaseIILengthItem] {
        let eta = input.learningRate
        return cycles.map { cycle in
            let a = cycle.startRow, p = cycle.peakRow
            let target = series.residualNorm[a]
            // τ: the first number of steps after which |c1(a)|·Π|1 − ηΛ| ≥ ‖D(a)‖ (τ = 0 when
            // |c1(a)| ≥ ‖D(a)‖ already, which only round-off allows).
            var predicted: Int?
            var size = abs(series.c1[a]), row = a, tau = 0
            while true {
                if size >= target { predicted = tau; break }
                guard row < input.count - 1, input.isConsecutive(row) else { break }
                size *= abs(1 - eta * input.sharpness[row])
                row += 1; tau += 1
            }
            let floor = c1AccuracyFloor(input, row: a, options: options)
            var logMeasured = 0.0, logPredicted = 0.0, pairs = 0
            if p > a {
                for i in a..<p where input.isConsecutive(i) && c1PairAboveFloor(input, series, pair: i, options: options) {
                    logMeasured += Foundation.log(series.c1Ratio[i])
                    logPredicted += Foundation.log(abs(1 - eta * input.sharpness[i]))
                    pairs += 1
                }
            }
            return PhaseIILengthItem(
                cycle: cycle.index, startStep: cycle.startStep, c1Share: abs(series.c1[a]) / target, floorShare: floor,
                startBelowFloor: !(abs(series.c1[a]) > floor * target), predictedSteps: predicted,
                measuredSteps: p - a, rowsPhase2: cycle.rowsPhase2,
                measuredGrowth: pairs == 0 ? .nan : Foundation.exp(logMeasured / Double(pairs)),
                predictedGrowth: pairs == 0 ? .nan : Foundation.exp(logPredicted / Double(pairs)),
                pairsAboveFloor: pairs)
        }
    }

    /// The hovers (docs/ANALYSIS.md §7): maximal runs of at least `minSteps` rows with
    /// |ηΛ/2 − 1| ≤ `margin`, as row ranges in order. The one definition of a hover: the regime
    /// summary and the report's hover band use it.
    public static func hoverRuns(sharpness: [Double], learningRate eta: Double, margin: Double,
                                 minSteps: Int) -> [ClosedRange<Int>] {
        var runs: [ClosedRange<Int>] = [], i = 0
        func near(_ r: Int) -> Bool { abs(eta * sharpness[r] / 2 - 1) <= margin }
        while i < sharpness.count {
            guard near(i) else { i += 1; continue }
            var j = i
            while j + 1 < sharpness.count && near(j + 1) { j += 1 }
            if j - i + 1 >= minSteps { runs.append(i...j) }
            i = j + 1
        }
        return runs
    }

    /// Rows in a hover (`hoverRuns` with `options.hoverMargin`, `options.hoverMinSteps`).
    static func hoverFlags(_ input: AnalysisInput, options: AnalysisOptions) -> (flags: [Bool], runs: Int) {
        let runs = hoverRuns(sharpness: input.sharpness, learningRate: input.learningRate,
                             margin: options.hoverMargin, minSteps: options.hoverMinSteps)
        var flags = [Bool](repeating: false, count: input.count)
        for r in runs { for i in r { flags[i] = true } }
        return (flags, runs.count)
    }

    /// Assumption 3.1 co-movement by regime (`RegimeSummary`).
    static func regimeSummary(_ input: AnalysisInput, phases: [Int8], pairRows: [Int],
                              options: AnalysisOptions) -> RegimeSummary {
        let (hover, hoverRuns) = hoverFlags(input, options: options)
        let coMove = coMovementFlags(input, pairRows: pairRows)
        var hits = [0, 0, 0], totals = [0, 0, 0]
        var catapultRows = 0
        for i in 0..<input.count {
            let regime = hover[i] ? 0 : (phases[i] == Phase.I.rawValue ? 2 : 1)
            if regime == 1 { catapultRows += 1 }
            guard let f = coMove[i] else { continue }
            totals[regime] += 1
            if f { hits[regime] += 1 }
        }
        let first = phases.firstIndex(of: Phase.II.rawValue)
        return RegimeSummary(
            hoverRows: hover.filter { $0 }.count, hoverRuns: hoverRuns, catapultRows: catapultRows,
            rowsFromFirstCrossing: first.map { input.count - $0 } ?? 0,
            hoverRowsFromFirstCrossing: first.map { f in (f..<input.count).filter { hover[$0] }.count } ?? 0,
            coMovementHover: Rate(hits: hits[0], total: totals[0]),
            coMovementCatapult: Rate(hits: hits[1], total: totals[1]),
            coMovementOther: Rate(hits: hits[2], total: totals[2]))
    }
}

extension Analyzer {
    /// The bias-exact ‖A‖² first-order line (`BiasExactCheck`); nil when no bias was supplied.
    static func biasExactCheck(_ input: AnalysisInput, _ bias: OutputBias?, phases: [Int8], pairRows: [Int]) -> BiasExactCheck? {
        guard let bias else { return nil }
        let n = input.n, eta = input.learningRate
        var errors = [Double?](repeating: nil, count: input.count)
        var first: Int?
        for i in pairRows where bias.values[i].isFinite {
            let change = input.outputNormSq[i + 1] - input.outputNormSq[i]
            // ⟨D, 1βᵀ⟩ (β·1ᵀD for one output; OutputBias.correction, vectors of n·c entries).
            errors[i] = abs(change + 4 * eta / Double(n) * (input.dtf[i] - bias.correction(input, row: i))) / abs(change)
            if first == nil { first = i }
        }
        let paper: Double
        if let f = first {
            let change = input.outputNormSq[f + 1] - input.outputNormSq[f]
            paper = abs(change + 4 * eta / Double(n) * input.dtf[f]) / abs(change)
        } else { paper = .nan }
        return BiasExactCheck(note: bias.note, error: PerPhase(values: errors, phases: phases),
                              firstPairError: first.flatMap { errors[$0] } ?? .nan, firstPairPaperError: paper,
                              medianBias: Distribution(bias.values).median)
    }
}
