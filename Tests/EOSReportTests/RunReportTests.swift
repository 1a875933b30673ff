import XCTest
@testable import EOSReport

final class RunReportTests: XCTestCase {
    func testEveryFigureIsWellFormedXMLWithALegend() throws {
        let input = syntheticInput()
        try input.validate()
        let figs = RunReport.figures(input)
        XCTAssertEqual(figs.map(\.id), ["fig1", "fig2", "fig3a", "fig3b", "fig3c", "fig4"])
        for f in figs {
            let svg = f.svg()
            let i = try XCTUnwrap(SVGInspector.parse(svg), "\(f.id) is not well-formed XML")
            XCTAssertEqual(i.elementCounts["svg"], 1)
            XCTAssertGreaterThan(i.elementCounts["path", default: 0] + i.elementCounts["circle", default: 0], 0, f.id)
            XCTAssertFalse(i.legendTexts.isEmpty, "\(f.id) has no legend")
            // Every series of every panel is named in the legend.
            for p in f.panels { for s in p.series { XCTAssertTrue(i.legendTexts.contains(s.name), "\(f.id): \(s.name)") } }
            XCTAssertTrue(svg.contains("viewBox=\"0 0 900 "), f.id)
        }
        // The required legend entries of the paper's figures.
        let legend1 = SVGInspector.parse(figs[0].svg())!.legendTexts
        for name in PhaseShading.names { XCTAssertTrue(legend1.contains(name), name) }
        XCTAssertTrue(legend1.contains("2/η = 100"))
        let legend2 = SVGInspector.parse(figs[1].svg())!.legendTexts
        let nAnom = input.anomaly!.filter { $0 }.count
        XCTAssertTrue(legend2.contains("anomaly points (\(nAnom))"))
        let legend3 = SVGInspector.parse(figs[2].svg())!.legendTexts
        XCTAssertTrue(legend3.contains("1/η = 50")); XCTAssertTrue(legend3.contains("λ_max(M_A)"))
    }

    func testEscapedTextStaysWellFormed() throws {
        var input = syntheticInput(count: 50)
        input.runName = "a<b>&\"c'\u{7}"
        let html = try RunReport.html(input)
        XCTAssertFalse(html.contains("a<b>"))
        XCTAssertTrue(html.contains("a&lt;b&gt;&amp;&quot;c&#39;"))
        let fig = Figure(id: "x\"<", title: "<&>", xLabel: "&", panels: [
            Panel(yLabel: "<y>", series: [Series(name: "</text>", x: [0, 1], y: [1, 2], color: "red\"/>")]),
        ])
        XCTAssertNotNil(SVGInspector.parse(fig.svg()))
    }

    func testLogAxisChosenForDecadesAndOverridable() throws {
        var input = syntheticInput(count: 400)
        input.loss = (0..<400).map { 10 * exp(-Double($0) / 40) }   // 10 → 0.0005: > 4 decades
        let fig1 = RunReport.figures(input)[0]
        XCTAssertEqual(fig1.panels[0].resolvedYScale, .log)
        XCTAssertEqual(fig1.panels[1].resolvedYScale, .linear)     // sharpness spans < 2 decades
        XCTAssertEqual(fig1.yAxis(panel: 0).ticks.first?.label, "10⁻⁴")
        XCTAssertTrue(SVGInspector.parse(fig1.svg())!.allTexts.contains("loss (log)"))
        let forced = RunReport.figures(input, yScale: .linear)[0]
        XCTAssertEqual(forced.panels[0].resolvedYScale, .linear)
        // |c1| is always on a log axis, and so is the R′ error when it has positive values.
        let fig4 = RunReport.figures(input).first { $0.id == "fig4" }!
        XCTAssertEqual(fig4.panels[0].resolvedYScale, .log)
        XCTAssertEqual(fig4.panels[1].resolvedYScale, .log)
        // Λ spanning > 2 decades (small initialisation): still linear in Figures 1–2 unless forced;
        // the eigenvalue figure picks log.
        input.sharpness = (0..<400).map { 0.01 * pow(1.03, Double($0)) }
        input.lambda1 = input.sharpness
        let figs = RunReport.figures(input)
        XCTAssertEqual(figs[0].panels[1].resolvedYScale, .linear)
        XCTAssertEqual(figs[1].panels[1].resolvedYScale, .linear)
        XCTAssertEqual(figs[2].panels[0].resolvedYScale, .log)
        XCTAssertEqual(RunReport.figures(input, yScale: .log)[0].panels[1].resolvedYScale, .log)
    }

