import Foundation

/// The single-run report: the paper's Figures 1–4 from one recording and its analysis, plus
/// the checks table and the run metadata, as one self-contained HTML page.
public enum RunReport {
    /// Options for `html(_:options:)`.
    public struct Options: Sendable {
        /// Step window (inclusive); nil = open.
        public var from: Int?
        public var to: Int?
        /// y-scale of every panel. `.automatic`: log for data spanning > 2 decades (loss,
        /// eigenvalues, ‖R‖²/n), always log for |c1| and the R′ error (when positive), and linear
        /// for Λ and ‖A‖² in Figures 1–2 (the paper's view: the interesting part is near 2/η).
        public var yScale: AxisScaleChoice
        public init(from: Int? = nil, to: Int? = nil, yScale: AxisScaleChoice = .automatic) {
            self.from = from
            self.to = to
            self.yScale = yScale
        }
    }

    /// The figures in page order (ids fig1, fig2, fig3a, fig3b, fig3c, fig4; fig4 only when
    /// c1 or the R′ error is present, fig3b/3c only when ‖R‖²/n is present).
    /// `input` must be valid (see `ReportInput.validate()`).
    public static func figures(_ input: ReportInput, yScale: AxisScaleChoice = .automatic) -> [Figure] {
        let x = input.steps.map(Double.init)
        let twoOverEta = 2 / input.eta, oneOverEta = 1 / input.eta
        // Grouped by phase so that legends list I, II, III, IV in that order (drawing does not
        // depend on the order: the intervals do not overlap).
        // The hover band (docs/ANALYSIS.md §7) follows them: its legend entry comes last.
        let shading = (input.phase.map { PhaseShading.intervals(steps: input.steps, phase: $0) } ?? [])
            .sorted { (PhaseShading.names.firstIndex(of: $0.label) ?? 0) < (PhaseShading.names.firstIndex(of: $1.label) ?? 0) }
            + (input.hover.map { PhaseShading.hoverIntervals(steps: input.steps, hover: $0, margin: input.hoverMargin) } ?? [])
        let anomalyIdx = input.anomaly.map { a in a.indices.filter { a[$0] } } ?? []
        let line2 = ReferenceLine(y: twoOverEta, label: "2/η = \(Markup.number(twoOverEta))", color: "#c0392b")
        let line1 = ReferenceLine(y: oneOverEta, label: "1/η = \(Markup.number(oneOverEta))", color: "#7f8c8d")
        // Flag anomaly points as must-keep on the lines they sit on, unless they are so many
        // that the markers (thinned per pixel) carry them alone.
        let flags: [Bool] = anomalyIdx.count <= 4000 ? (input.anomaly ?? []) : []
        func markers(_ y: [Double]) -> Series {
            Series(name: "anomaly points (\(anomalyIdx.count))", x: anomalyIdx.map { x[$0] },
                   y: anomalyIdx.map { y[$0] }, color: Palette.orange, style: .markers, markerRadius: 2.6)
        }
        // Λ and ‖A‖² in Figures 1–2: linear unless forced (a small initialisation would otherwise
        // turn them log and flatten the oscillation around 2/η).
        let linearByDefault: AxisScaleChoice = yScale == .automatic ? .linear : yScale
        var figs: [Figure] = []

        // Figure 1: loss and sharpness with 2/η, phases shaded (+ Hessian sharpness when recorded).
        var sharpSeries = [Series(name: "sharpness Λ", x: x, y: input.sharpness, color: Palette.green)]
        if let h = input.hessianSharpness, !h.steps.isEmpty {
            sharpSeries.append(Series(name: "λ_max(∇²L) (Hessian)", x: h.steps.map(Double.init), y: h.values,
                                      color: Palette.purple, style: h.steps.count > 60 ? .line : .markers,
                                      dashed: true, markerRadius: 3))
        }
        figs.append(Figure(id: "fig1", title: "Figure 1 — loss and sharpness", xLabel: "step", panels: [
            Panel(title: "loss L(t) = ‖D(t)‖²/n", yLabel: "loss", yScale: yScale,
                  series: [Series(name: "loss L", x: x, y: input.loss, color: Palette.blue)],
                  shaded: shading),
            Panel(title: "sharpness Λ(t) = λ_max(M(t))", yLabel: "sharpness", yScale: linearByDefault,
                  series: sharpSeries, referenceLines: [line2], shaded: shading),
        ]))

        // Figure 2: ‖A‖² and Λ with anomaly points.
        var p2a = Panel(title: "output-layer norm ‖A(t)‖²", yLabel: "‖A‖²", yScale: linearByDefault,
                        series: [Series(name: "‖A‖²", x: x, y: input.outputNormSq, color: Palette.blue, mustKeep: flags)])
        var p2b = Panel(title: "sharpness Λ(t)", yLabel: "sharpness", yScale: linearByDefault,
                        series: [Series(name: "sharpness Λ", x: x, y: input.sharpness, color: Palette.green, mustKeep: flags)],
                        referenceLines: [line2])
        if input.anomaly != nil {
            p2a.series.append(markers(input.outputNormSq))
            p2b.series.append(markers(input.sharpness))
        }
        figs.append(Figure(id: "fig2", title: "Figure 2 — ‖A‖² and sharpness move together; anomaly points",
                           xLabel: "step", panels: [p2a, p2b]))

        // Figure 3a: λ1, λ2, λ_max(M_A) with 1/η and 2/η.
        var s3: [Series] = [Series(name: "λ1 = Λ", x: x, y: input.lambda1, color: Palette.blue)]
        if let l2 = input.lambda2 { s3.append(Series(name: "λ2", x: x, y: l2, color: Palette.orange)) }
        if let la = input.outputLayerSharpness { s3.append(Series(name: "λ_max(M_A)", x: x, y: la, color: Palette.teal)) }
        figs.append(Figure(id: "fig3a", title: "Figure 3a — top eigenvalues of M and of M_A", xLabel: "step", panels: [
            Panel(yLabel: "eigenvalue", yScale: yScale, series: s3, referenceLines: [line2, line1], height: 260),
        ]))

        if let r = input.rNormSqPerN {
            // Figure 3b: ‖D‖²/n against ‖R‖²/n, coloured by phase; the line y = x is the floor
            // (L = c1²/n + ‖R‖²/n ≥ ‖R‖²/n).
            var scatter: [Series] = []
            if let phase = input.phase {
                for p in 1...4 {
                    let idx = phase.indices.filter { phase[$0] == p }
                    if idx.isEmpty { continue }
                    scatter.append(Series(name: PhaseShading.names[p - 1], x: idx.map { r[$0] }, y: idx.map { input.loss[$0] },
                                          color: Palette.categorical[[0, 1, 2, 4][p - 1]], style: .markers, markerRadius: 2))
                }
            } else {
                scatter.append(Series(name: "steps", x: r, y: input.loss, color: Palette.blue, style: .markers, markerRadius: 2))
            }
            // The line y = x only where it crosses the points' own box, so the axes are set by the
            // points (a line across the union of both ranges left most of the panel empty).
            let logBoth = Axis.automaticScale(for: r) == .log || Axis.automaticScale(for: input.loss) == .log
            let xs = r.filter { $0.isFinite && (!logBoth || $0 > 0) }, ys = input.loss.filter { $0.isFinite && (!logBoth || $0 > 0) }
            if let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() {
                let lo = max(x0, y0), hi = min(x1, y1)
                if lo < hi {
                    scatter.append(Series(name: "‖D‖²/n = ‖R‖²/n", x: [lo, hi], y: [lo, hi], color: "#555555", dashed: true))
                }
            }
            let sc: AxisScaleChoice = yScale != .automatic ? yScale : (logBoth ? .log : .linear)
            figs.append(Figure(id: "fig3b", title: "Figure 3b — loss ‖D‖²/n against ‖R‖²/n", xLabel: "‖R‖²/n",
                               xScale: sc, panels: [Panel(yLabel: "‖D‖²/n", yScale: sc, series: scatter, height: 300)],
                               tightLogAxes: true))
            // Figure 3c: both over steps (the paper's view: L oscillates, ‖R‖²/n decreases steadily).
            figs.append(Figure(id: "fig3c", title: "Figure 3c — loss and ‖R‖²/n over steps", xLabel: "step", panels: [
                Panel(yLabel: "‖D‖²/n and ‖R‖²/n", yScale: yScale, series: [
                    Series(name: "‖D‖²/n (loss)", x: x, y: input.loss, color: Palette.blue),
                    Series(name: "‖R‖²/n", x: x, y: r, color: Palette.red),
                ], shaded: shading, height: 250),
            ]))
        }

        // Figure 4: |c1| (log) and the R′ tracking error.
        var p4: [Panel] = []
        if let c1 = input.c1 {
            p4.append(Panel(title: "|c1(t)| = |D(t)ᵀv1(t)|", yLabel: "|c1|", yScale: .log,
                            series: [Series(name: "|c1|", x: x, y: c1.map { abs($0) }, color: Palette.purple)],
                            shaded: shading))
        }
        if let e = input.rPrimeError {
            var s: [Series] = [Series(name: "‖R − R′‖", x: x, y: e, color: Palette.red)]
            if let rel = input.rPrimeRelativeError {
                s.append(Series(name: "‖R − R′‖ / ‖R‖", x: x, y: rel, color: Palette.brown, dashed: true))
            }
            let method = input.rPrimeMethod.map { " (\($0))" } ?? ""
            // Log whenever there is a positive error (zeros, e.g. at restarts, become gaps).
            let anyPositive = s.contains { $0.y.contains { $0 > 0 && $0.isFinite } }
            let errScale: AxisScaleChoice = yScale != .automatic ? yScale : (anyPositive ? .log : .linear)
            p4.append(Panel(title: "R′ tracking error, restarted at each phase-II start\(method)", yLabel: "error",
                            yScale: errScale, series: s, shaded: shading))
        }
        if !p4.isEmpty {
            figs.append(Figure(id: "fig4", title: "Figure 4 — |c1(t)| and the R′ tracking error", xLabel: "step", panels: p4))
        }
        return figs
    }

