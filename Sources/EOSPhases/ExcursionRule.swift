/// Which runs above 2/η make a cycle: the phase options a hover at 2/η cannot fool.
///
/// Applied in this order to the maximal runs of rows with Λ > 2/η (`PhaseSegmentation.runsAbove`):
/// 1. **Merge**: two runs separated by fewer than `mergeGap` rows with Λ ≤ 2/η become one run
///    (the rows between them belong to it: phase II up to the merged run's peak, III after).
///    `mergeGap` ≤ 1 merges nothing (runs are always separated by at least one row).
/// 2. **Filter**: a (merged) run is kept only when it has at least `minSteps` rows with
///    Λ > 2/η and its peak Λ exceeds (1 + `minMargin`)·2/η. A run that is not kept is no
///    excursion: its rows are phase I, or phase IV when an earlier cycle's phase IV is still
///    running (it does not end IV as "the next run").
///
/// The default (`minSteps` 1, `minMargin` 0, `mergeGap` 0) keeps every maximal run: the paper's
/// rule. These options are not causal (a recorder cannot know at step a whether the run will last
/// or be merged), so they change the segmentation, the cycles and the verdicts, never the
/// recorded R′ chains, which restart at every run of the default rule.
public struct ExcursionRule: Codable, Equatable, Sendable {
    /// Minimum number of rows with Λ > 2/η in a run (≥ 1).
    public var minSteps: Int
    /// Minimum relative height of the run's peak above 2/η: Λ(p) > (1 + minMargin)·2/η (≥ 0).
    public var minMargin: Double
    /// Runs separated by fewer than this many rows at or below 2/η are merged (≥ 0).
    public var mergeGap: Int

    public init(minSteps: Int = 1, minMargin: Double = 0, mergeGap: Int = 0) {
        self.minSteps = minSteps
        self.minMargin = minMargin
        self.mergeGap = mergeGap
    }

    /// True for the paper's rule (every maximal run is a cycle).
    public var isDefault: Bool { minSteps <= 1 && minMargin == 0 && mergeGap <= 1 }

    /// nil when valid, else the problem ("min_steps must be ≥ 1, got 0").
    public var problem: String? {
        if minSteps < 1 { return "min_steps must be ≥ 1, got \(minSteps)" }
        if !(minMargin >= 0 && minMargin.isFinite) { return "min_margin must be finite and ≥ 0, got \(minMargin)" }
        if mergeGap < 0 { return "merge_gap must be ≥ 0, got \(mergeGap)" }
        return nil
    }

    /// The runs that make cycles, as closed row ranges (first, last); both ends are rows with
    /// Λ > 2/η.
    public func runs(sharpness: [Double], threshold: Double) -> [(start: Int, end: Int)] {
        var merged: [(start: Int, end: Int)] = []
        for run in PhaseSegmentation.runsAbove(sharpness: sharpness, threshold: threshold) {
            if let last = merged.last, run.start - last.end - 1 < mergeGap {
                merged[merged.count - 1].end = run.end
            } else {
                merged.append(run)
            }
        }
        let level = (1 + minMargin) * threshold
        return merged.filter { run in
            var above = 0, peak = -Double.infinity
            for j in run.start...run.end {
                if StabilityThreshold.isAbove(sharpness[j], threshold: threshold) { above += 1 }
                peak = max(peak, sharpness[j])
            }
            return above >= minSteps && (minMargin == 0 || peak > level)
        }
    }
}
