import EOSPhases
import Foundation

/// Computes everything docs/ANALYSIS.md defines from an `AnalysisInput`.
///
/// Cost: O(T k n) for the decomposition and checks plus, per consecutive pair, one application of
/// M(t) to three vectors (D, and the two R′ iterates): O(n²) with a dense provider, O(kn) with the
/// top-k approximation, or whatever a matrix-free provider costs. Memory: O(T) plus O(n) work vectors.
/// With c outputs every n above is the vector length n·c (vec(D), sample-major); the scalars still
/// divide by the sample count (L = ‖D‖_F²/n, ‖R‖²/n, the (4η/n) of the ‖A‖² line).
/// Deterministic: the same input, provider and options give identical results.
public enum Analyzer {
    public static let resultVersion = 1

    /// - Parameters:
    ///   - gram: source of M(t); nil means the top-k approximation everywhere. Rows where the
    ///     provider returns nil use the top-k approximation and are counted.
    ///   - replay: report to attach when `gram` replayed GD (see also `analyze(reader:…)`).
    ///   - gramNote: why a better source of M was not used (recorded in `gram.note`).
    ///   - outputBias: the output bias per row, for the bias-exact ‖A‖² line (nil: not computed).
    ///   - progress: called with (rows done, total rows) now and then.
    ///
    /// Stages, each in its own file: phase segmentation (`EOSPhases`, summarized in
    /// Analyzer+Phases), the row pass (decomposition, R′ tracking, first-order errors, pair
    /// quantities: Analyzer+RowSeries, Analyzer+RPrime), anomaly points (Analyzer+Anomalies),
    /// assumption checks (Analyzer+Checks) and the story (Analyzer+Story).
    ///   - verifyReplay: with `input.products`, also apply `gram` (a replay) at every row and report
    ///     how far its products are from the recorded ones (`gram.verification`).
    public static func analyze(_ input: AnalysisInput, gram: GramProvider? = nil, options: AnalysisOptions = .init(),
                               replay: ReplayReport? = nil, gramNote: String? = nil, outputBias: OutputBias? = nil,
                               verifyReplay: Bool = false,
                               progress: ((Int, Int) -> Void)? = nil) throws -> AnalysisResult {
        try input.validate()
        try options.validate()
        let t = input.count, eta = input.learningRate
        let (phases, cycles) = PhaseSegmentation.segment(
            steps: input.steps, sharpness: input.sharpness, loss: input.loss, dtf: input.dtf,
            learningRate: eta, rule: options.phaseRule, excursions: options.excursions)
        // The primary R′ restarts where a recorder restarts it: at every run of the default rule.
        let restartRows = PhaseSegmentation.runsAbove(sharpness: input.sharpness, threshold: 2 / eta).map(\.start)
        let topK = TopKGramProvider(input)
        let provider: GramProvider = gram ?? topK
        let pairRows = (0..<t).filter { input.isConsecutive($0) }
        let plan = try makePlan(input, options: options, restartRows: restartRows, pairs: pairRows.count,
                                verify: verifyReplay && gram != nil)

        let (series, gramCounts) = try computeRowSeries(
            input, provider: provider, topK: topK, phaseIIStarts: Set(restartRows), options: options, plan: plan,
            progress: progress)

        let phaseSummary = phaseSummary(phases: phases, cycles: cycles, options: options, threshold: 2 / eta)
        let decomposition = decompositionSummary(input, series, phases: phases, pairRows: pairRows)
        var (gramUsage, gramLabel) = gramUsage(provider: provider, counts: gramCounts, replay: replay, note: gramNote)
        let sources = resultSources(input, series, plan: plan, provider: plan.needsProvider ? provider : nil, counts: gramCounts)
        gramUsage.results = sources
        gramUsage.approximate = sources.contains { !$0.exact }
        if plan.firstOrder && plan.primary && plan.fromStart && (!plan.linear || plan.exactUpdate) {
            gramUsage.source = MSourceKind.recordedProducts.rawValue
            gramUsage.label = "recorded products (gram_residual, r_prime, r_prime_from_start): exact, "
                + (plan.verify ? "replay run as a verification only" : "no replay")
            gramUsage.rowsFromSource = pairRows.count
            gramUsage.rowsTopKFallback = 0
        }
        gramLabel = sources.first { $0.result == "r_prime" }?.label ?? gramLabel
        if provider is ReplayGramProvider {
            // A replay is exact only within its drift tolerance: say which.
            gramUsage.source = (sources.allSatisfy { $0.source != MSourceKind.replayBeyondTolerance.rawValue }
                                ? MSourceKind.replayWithinTolerance : MSourceKind.replayBeyondTolerance).rawValue
        }
        if let rp = provider as? ReplayGramProvider, plan.needsProvider {
            gramUsage.verification = verification(input, series, checkpointSteps: rp.checkpointSteps, plan: plan)
        }
        let rPrime = rPrimeSummary(series, phases: phases, options: options, gramLabel: gramLabel)
        let anomalies = anomalySummary(input, anomaly: series.anomaly, phases: phases, pairRows: pairRows, options: options)
        var checks = checksSummary(input, series, phases: phases, cycles: cycles, pairRows: pairRows, options: options)
        checks.outputBias = biasExactCheck(input, outputBias, phases: phases, pairRows: pairRows)
        let story = makeStory(phases: phaseSummary, anomalies: anomalies, checks: checks, rPrime: rPrime,
                              decomposition: decomposition, approximate: gramUsage.approximate,
                              rows: StoryRows(phases: phases, series: series))

        let table = PerStepTable(
            step: input.steps, phase: phases, loss: input.loss, sharpness: input.sharpness,
            outputNormSq: input.outputNormSq, dtf: input.dtf, c1: series.c1, rNormSq: series.rNormSq,
            rPrimeError: series.rPrimeError, rPrimeRelError: series.rPrimeRelError,
            rPrimeErrorFromStart: series.rPrimeErrorFromStart, rPrimeRelErrorFromStart: series.rPrimeRelErrorFromStart,
            anomaly: series.anomaly, eps2: series.eps2, firstOrderError: series.firstOrderError,
            outputNormFirstOrderError: series.outputNormFirstOrderError, c1Ratio: series.c1Ratio,
            exactUpdateError: series.exactUpdateErrorRelativeToResidual, replayDrift: series.replayDrift,
            firstOrderExact: series.firstOrderExact, rPrimeExact: series.rPrimeExact,
            rPrimeFromStartExact: series.rPrimeFromStartExact)

        let run = RunInfo(rows: t, firstStep: input.steps[0], lastStep: input.steps[t - 1],
                          consecutivePairs: pairRows.count, gaps: t - 1 - pairRows.count,
                          learningRate: eta, threshold: 2 / eta, n: input.n,
                          outputs: input.outputCount > 1 ? input.outputCount : nil, k: input.k, modelKind: input.modelKind,
                          targetNorm: input.targetNorm)
        return AnalysisResult(analysisVersion: resultVersion, options: options, run: run, gram: gramUsage,
                              phases: phaseSummary, decomposition: decomposition, rPrime: rPrime,
                              anomalies: anomalies, checks: checks, story: story, perStep: table)
    }
}
