import EOSPhases
import Foundation

/// The four phases of docs/ANALYSIS.md §1 as shaded x-intervals and their names.
public enum PhaseShading {
    /// Legend names of phases I–IV (index 0 = phase I).
    public static let names = [
        "phase I: Λ < 2/η",
        "phase II: Λ > 2/η, rising",
        "phase III: Λ falling",
        "phase IV: loss recovering",
    ]
    public static let roman = ["I", "II", "III", "IV"]

    /// Maximal runs of equal phase as intervals [steps[a], steps[b + 1]] (the last run ends at
    /// the last step), one light colour per phase. Phases outside 1...4 are skipped.
    /// - Precondition: `steps.count == phase.count`.
    public static func intervals(steps: [Int], phase: [Int]) -> [ShadedInterval] {
        precondition(steps.count == phase.count, "steps and phase must have the same count")
        var out: [ShadedInterval] = []
        var a = 0
        while a < phase.count {
            var b = a
            while b + 1 < phase.count && phase[b + 1] == phase[a] { b += 1 }
            let p = phase[a]
            if (1...4).contains(p) {
                let end = b + 1 < steps.count ? steps[b + 1] : steps[b]
                out.append(ShadedInterval(start: Double(steps[a]), end: Double(end),
                                          label: names[p - 1], color: Palette.phase[p - 1]))
            }
            a = b + 1
        }
        return out
    }

    /// The legend name of the hover band: "hover: Λ ≈ 2/η ± 3 %" for margin 0.03.
    public static func hoverName(margin: Double) -> String {
        "hover: Λ ≈ 2/η ± \(Markup.number(100 * margin, significant: 3)) %"
    }

    /// The hover regime (docs/ANALYSIS.md §7) as bands over the phase shading: each maximal run of
    /// hover rows a…b as [steps[a], steps[b + 1]] (the last run ends at the last step), like the
    /// phases. Empty when no row hovers.
    /// - Precondition: `steps.count == hover.count`.
    public static func hoverIntervals(steps: [Int], hover: [Bool], margin: Double) -> [ShadedInterval] {
        precondition(steps.count == hover.count, "steps and hover must have the same count")
        var out: [ShadedInterval] = []
        var a = 0
        while a < hover.count {
            guard hover[a] else { a += 1; continue }
            var b = a
            while b + 1 < hover.count && hover[b + 1] { b += 1 }
            let end = b + 1 < steps.count ? steps[b + 1] : steps[b]
            out.append(ShadedInterval(start: Double(steps[a]), end: Double(end), label: hoverName(margin: margin),
                                      color: Palette.hover, band: true))
            a = b + 1
        }
        return out
    }

    /// Number of cycles: maximal runs of phase II (each starts one II→III→IV cycle; a run cut
    /// off by the end of the recording still counts) — `EOSPhases.CycleCount.phaseIIRuns`.
    public static func cycleCount(_ phase: [Int]) -> Int { CycleCount.phaseIIRuns(phase) }
}