    /// Summary rows: window, η, phase counts, cycles, anomalies.
    public static func summaryTable(_ input: ReportInput) -> Table {
        var rows: [[String]] = []
        rows.append(["steps shown", "\(input.steps.first ?? 0) … \(input.steps.last ?? 0) (\(input.steps.count) recorded)"])
        rows.append(["learning rate η", Markup.number(input.eta, significant: 6)])
        rows.append(["2/η", Markup.number(2 / input.eta, significant: 6)])
        let finiteS = input.sharpness.filter(\.isFinite)
        if let m = finiteS.max() { rows.append(["max sharpness Λ", Markup.number(m, significant: 6)]) }
        if let i = input.sharpness.firstIndex(where: { $0 > 2 / input.eta }) {
            rows.append(["first step with Λ > 2/η", "\(input.steps[i])"])
        } else {
            rows.append(["first step with Λ > 2/η", "never in this window"])
        }
        if let l = input.loss.last { rows.append(["final loss", Markup.number(l, significant: 6)]) }
        if let phase = input.phase {
            for p in 1...4 {
                let c = phase.filter { $0 == p }.count
                rows.append(["steps in \(PhaseShading.names[p - 1])", "\(c) (\(Markup.number(100 * Double(c) / Double(max(1, phase.count)), significant: 3)) %)"])
            }
            rows.append(["cycles (phase-II runs)", "\(PhaseShading.cycleCount(phase))"])
        }
        if let h = input.hover {
            let c = h.filter { $0 }.count
            let runs = PhaseShading.hoverIntervals(steps: input.steps, hover: h, margin: input.hoverMargin).count
            rows.append(["steps in a hover (Λ within \(Markup.number(100 * input.hoverMargin, significant: 3)) % of 2/η for ≥ \(input.hoverMinSteps) steps)",
                         "\(c) (\(Markup.number(100 * Double(c) / Double(max(1, h.count)), significant: 3)) %) in \(runs) run\(runs == 1 ? "" : "s")"])
        }
        if let a = input.anomaly {
            let c = a.filter { $0 }.count
            rows.append(["anomaly points", "\(c) of \(a.count) (\(Markup.number(100 * Double(c) / Double(max(1, a.count)), significant: 3)) %)"])
        }
        return Table(caption: "Summary of the steps shown", headers: ["quantity", "value"], rows: rows)
    }

