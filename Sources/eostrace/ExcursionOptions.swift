import ArgumentParser
import EOSAnalysis
import EOSPhases

/// The phase options a hover cannot fool (`EOSPhases.ExcursionRule`), shared by analyze, report
/// and compare. Defaults: every maximal run above 2/η is a cycle (the paper's rule).
struct ExcursionOptions: ParsableArguments {
    @Option(name: .customLong("min-excursion-steps"), help: "A run above 2/η is a cycle only with at least N steps above 2/η.")
    var minSteps: Int = 1

    @Option(name: .customLong("min-excursion-margin"), help: "A run above 2/η is a cycle only when its peak exceeds (1+M)·2/η (e.g. 0.01).")
    var minMargin: Double = 0

    @Option(name: .customLong("merge-gap"), help: "Merge runs above 2/η separated by fewer than G steps at or below 2/η.")
    var mergeGap: Int = 0

    var rule: ExcursionRule { ExcursionRule(minSteps: minSteps, minMargin: minMargin, mergeGap: mergeGap) }

    func validate() throws {
        if minSteps < 1 { throw ValidationError("--min-excursion-steps must be ≥ 1, got \(minSteps)") }
        if !(minMargin >= 0 && minMargin.isFinite) { throw ValidationError("--min-excursion-margin must be finite and ≥ 0, got \(minMargin)") }
        if mergeGap < 0 { throw ValidationError("--merge-gap must be ≥ 0, got \(mergeGap)") }
    }
}
