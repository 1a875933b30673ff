@testable import EOSPhases

/// `PhaseSegmentation.segment` as it was before the EOSPhases module (EOSAnalysis/Phases.swift),
/// kept verbatim as the reference the shared implementation must reproduce exactly.
enum ReferenceSegmentation {
    static func segment(steps: [Int64], sharpness: [Double], loss: [Double], dtf: [Double],
                        learningRate: Double, rule: PhaseRule) -> (phases: [Int8], cycles: [Cycle]) {
        let t = sharpness.count
        precondition(steps.count == t && loss.count == t && dtf.count == t, "segment: length mismatch")
        let threshold = 2 / learningRate
        var phases = [Int8](repeating: 1, count: t)
        // Maximal runs of rows with Λ > 2/η.
        var runs: [(Int, Int)] = []
        var i = 0
        while i < t {
            if sharpness[i] > threshold {
                var j = i
                while j + 1 < t && sharpness[j + 1] > threshold { j += 1 }
                runs.append((i, j))
                i = j + 1
            } else {
                i += 1
            }
        }
        var cycles: [Cycle] = []
        for (r, (a, b)) in runs.enumerated() {
            var p = a
            for j in a...b where sharpness[j] > sharpness[p] { p = j }   // first maximum
            for j in a...p { phases[j] = 2 }
            if p < b { for j in (p + 1)...b { phases[j] = 3 } }
            let limit = r + 1 < runs.count ? runs[r + 1].0 : t   // first row not available to IV
            var q = b + 1
            var reason: Cycle.IVEnd = limit == t ? .endOfRecording : .nextRun
            while q < limit {
                let ended: Bool
                switch rule {
                case .loss: ended = loss[q] <= loss[p]
                case .dtf: ended = dtf[q] < 0
                }
                if ended { reason = rule == .loss ? .lossRecovered : .dtfNegative; break }
                phases[q] = 4
                q += 1
            }
            let ivEnd: Int? = q > b + 1 ? q - 1 : nil
            var maxIII = loss[p]
            if p < b { for j in (p + 1)...b { maxIII = max(maxIII, loss[j]) } }
            func span(_ first: Int, _ last: Int?) -> Int64 {
                guard let last, last >= first else { return 0 }
                return steps[last] - steps[first] + 1
            }
            cycles.append(Cycle(
                index: r, startRow: a, peakRow: p, endRow: b, ivEndRow: ivEnd,
                startStep: steps[a], peakStep: steps[p], endStep: steps[b], ivEndStep: ivEnd.map { steps[$0] },
                rowsPhase2: p - a + 1, rowsPhase3: b - p, rowsPhase4: ivEnd.map { $0 - b } ?? 0,
                stepsPhase2: span(a, p), stepsPhase3: span(p + 1, p < b ? b : nil), stepsPhase4: span(b + 1, ivEnd),
                ivEndReason: reason, peakSharpness: sharpness[p], lossAtPeak: loss[p],
                maxLossPhase3: maxIII, lossRisePhase3: maxIII - loss[p],
                complete: b + 1 < t && reason != .endOfRecording))
        }
        return (phases, cycles)
    }
}
