import EOSPhases

extension Analyzer {
    /// Rows per phase, the cycles and their duration / loss-rise distributions (docs/ANALYSIS.md §1).
    static func phaseSummary(phases: [Int8], cycles: [Cycle], options: AnalysisOptions, threshold: Double) -> PhaseSummary {
        let count = CycleCount(cycles: cycles, threshold: threshold)
        var rowsPerPhase = [Int](repeating: 0, count: 5)
        for p in phases { rowsPerPhase[Int(p)] += 1 }
        return PhaseSummary(
            rule: options.phaseRule,
            rows: PerPhase(all: phases.count, phase1: rowsPerPhase[1], phase2: rowsPerPhase[2],
                           phase3: rowsPerPhase[3], phase4: rowsPerPhase[4]),
            cycles: cycles, cycleCount: count.cycles, completeCycles: count.complete, excursions: options.excursions,
            oneStepCycles: count.oneStep, oneStepMaxMargin: count.oneStepMaxMargin, cycleText: count.text,
            durationPhase2: Distribution(cycles.map { Double($0.stepsPhase2) }),
            durationPhase3: Distribution(cycles.map { Double($0.stepsPhase3) }),
            durationPhase4: Distribution(cycles.map { Double($0.stepsPhase4) }),
            lossRisePhase3: Distribution(cycles.map(\.lossRisePhase3)))
    }

    /// |c1|, the share ‖R‖²/n of L, and how often L and ‖R‖²/n decrease, per phase (docs/ANALYSIS.md).
    static func decompositionSummary(_ input: AnalysisInput, _ series: RowSeries, phases: [Int8],
                                     pairRows: [Int]) -> DecompositionSummary {
        let t = input.count
        var lossDecreases = [Bool?](repeating: nil, count: t), rNormSqDecreases = lossDecreases
        for i in pairRows {
            lossDecreases[i] = input.loss[i + 1] < input.loss[i]
            rNormSqDecreases[i] = series.rNormSq[i + 1] < series.rNormSq[i]
        }
        return DecompositionSummary(
            absC1: PerPhase(values: rowValues(series.c1.map { abs($0) }), phases: phases),
            rShareOfLoss: PerPhase(values: (0..<t).map { series.rNormSq[$0] / input.loss[$0] }, phases: phases),
            lossDecreases: PerPhase(flags: lossDecreases, phases: phases),
            rNormSqDecreases: PerPhase(flags: rNormSqDecreases, phases: phases))
    }
}
