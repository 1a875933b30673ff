import EOSPhases
import Foundation
import TrajectoryFormat

/// One run of a comparison (e.g. one η or one seed).
public struct CompareInput: Sendable {
    /// Names the run in the legend and the table (e.g. "η = 0.02" or "seed 3").
    public var label: String
    /// Recorded steps, strictly increasing.
    public var steps: [Int]
    /// Λ(t) per step.
    public var sharpness: [Double]
    /// Learning rate η.
    public var eta: Double
    /// Phase 1–4 per step when analysed; otherwise cycles are counted from Λ directly.
    public var phase: [Int]?
    /// Fraction of steps that are anomaly points (from the analysis), when known.
    public var anomalyRate: Double?
    /// Loss L(t) per step, when known (the page's loss panel).
    public var loss: [Double]?
    /// The input file as given on the command line (named on the page), when known.
    public var file: String?

    public init(label: String, steps: [Int], sharpness: [Double], eta: Double, phase: [Int]? = nil, anomalyRate: Double? = nil,
                loss: [Double]? = nil, file: String? = nil) {
        self.label = label
        self.steps = steps
        self.sharpness = sharpness
        self.eta = eta
        self.phase = phase
        self.anomalyRate = anomalyRate
        self.loss = loss
        self.file = file
    }

    /// Throws `ReportError` for inconsistent lengths, unordered steps, a bad η or phase.
    public func validate() throws {
        guard SeriesInvariants.isValidLearningRate(eta) else { throw ReportError.invalidLearningRate(run: label, value: eta) }
        if sharpness.count != steps.count {
            throw ReportError.lengthMismatch(run: label, field: "sharpness", expected: steps.count, actual: sharpness.count)
        }
        if let loss, loss.count != steps.count {
            throw ReportError.lengthMismatch(run: label, field: "loss", expected: steps.count, actual: loss.count)
        }
        if let phase, phase.count != steps.count {
            throw ReportError.lengthMismatch(run: label, field: "phase", expected: steps.count, actual: phase.count)
        }
        if let i = SeriesInvariants.firstNonIncreasingIndex(steps) {
            throw ReportError.stepsNotIncreasing(run: label, index: i)
        }
        if let phase { for (i, p) in phase.enumerated() where !(1...4).contains(p) { throw ReportError.invalidPhase(run: label, index: i, value: p) } }
    }
}

/// Comparison of several runs at the Edge of Stability.
public enum RunComparison {
    /// What the comparison table shows for one run.
    public struct Metrics: Sendable, Equatable {
        public var label: String
        public var eta: Double
        public var recordedSteps: Int
        /// First recorded step with Λ > 2/η (i.e. Λη/2 > 1); nil if never.
        public var firstStepAboveThreshold: Int?
        /// Median of Λη/2 over the steps from the first crossing on (nil if never crossed).
        public var plateauMedian: Double?
        /// First and third quartiles of the same values (linear interpolation, like numpy's default).
        public var plateauQ1: Double?
        public var plateauQ3: Double?
        /// Cycles: maximal phase-II runs (from `phase`, else maximal runs with Λ > 2/η — the same
        /// number under docs/ANALYSIS.md §1).
        public var cycles: Int
        /// Of those, cycles whose excursion above 2/η lasts one step (phase II one row, no phase III):
        /// in a hover regime most "cycles" are such blips, so the table flags them.
        public var oneStepCycles: Int = 0
        public var anomalyRate: Double?
    }

