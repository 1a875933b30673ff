extension Analyzer {
    /// Anomaly points (sign ΔΛ ≠ sign Δ‖A‖²) and how many lie within `options.anomalyWindow`
    /// steps of a sign change of Δ‖A‖², against the chance level of all pairs (paper §3.2, Figure 2).
    static func anomalySummary(_ input: AnalysisInput, anomaly: [UInt8], phases: [Int8], pairRows: [Int],
                               options: AnalysisOptions) -> AnomalySummary {
        let t = input.count
        let changeSteps = outputNormSqSignChangeSteps(input)
        let anomalySteps = (0..<t).filter { anomaly[$0] == 1 }.map { input.steps[$0] }
        let window = Int64(options.anomalyWindow)
        func nearChange(_ s: Int64) -> Bool {
            // changeSteps is sorted: binary search for the nearest.
            var lo = 0, hi = changeSteps.count
            while lo < hi { let mid = (lo + hi) / 2; if changeSteps[mid] < s { lo = mid + 1 } else { hi = mid } }
            if lo < changeSteps.count && changeSteps[lo] - s <= window { return true }
            if lo > 0 && s - changeSteps[lo - 1] <= window { return true }
            return false
        }
        let nearCount = anomalySteps.filter(nearChange).count
        // Chance level: the fraction of all examined pairs that lie that close to a sign change.
        let pairsNearRate = pairRows.isEmpty ? Double.nan
            : Double(pairRows.filter { nearChange(input.steps[$0]) }.count) / Double(pairRows.count)
        var anomalyFlags = [Bool?](repeating: nil, count: t)
        for i in pairRows { anomalyFlags[i] = anomaly[i] == 1 }
        return AnomalySummary(
            count: anomalySteps.count, pairs: pairRows.count,
            rate: pairRows.isEmpty ? .nan : Double(anomalySteps.count) / Double(pairRows.count),
            perPhase: PerPhase(flags: anomalyFlags, phases: phases), steps: anomalySteps,
            signChanges: changeSteps.count, signChangeSteps: changeSteps, window: options.anomalyWindow,
            nearSignChange: nearCount,
            nearSignChangeRate: anomalySteps.isEmpty ? .nan : Double(nearCount) / Double(anomalySteps.count),
            pairsNearSignChangeRate: pairsNearRate)
    }

    /// Steps t (first row of a pair) where the sign of Δ‖A‖² differs from the last non-zero sign
    /// before it; a gap forgets the last sign. Sorted.
    static func outputNormSqSignChangeSteps(_ input: AnalysisInput) -> [Int64] {
        var changeSteps: [Int64] = []
        var lastSign = 0
        for i in 0..<input.count {
            if i > 0 && !input.isConsecutive(i - 1) { lastSign = 0 }
            guard input.isConsecutive(i) else { continue }
            let outputNormSqChange = input.outputNormSq[i + 1] - input.outputNormSq[i]
            let sign = outputNormSqChange > 0 ? 1 : (outputNormSqChange < 0 ? -1 : 0)
            if sign != 0 {
                if lastSign != 0 && sign != lastSign { changeSteps.append(input.steps[i]) }
                lastSign = sign
            }
        }
        return changeSteps
    }
}
