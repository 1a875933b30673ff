import EOSPhases
import Foundation

extension Analyzer {
    /// The assumption and claim checks of docs/ANALYSIS.md, per phase where they apply.
    static func checksSummary(_ input: AnalysisInput, _ series: RowSeries, phases: [Int8], cycles: [Cycle],
                              pairRows: [Int], options: AnalysisOptions) -> ChecksSummary {
        let assumption36 = assumption36Items(input, series, cycles: cycles)
        let (assumption37, etaLambda2) = assumption37Check(input, phases: phases)
        let outputLayerRatio = input.outputLayerSharpness.map { outputLayer in
            PerPhase(values: (0..<input.count).map { outputLayer[$0] / input.sharpness[$0] }, phases: phases)
        }
        let propositions = propositionChecks(input, series, phases: phases)
        let exactUpdate: ExactUpdateCheck? = series.exactUpdateErrorRelativeToResidual.contains { !$0.isNaN }
            ? ExactUpdateCheck(
                relativeToResidual: Distribution(pairRows.map { series.exactUpdateErrorRelativeToResidual[$0] }),
                relativeToStep: Distribution(pairRows.map { series.exactUpdateErrorRelativeToStep[$0] }))
            : nil
        return ChecksSummary(
            coMovement: PerPhase(flags: coMovementFlags(input, pairRows: pairRows), phases: phases),
            firstOrderResidual: PerPhase(values: pairValues(series.firstOrderError, pairRows: pairRows), phases: phases),
            firstOrderOutputNorm: PerPhase(values: pairValues(series.outputNormFirstOrderError, pairRows: pairRows),
                                           phases: phases),
            eps2: PerPhase(values: pairValues(series.eps2, pairRows: pairRows), phases: phases),
            assumption36: assumption36, assumption36Holds: Rate(assumption36.map(\.holds)),
            assumption36HoldsAtStart: Rate(assumption36.map(\.holdsAtStart)),
            phase2Lengths: phase2LengthItems(input, series, cycles: cycles, options: options),
            regimes: regimeSummary(input, phases: phases, pairRows: pairRows, options: options),
            assumption37: assumption37, etaLambda2: etaLambda2, outputLayerRatio: outputLayerRatio,
            proposition31: propositions?.proposition31, proposition32Bound: propositions?.proposition32Bound,
            proposition32Direction: propositions?.proposition32Direction,
            lemma32: lemma32Check(input, series, phases: phases, pairRows: pairRows, options: options),
            exactUpdate: exactUpdate)
    }

    /// Assumption 3.1: sign ΔΛ = sign Δ‖A‖² per pair (nil where either change is 0).
    static func coMovementFlags(_ input: AnalysisInput, pairRows: [Int]) -> [Bool?] {
        var coMove = [Bool?](repeating: nil, count: input.count)
        for i in pairRows {
            let outputNormSqChange = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let sharpnessChange = input.sharpness[i + 1] - input.sharpness[i]
            if outputNormSqChange != 0 && sharpnessChange != 0 { coMove[i] = (outputNormSqChange > 0) == (sharpnessChange > 0) }
        }
        return coMove
    }

    /// Assumption 3.6 at every phase-II start a: c = |c1(a)| / (ε2·‖D(a)‖) > 1, with ε2 the
    /// largest ε2 of the phase-II pairs (Assumption 3.5(iii) bounds ε2 over the whole phase),
    /// τ = ηΛ(a) − 2 and Lemma 3.2's factor (1 + τ)(1 − ε2 − 1/c); and the second reading, with
    /// ε2(a) of the pair (a, a+1) only (NaN when a is the last row or before a gap).
    static func assumption36Items(_ input: AnalysisInput, _ series: RowSeries, cycles: [Cycle]) -> [Assumption36Item] {
        let eta = input.learningRate
        return cycles.map { cycle in
            let start = cycle.startRow
            var maxEps2 = -Double.infinity
            // ε2 of Assumption 3.5(iii) during this phase II: pairs (i, i+1) with a ≤ i < p; a
            // phase II of one row uses the pair starting at a.
            for i in start..<max(cycle.peakRow, start + 1) where input.isConsecutive(i) { maxEps2 = max(maxEps2, series.eps2[i]) }
            if maxEps2 == -.infinity { maxEps2 = .nan }
            let c = abs(series.c1[start]) / (maxEps2 * series.residualNorm[start])
            let tau = eta * input.sharpness[start] - 2
            let lemma32Factor = (1 + tau) * (1 - maxEps2 - 1 / c)
            let eps2AtStart = series.eps2[start]
            let cAtStart = abs(series.c1[start]) / (eps2AtStart * series.residualNorm[start])
            return Assumption36Item(cycle: cycle.index, step: input.steps[start], c1: series.c1[start],
                                    residualNorm: series.residualNorm[start], eps2: maxEps2, c: c, holds: c > 1,
                                    eps2AtStart: eps2AtStart, cAtStart: cAtStart, holdsAtStart: cAtStart > 1,
                                    tau: tau, lemma32Factor: lemma32Factor)
        }
    }