    /// The q-quantile (0...1) of `sorted` (ascending, non-empty) by linear interpolation between
    /// order statistics: position q·(n−1) (numpy's default "linear" method).
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "quantile of an empty sample")
        let pos = q * Double(sorted.count - 1)
        let i = Int(pos.rounded(.down)), f = pos - Double(i)
        return i + 1 < sorted.count ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i]
    }

    /// Metrics of one (valid) run. O(T log T).
    public static func metrics(_ run: CompareInput) -> Metrics {
        let thr = 2 / run.eta
        let first = run.sharpness.firstIndex { $0 > thr }
        var median: Double?, q1: Double?, q3: Double?
        if let first {
            let v = run.sharpness[first...].map { $0 * run.eta / 2 }.filter(\.isFinite).sorted()
            if !v.isEmpty {
                median = quantile(sorted: v, 0.5); q1 = quantile(sorted: v, 0.25); q3 = quantile(sorted: v, 0.75)
            }
        }
        let cycles = run.phase.map(CycleCount.phaseIIRuns) ?? CycleCount.runsAbove(sharpness: run.sharpness, learningRate: run.eta)
        var oneStep = 0
        if let p = run.phase {
            for i in p.indices where p[i] == 2 && (i == 0 || p[i - 1] != 2) && (i + 1 == p.count || (p[i + 1] != 2 && p[i + 1] != 3)) {
                oneStep += 1
            }
        } else {
            let above = run.sharpness.map { $0 > thr }
            for i in above.indices where above[i] && (i == 0 || !above[i - 1]) && (i + 1 == above.count || !above[i + 1]) { oneStep += 1 }
        }
        return Metrics(label: run.label, eta: run.eta, recordedSteps: run.steps.count,
                       firstStepAboveThreshold: first.map { run.steps[$0] },
                       plateauMedian: median, plateauQ1: q1, plateauQ3: q3, cycles: cycles, oneStepCycles: oneStep,
                       anomalyRate: run.anomalyRate)
    }

    /// The comparison table (same rows for the terminal and the page).
    public static func table(_ runs: [CompareInput]) -> Table {
        let rows = runs.map { r -> [String] in
            let m = metrics(r)
            func n(_ v: Double?) -> String { v.map { Markup.number($0, significant: 4) } ?? "-" }
            return [m.label, Markup.number(m.eta, significant: 6), "\(m.recordedSteps)",
                    m.firstStepAboveThreshold.map(String.init) ?? "never",
                    n(m.plateauMedian),
                    m.plateauQ1 == nil ? "-" : "\(n(m.plateauQ1))–\(n(m.plateauQ3))",
                    m.oneStepCycles > 0 ? "\(m.cycles) (\(m.oneStepCycles) one-step)" : "\(m.cycles)",
                    m.anomalyRate.map { Markup.number(100 * $0, significant: 3) + " %" } ?? "-"]
        }
        return Table(headers: ["run", "η", "steps", "first step Λ>2/η", "plateau Λη/2 median", "IQR", "cycles", "anomaly rate"],
                     rows: rows, numericColumns: [1, 2, 3, 4, 5, 6, 7])
    }

    /// Λ·η/2 of every run on one panel, with the threshold 1 (Λ = 2/η), and below it the loss of
    /// every run that has one.
    public static func figure(_ runs: [CompareInput], yScale: AxisScaleChoice = .automatic) -> Figure {
        func color(_ k: Int) -> String { Palette.categorical[k % Palette.categorical.count] }
        let series = runs.enumerated().map { k, r in
            Series(name: r.label, x: r.steps.map(Double.init), y: r.sharpness.map { $0 * r.eta / 2 },
                   color: color(k), dashed: k >= Palette.categorical.count)
        }
        var panels = [Panel(yLabel: "Λ·η/2", yScale: yScale, series: series,
                            referenceLines: [ReferenceLine(y: 1, label: "Λ = 2/η", color: "#222222")], height: 300)]
        let lossSeries = runs.enumerated().compactMap { k, r in
            r.loss.map { Series(name: r.label, x: r.steps.map(Double.init), y: $0, color: color(k), dashed: k >= Palette.categorical.count) }
        }
        if !lossSeries.isEmpty {
            panels.append(Panel(yLabel: "loss L", yScale: yScale, series: lossSeries, height: 220))
        }
        return Figure(id: "compare", title: "Normalised sharpness Λ·η/2 and loss L of every run", xLabel: "step", panels: panels)
    }

    /// The input files and what each run is called on the page.
    public static func filesTable(_ runs: [CompareInput]) -> Table {
        Table(headers: ["run", "file", "η", "recorded steps"],
              rows: runs.map { [$0.label, $0.file ?? "-", Markup.number($0.eta, significant: 6), "\($0.steps.count)"] },
              numericColumns: [2, 3])
    }

    /// Validates every run; throws `ReportError.noRuns` for an empty list.
    public static func validate(_ runs: [CompareInput]) throws {
        guard !runs.isEmpty else { throw ReportError.noRuns }
        for r in runs { try r.validate() }
    }

    /// The terminal text: the table plus a one-line legend of the columns.
    public static func text(_ runs: [CompareInput]) throws -> String {
        try validate(runs)
        return table(runs).text()
            + "plateau: Λη/2 from the first step with Λ > 2/η on; IQR = first–third quartile; cycles = phase-II runs\n"
            + "one-step: cycles whose Λ stays above 2/η for a single step (hover blips)\n"
    }

    /// The comparison as one self-contained HTML page.
    public static func html(_ runs: [CompareInput], title: String = "eostrace run comparison") throws -> String {
        try validate(runs)
        let files = runs.compactMap(\.file)
        let subtitle = "\(runs.count) runs" + (files.isEmpty ? "" : ": " + files.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))
        let doc = HTMLDocument(title: title, subtitle: subtitle, sections: [
            .init(id: "files", heading: "Input files", blocks: [.table(filesTable(runs))]),
            .init(id: "sharpness", heading: "Normalised sharpness and loss", blocks: [
                .figure(figure(runs), caption: "Top: Λ·η/2 = 1 is the stability threshold Λ = 2/η; at the Edge of Stability runs hover around it. Bottom: the loss L = ‖D‖²/n of each run."),
            ]),
            .init(id: "table", heading: "Comparison", blocks: [
                .table(table(runs)),
                .paragraph("Plateau: median and interquartile range of Λη/2 over the steps from the first crossing of 2/η on. Cycles: maximal phase-II runs (II→III→IV sequences)."),
            ]),
        ])
        return doc.render()
    }
}
