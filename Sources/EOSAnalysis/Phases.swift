/// One II→III→IV cycle (SPEC §3.1). Rows index the input arrays; steps are the GD step values.
public struct Cycle: Codable, Equatable, Sendable {
    /// Why phase IV ended.
    public enum IVEnd: String, Codable, Sendable {
        /// A step with L(t) ≤ L(p) was reached (loss rule).
        case lossRecovered = "loss_recovered"
        /// A step with DᵀF < 0 was reached (dtf rule).
        case dtfNegative = "dtf_negative"
        /// The next run above 2/η began first.
        case nextRun = "next_run"
        /// The recording ended first.
        case endOfRecording = "end_of_recording"
    }

    public var index: Int
    /// First row of phase II (a), the peak row p (last of II), the last row of phase III (b).
    public var startRow: Int, peakRow: Int, endRow: Int
    /// Last row of phase IV, nil when IV is empty.
    public var ivEndRow: Int?
    public var startStep: Int64, peakStep: Int64, endStep: Int64
    public var ivEndStep: Int64?
    /// Rows in phases II, III, IV.
    public var rowsPhase2: Int, rowsPhase3: Int, rowsPhase4: Int
    /// Step spans (last step − first step + 1; equals rows when there are no gaps; 0 when empty).
    public var stepsPhase2: Int64, stepsPhase3: Int64, stepsPhase4: Int64
    public var ivEndReason: IVEnd
    /// Λ(p) and L(p).
    public var peakSharpness: Double
    public var lossAtPeak: Double
    /// max L over phase III (= L(p) when III is empty) and the rise max L(III) − L(p) (≥ 0).
    public var maxLossPhase3: Double
    public var lossRisePhase3: Double
    /// False when the run above 2/η touches the last row (the recording may have cut it short)
    /// or IV ended with the recording.
    public var complete: Bool
}

/// Phase segmentation of SPEC §3.1 on rows.
public enum PhaseSegmentation {
    /// - Returns: per-row phase (1–4) and the cycles in order.
    /// - Precondition: all arrays have the same length (programmer error otherwise).
    public static func segment(steps: [Int64], sharpness: [Double], loss: [Double], dtf: [Double],
                               learningRate: Double, rule: AnalysisOptions.PhaseRule) -> (phases: [Int8], cycles: [Cycle]) {
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