    /// Assumption 3.7 λ2 < 1/η per phase and the distribution of ηλ2 (nil when k < 2).
    static func assumption37Check(_ input: AnalysisInput, phases: [Int8]) -> (PerPhase<Rate>?, Distribution?) {
        let k = input.k, eta = input.learningRate
        guard k >= 2 else { return (nil, nil) }
        let lambda2 = (0..<input.count).map { input.eigenvalues[$0 * k + 1] }
        return (PerPhase(flags: lambda2.map { $0 < 1 / eta }, phases: phases), Distribution(lambda2.map { eta * $0 }))
    }

    /// Propositions 3.1 and 3.2 where ‖D‖ > ‖Y‖ (nil when ‖Y‖ is unknown).
    static func propositionChecks(_ input: AnalysisInput, _ series: RowSeries, phases: [Int8])
        -> (proposition31: PerPhase<Rate>, proposition32Bound: PerPhase<Rate>, proposition32Direction: PerPhase<Rate>)? {
        guard let targetNorm = input.targetNorm else { return nil }
        let t = input.count, n = input.n, eta = input.learningRate
        var dtfPositive = [Bool?](repeating: nil, count: t), outputNormDropsByBound = dtfPositive
        var outputNormDrops = dtfPositive
        for i in 0..<t where series.residualNorm[i] > targetNorm {
            dtfPositive[i] = input.dtf[i] > 0
            if input.isConsecutive(i) {
                let outputNormSqChange = input.outputNormSq[i + 1] - input.outputNormSq[i]
                let gap = series.residualNorm[i] - targetNorm
                outputNormDropsByBound[i] = outputNormSqChange < -4 * eta / Double(n) * gap * gap
                outputNormDrops[i] = outputNormSqChange < 0
            }
        }
        return (PerPhase(flags: dtfPositive, phases: phases), PerPhase(flags: outputNormDropsByBound, phases: phases),
                PerPhase(flags: outputNormDrops, phases: phases))
    }

    /// Lemma 3.2 in phases II–III: measured |c1(t+1)/c1(t)| against |1 − ηΛ(t)|, on the pairs
    /// where |c1(t)| and |c1(t+1)| are above the eigenvector's accuracy floor
    /// (`c1PairAboveFloor`, the floor of the phase-II growth law too).
    static func lemma32Check(_ input: AnalysisInput, _ series: RowSeries, phases: [Int8], pairRows: [Int],
                             options: AnalysisOptions) -> Lemma32Check {
        let eta = input.learningRate
        var measured = [Double?](repeating: nil, count: input.count)
        var predicted: [Double] = [], logRatioError: [Double] = [], grows: [Bool] = []
        var excludedBelowFloor = 0
        for i in pairRows where phases[i] == Phase.II.rawValue || phases[i] == Phase.III.rawValue {
            // |c1| at the accuracy floor (D has no v1 component yet, or v1 is known no better) makes the ratio noise.
            guard c1PairAboveFloor(input, series, pair: i, options: options) else { excludedBelowFloor += 1; continue }
            let prediction = abs(1 - eta * input.sharpness[i])
            measured[i] = series.c1Ratio[i]
            predicted.append(prediction)
            logRatioError.append(Foundation.log(series.c1Ratio[i] / prediction))
            if series.c1Ratio[i].isFinite { grows.append(series.c1Ratio[i] > 1) }
        }
        return Lemma32Check(measuredRatio: PerPhase(values: measured, phases: phases),
                            predictedRatio: Distribution(predicted), logRatioError: Distribution(logRatioError),
                            growth: Rate(grows), excludedBelowFloor: excludedBelowFloor)
    }
}