    func testHTMLIsSelfContained() throws {
        let html = try RunReport.html(syntheticInput())
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        let lower = html.lowercased()
        for bad in ["http:", "https:", "src=", "url(", "@import", "<script", "<link", "<img", "<iframe", "<object",
                    "xlink:href", "ftp:", "file:", "data:"] {
            XCTAssertFalse(lower.contains(bad), "HTML contains \(bad)")
        }
        // The only links are in-page anchors.
        var rest = lower[...]
        while let r = rest.range(of: "href=\"") {
            XCTAssertEqual(rest[r.upperBound], "#")
            rest = rest[r.upperBound...]
        }
        let blocks = svgBlocks(in: html)
        XCTAssertEqual(blocks.count, 6)
        for b in blocks { XCTAssertNotNil(SVGInspector.parse(b), "inline SVG not well-formed") }
        for h in ["Figure 1", "Figure 2", "Figure 3", "Figure 4", "Checks and metadata", "Run metadata"] {
            XCTAssertTrue(html.contains(h), h)
        }
        XCTAssertTrue(html.contains("<td>3.7 λ2 &lt; 1/η</td>"))
        XCTAssertTrue(html.contains("<td>eostrace-trajectory 1.0</td>"))
    }

    func testWindowRestrictsData() throws {
        let input = syntheticInput(count: 1000)      // steps 0, 2, …, 1998
        let w = try input.window(from: 101, to: 300)
        XCTAssertEqual(w.steps.first, 102); XCTAssertEqual(w.steps.last, 300)
        XCTAssertEqual(w.steps.count, 100)
        XCTAssertEqual(w.loss, Array(input.loss[51...150]))
        XCTAssertEqual(w.phase!, Array(input.phase![51...150]))
        XCTAssertEqual(w.c1!.count, 100); XCTAssertEqual(w.anomaly!.count, 100)
        try w.validate()
        // Open bounds.
        XCTAssertEqual(try input.window(from: nil, to: 10).steps, [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(try input.window(from: 1990, to: nil).steps, [1990, 1992, 1994, 1996, 1998])
        // The drawn x-axis is the window.
        let fig = RunReport.figures(w)[0]
        XCTAssertEqual(fig.xAxis().lower, 102); XCTAssertEqual(fig.xAxis().upper, 300)
        let html = try RunReport.html(input, options: .init(from: 101, to: 300))
        XCTAssertTrue(html.contains("window --from 101 --to 300"))
        XCTAssertTrue(html.contains("102 … 300 (100 recorded)"))
        // Legends list the phases in order I–IV whatever phase the window starts in.
        let long = syntheticInput(count: 3000)
        let i3 = try XCTUnwrap(long.phase!.firstIndex(of: 3))
        let late = try long.window(from: long.steps[i3], to: nil)
        XCTAssertEqual(late.phase!.first, 3)
        let both = SVGInspector.parse(RunReport.figures(late)[0].svg())!.legendTexts.filter { $0.hasPrefix("phase") }
        let legend = Array(both.prefix(both.count / 2))   // two panels, same shading
        XCTAssertEqual(legend, PhaseShading.names.filter { name in late.phase!.contains(PhaseShading.names.firstIndex(of: name)! + 1) })
        // Bad windows throw one-line errors naming the run.
        XCTAssertThrowsError(try input.window(from: 10, to: 5)) { e in
            XCTAssertEqual(e as? ReportError, .invalidWindow(run: input.runName, from: 10, to: 5))
        }
        XCTAssertThrowsError(try input.window(from: 5000, to: nil)) { e in
            XCTAssertEqual(String(describing: e),
                           "\(input.runName): step window --from 5000 --to - holds no recorded step (recorded steps 0...1998)")
        }
        XCTAssertThrowsError(try input.window(from: 3, to: 3))   // between recorded steps 2 and 4
    }

    func testValidationErrors() {
        var input = syntheticInput(count: 20)
        input.c1 = [1, 2]
        XCTAssertThrowsError(try input.validate()) { e in
            XCTAssertEqual(e as? ReportError, .lengthMismatch(run: input.runName, field: "c1", expected: 20, actual: 2))
            XCTAssertFalse(String(describing: e).contains("\n"))
        }
        XCTAssertThrowsError(try RunReport.html(input))
        input = syntheticInput(count: 20); input.steps[5] = input.steps[4]
        XCTAssertThrowsError(try input.validate()) { XCTAssertEqual($0 as? ReportError, .stepsNotIncreasing(run: input.runName, index: 5)) }
        input = syntheticInput(count: 20); input.eta = 0
        XCTAssertThrowsError(try input.validate())
        input = syntheticInput(count: 20); input.phase![3] = 7
        XCTAssertThrowsError(try input.validate()) { XCTAssertEqual($0 as? ReportError, .invalidPhase(run: input.runName, index: 3, value: 7)) }
    }

    func testMinimalInputWithoutAnalysis() throws {
        let x = (0..<100).map { Double($0) }
        let input = ReportInput(runName: "bare", steps: Array(0..<100), eta: 0.1, loss: x.map { 1 / (1 + $0) },
                                sharpness: x.map { 5 + $0 / 10 }, outputNormSq: x.map { 1 + $0 / 100 }, lambda1: x.map { 5 + $0 / 10 })
        let html = try RunReport.html(input)
        XCTAssertEqual(svgBlocks(in: html).count, 3)   // fig1, fig2, fig3a
        XCTAssertTrue(html.contains("not available"))
        for b in svgBlocks(in: html) { XCTAssertFalse(SVGInspector.parse(b)!.legendTexts.isEmpty) }
    }

    func testPhaseIntervalsAndCycles() {
        let steps = [0, 10, 20, 30, 40, 50, 60, 70]
        let phase = [1, 1, 2, 3, 3, 4, 1, 2]
        let iv = PhaseShading.intervals(steps: steps, phase: phase)
        XCTAssertEqual(iv.map(\.start), [0, 20, 30, 50, 60, 70])
        XCTAssertEqual(iv.map(\.end), [20, 30, 50, 60, 70, 70])
        XCTAssertEqual(iv.map(\.label), [PhaseShading.names[0], PhaseShading.names[1], PhaseShading.names[2], PhaseShading.names[3], PhaseShading.names[0], PhaseShading.names[1]])
        XCTAssertEqual(Set(iv.map(\.color)).count, 4)
        XCTAssertEqual(PhaseShading.cycleCount(phase), 2)
        XCTAssertEqual(PhaseShading.cycleCount([1, 1, 1]), 0)
    }

    func testTableText() {
        let t = Table(headers: ["a", "value"], rows: [["x", "1.5"], ["long name", "10"]], numericColumns: [1])
        XCTAssertEqual(t.text(), "a          value\n---------  -----\nx            1.5\nlong name     10\n")
    }
}

final class SVGFileTests: XCTestCase {
    func testStandaloneSVGFilesParseAndCarryNamespace() throws {
        let files = try RunReport.svgFiles(syntheticInput(count: 500), options: .init(from: 100, to: 600))
        XCTAssertEqual(files.map(\.name), ["fig1.svg", "fig2.svg", "fig3a.svg", "fig3b.svg", "fig3c.svg", "fig4.svg"])
        for f in files {
            XCTAssertTrue(f.svg.hasPrefix("<?xml"))
            XCTAssertTrue(f.svg.contains("xmlns=\"http://www.w3.org/2000/svg\""))
            XCTAssertNotNil(SVGInspector.parse(f.svg), f.name)
        }
    }
}

final class RobustnessTests: XCTestCase {
    func testDivergedAndDegenerateRunsStillRender() throws {
        var input = syntheticInput(count: 50)
        input.loss[40] = .nan; input.loss[41] = .infinity; input.c1![10] = 0
        input.sharpness = [Double](repeating: 3, count: 50)       // flat: degenerate y-range
        input.lambda1 = input.sharpness
        let html = try RunReport.html(input)
        for b in svgBlocks(in: html) { XCTAssertNotNil(SVGInspector.parse(b)) }
        XCTAssertFalse(html.contains("nan,") || html.contains("inf,"))
        // A single recorded step.
        let one = try input.window(from: 0, to: 0)
        XCTAssertEqual(one.steps, [0])
        for b in svgBlocks(in: try RunReport.html(one)) { XCTAssertNotNil(SVGInspector.parse(b)) }
    }

    func testManyLegendEntriesStayInsideTheViewBox() throws {
        let runs = (0..<40).map { i in
            CompareInput(label: "run \(i)", steps: [0, 1, 2], sharpness: [1, 2, Double(i)], eta: 0.5)
        }
        let fig = RunComparison.figure(runs)
        let svg = fig.svg()
        let i = try XCTUnwrap(SVGInspector.parse(svg))
        XCTAssertEqual(i.legendTexts.count, 41)
        let h = fig.height
        let ys = i.attributes.compactMap { $0["y"].flatMap(Double.init) }
        XCTAssertLessThanOrEqual(ys.max()!, h)
    }
}

final class HessianTests: XCTestCase {
    func testHessianSharpnessOnOwnCadenceIsDrawnAndWindowed() throws {
        var input = syntheticInput(count: 500)              // steps 0, 2, …, 998
        let hs = Array(stride(from: 0, through: 990, by: 30))
        input.hessianSharpness = (hs, hs.map { Double($0) / 10 + 1 })
        let w = try input.window(from: 100, to: 400)
        XCTAssertEqual(w.hessianSharpness!.steps, [120, 150, 180, 210, 240, 270, 300, 330, 360, 390])
        XCTAssertEqual(w.hessianSharpness!.values.first, 13)
        let legend = SVGInspector.parse(RunReport.figures(w)[0].svg())!.legendTexts
        XCTAssertTrue(legend.contains("λ_max(∇²L) (Hessian)"))
        input.hessianSharpness = ([0, 10, 5], [1, 2, 3])
        XCTAssertThrowsError(try input.validate())
        input.hessianSharpness = ([0, 10], [1])
        XCTAssertThrowsError(try input.validate())
    }
}
