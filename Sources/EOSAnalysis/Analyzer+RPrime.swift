/// The two R′ iterates of docs/ANALYSIS.md (Lemma 3.5): R′(t+1) = R′(t) − η M(t) P R′(t),
/// P = I − v1 v1ᵀ, started at R′ := R. `fromStart` restarts only after gaps; `primary` also
/// restarts at every phase-II start (`rPrimeRestarts`) and every `rPrimeWindow` rows.
struct RPrimeTracker {
    /// R′ tracked from the first step (n values).
    private(set) var fromStart: [Double]
    /// The primary R′ (n values).
    private(set) var primary: [Double]
    /// Number of (re)starts of each iterate.
    private(set) var startsFromStart = 0, startsPrimary = 0
    /// Rows since the primary iterate last started.
    private var rowsSincePrimaryStart = 0
    private let options: AnalysisOptions
    private let phaseIIStarts: Set<Int>

    init(n: Int, options: AnalysisOptions, phaseIIStarts: Set<Int>) {
        fromStart = [Double](repeating: 0, count: n)
        primary = fromStart
        self.options = options
        self.phaseIIStarts = phaseIIStarts
    }

    /// Restarts (R′ := R) the iterates that restart at `row`; returns which did.
    @discardableResult
    mutating func beginRow(_ row: Int, r: [Double], afterGap: Bool) -> (fromStart: Bool, primary: Bool) {
        if afterGap { fromStart = r; startsFromStart += 1 }
        var restartPrimary = afterGap
        if options.rPrimeRestarts && phaseIIStarts.contains(row) { restartPrimary = true }
        if let window = options.rPrimeWindow, rowsSincePrimaryStart >= window { restartPrimary = true }
        if restartPrimary { primary = r; startsPrimary += 1; rowsSincePrimaryStart = 0 }
        return (afterGap, restartPrimary)
    }

    /// One GD step of both iterates. `gramTimesProjected` is M(t)·[D, P R′_S, P R′_P] (3×n).
    mutating func advance(eta: Double, gramTimesProjected m: [Double]) {
        let n = fromStart.count
        for j in 0..<n {
            fromStart[j] -= eta * m[n + j]
            primary[j] -= eta * m[2 * n + j]
        }
        rowsSincePrimaryStart += 1
    }
}

extension Analyzer {
    /// The `mode` string of the primary R′ series for `options`.
    static func primaryRPrimeMode(_ options: AnalysisOptions) -> String {
        switch (options.rPrimeRestarts, options.rPrimeWindow) {
        case (true, nil): return "restart_at_phase_II"
        case (true, _): return "restart_at_phase_II_and_every_window"
        case (false, nil): return "from_start"
        case (false, _): return "every_window"
        }
    }

    /// The R′ summary: both series per phase, and the label of the M(t) used.
    static func rPrimeSummary(_ series: RowSeries, phases: [Int8],
                              options: AnalysisOptions, gramLabel: String) -> RPrimeSummary {
        let t = phases.count
        func summary(_ mode: String, _ starts: Int, _ absError: [Double], _ relError: [Double]) -> RPrimeSeries {
            RPrimeSeries(mode: mode, starts: starts,
                         absError: PerPhase(values: rowValues(absError), phases: phases),
                         relError: PerPhase(values: rowValues(relError), phases: phases),
                         finalAbsError: absError[t - 1], finalRelError: relError[t - 1])
        }
        return RPrimeSummary(gramSource: gramLabel,
                             fromStart: summary("from_start", series.rPrimeStartsFromStart, series.rPrimeErrorFromStart,
                                                series.rPrimeRelErrorFromStart),
                             primary: summary(primaryRPrimeMode(options), series.rPrimeStartsPrimary, series.rPrimeError,
                                              series.rPrimeRelError))
    }

    /// The gram usage record, and the label R′ results carry (says where top-k filled in).
    static func gramUsage(provider: GramProvider, counts: GramApplicationCounts, replay: ReplayReport?,
                          note: String?) -> (usage: GramUsage, label: String) {
        let usage = GramUsage(source: provider.source.rawValue, label: provider.label,
                              rowsFromSource: counts.fromSource, rowsTopKFallback: counts.topKFallback,
                              approximate: provider.source == .topK || counts.topKFallback > 0, replay: replay, note: note)
        let label = usage.approximate && provider.source != .topK
            ? "\(provider.label) (top-k approximation at \(counts.topKFallback) of \(counts.fromSource + counts.topKFallback) steps)"
            : provider.label
        return (usage, label)
    }

    /// Every row's value (no row skipped).
    static func rowValues(_ values: [Double]) -> [Double?] { values.map { Optional($0) } }

    /// The values at the rows that start a consecutive pair; nil elsewhere.
    static func pairValues(_ values: [Double], pairRows: [Int]) -> [Double?] {
        var out = [Double?](repeating: nil, count: values.count)
        for i in pairRows { out[i] = values[i] }
        return out
    }
}