    /// The whole report as one self-contained HTML page.
    /// Validates `input`, applies the window, then draws. Throws `ReportError`.
    public static func html(_ input: ReportInput, options: Options = Options()) throws -> String {
        let w = try input.window(from: options.from, to: options.to)
        let windowed = options.from != nil || options.to != nil
        let figs = figures(w, yScale: options.yScale)
        func fig(_ id: String) -> Figure? { figs.first { $0.id == id } }
        var sections: [HTMLDocument.Section] = []
        sections.append(.init(id: "summary", heading: "Summary", blocks: [.table(summaryTable(w))]))
        var b1: [HTMLDocument.Block] = []
        if let f = fig("fig1") {
            let hoverNote = (input.hover?.contains(true) ?? false)
                ? " Band along the top: the hover regime, Λ within \(Markup.number(100 * input.hoverMargin, significant: 3)) % of 2/η for at least \(input.hoverMinSteps) steps (docs/ANALYSIS.md §7), where the paper's catapult mechanism need not apply."
                : ""
            b1.append(.figure(f, caption: "Loss (top) and sharpness Λ = λ_max(M) (bottom) with the stability threshold 2/η. Background: phases I–IV (the paper's §3.1; docs/ANALYSIS.md)." + hoverNote))
        }
        sections.append(.init(id: "figure-1", heading: "Figure 1: loss and sharpness", blocks: b1))
        if let f = fig("fig2") {
            sections.append(.init(id: "figure-2", heading: "Figure 2: ‖A‖² and sharpness", blocks: [
                .figure(f, caption: "Orange: anomaly points, steps t where sign(Λ(t+1) − Λ(t)) ≠ sign(‖A(t+1)‖ − ‖A(t)‖)."),
            ]))
        }
        var b3: [HTMLDocument.Block] = []
        if let f = fig("fig3a") { b3.append(.figure(f, caption: "λ1 and λ2 of M and λ_max of the output-layer Gram M_A, with 1/η and 2/η.")) }
        if let f = fig("fig3b") { b3.append(.figure(f, caption: "Each point is one step; the dashed line ‖D‖²/n = ‖R‖²/n is the floor (L = c1²/n + ‖R‖²/n).")) }
        if let f = fig("fig3c") { b3.append(.figure(f, caption: "In the paper the loss oscillates while ‖R‖²/n decreases more steadily (§3.4); compare the two curves here.")) }
        if w.rNormSqPerN == nil { b3.append(.paragraph("‖R‖²/n is not available (no analysis results): Figure 3b is omitted.")) }
        sections.append(.init(id: "figure-3", heading: "Figure 3: eigenvalues and the c1/R decomposition", blocks: b3))
        if let f = fig("fig4") {
            sections.append(.init(id: "figure-4", heading: "Figure 4: |c1| and R′ tracking", blocks: [
                .figure(f, caption: "|c1(t)| on a log scale; R′ follows R (Lemma 3.5) from the first step and from every phase-II start."),
            ]))
        } else {
            sections.append(.init(id: "figure-4", heading: "Figure 4: |c1| and R′ tracking", blocks: [
                .paragraph("c1 and the R′ tracking error are not available (no analysis results)."),
            ]))
        }
        var b5: [HTMLDocument.Block] = []
        if w.checks.isEmpty {
            b5.append(.paragraph("No assumption checks were computed."))
        } else {
            b5.append(.table(Table(caption: "Assumption and claim checks (whole run, not only the window)",
                                   headers: ["check", "value", "detail"], rows: w.checks.map { [$0.name, $0.value, $0.detail] })))
        }
        b5.append(.table(Table(caption: "Run metadata", headers: ["key", "value"], rows: w.metadata.map { [$0.key, $0.value] })))
        sections.append(.init(id: "checks", heading: "Checks and metadata", blocks: b5))
        let windowNote = windowed ? " — window --from \(options.from.map(String.init) ?? "start") --to \(options.to.map(String.init) ?? "end")" : ""
        let doc = HTMLDocument(title: "eostrace report: \(w.runName)",
                               subtitle: "η = \(Markup.number(w.eta, significant: 6)), steps \(w.steps.first!)–\(w.steps.last!)\(windowNote)",
                               sections: sections)
        return doc.render()
    }
}

extension RunReport {
    /// The report's figures as standalone SVG documents (with the XML namespace), named
    /// `<id>.svg` (fig1.svg, fig2.svg, …), for including in a paper. Validates and windows
    /// like `html(_:options:)`.
    public static func svgFiles(_ input: ReportInput, options: Options = Options()) throws -> [(name: String, svg: String)] {
        let w = try input.window(from: options.from, to: options.to)
        return figures(w, yScale: options.yScale).map { ("\($0.id).svg", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + $0.svg(standalone: true)) }
    }
}
