import EOSAnalysis
import XCTest
@testable import EOSReport

/// The report's hover band (docs/ANALYSIS.md §7): the analysis' hover rows drawn as a strip over
/// the phase shading, with a legend entry, found by inspecting the SVG.
final class HoverBandTests: XCTestCase {
    /// η = 1 (2/η = 2), n = 2, k = 2, 100 rows: Λ = 1 on rows 0…19, 1.99 on rows 20…59 (|ηΛ/2 − 1|
    /// = 0.005: a hover of 40 rows), a catapult 2.5 on rows 60…64, then 1.5.
    func hoverInput() -> AnalysisInput {
        let t = 100
        let sharp = (0..<t).map { i -> Double in i < 20 ? 1 : i < 60 ? 1.99 : i < 65 ? 2.5 : 1.5 }
        var residual: [Double] = [], ev: [Double] = [], vec: [Double] = [], loss: [Double] = []
        for i in 0..<t {
            let d = [0.1 + 0.001 * Double(i % 7), 1 - 0.005 * Double(i)]
            residual += d
            ev += [sharp[i], sharp[i] / 10]
            vec += [1, 0, 0, 1]
            loss.append((d[0] * d[0] + d[1] * d[1]) / 2)
        }
        return AnalysisInput(steps: (0..<t).map(Int64.init), learningRate: 1, n: 2, k: 2, loss: loss, residual: residual,
                             outputNormSq: (0..<t).map { 1 + 0.01 * Double($0) }, sharpness: sharp, eigenvalues: ev,
                             eigenvectors: vec, dtf: [Double](repeating: 1, count: t))
    }

    /// The band rects (`class="band"`) of a figure's SVG: (x, width) in viewBox units.
    func bands(_ fig: Figure) throws -> [(x: Double, width: Double)] {
        let i = try XCTUnwrap(SVGInspector.parse(fig.svg()))
        return i.attributes.filter { $0["class"] == "band" }.map { (Double($0["x"]!)!, Double($0["width"]!)!) }
    }

    func testHoverRowsAreDrawnAsABandWithALegendEntry() throws {
        let a = hoverInput()
        let result = try Analyzer.analyze(a)
        XCTAssertEqual(result.checks.regimes.hoverRows, 40)
        let input = ReportInput(runName: "hover", analysisInput: a, result: result)
        try input.validate()
        XCTAssertEqual(input.hover, (0..<100).map { (20..<60).contains($0) })
        let fig1 = RunReport.figures(input)[0]
        // One band per panel of Figure 1, from step 20 to step 60 (the row after the hover, as the
        // phase intervals end), at the top of each plot.
        let b = try bands(fig1)
        XCTAssertEqual(b.count, fig1.panels.count)
        let xa = fig1.xAxis()
        let x20 = fig1.plotLeft + xa.fraction(20)! * fig1.plotWidth, x60 = fig1.plotLeft + xa.fraction(60)! * fig1.plotWidth
        for band in b {
            XCTAssertEqual(band.x, x20, accuracy: 0.06)
            XCTAssertEqual(band.x + band.width, x60, accuracy: 0.12)
        }
        let legend = try XCTUnwrap(SVGInspector.parse(fig1.svg())).legendTexts
        XCTAssertEqual(legend.filter { $0 == "hover: Λ ≈ 2/η ± 3 %" }.count, fig1.panels.count)
        // The legend lists the phases first (I–III: the loss never rises, so no phase IV), then the hover.
        let firstPanel = Array(legend.prefix(legend.count / 2))
        XCTAssertEqual(firstPanel, ["loss L"] + PhaseShading.names.prefix(3) + ["hover: Λ ≈ 2/η ± 3 %"])
        // The page says how many steps hover, and explains the band.
        let html = try RunReport.html(input)
        XCTAssertTrue(html.contains("steps in a hover (Λ within 3 % of 2/η for ≥ 20 steps)"), "summary row")
        XCTAssertTrue(html.contains("40 (40 %) in 1 run"))
        XCTAssertTrue(html.contains("Band along the top: the hover regime"))
    }

    func testBandFollowsTheAnalysisOptionsAndTheWindow() throws {
        let a = hoverInput()
        // A margin of 0.1 % leaves 1.99 (0.5 % below 2/η) out: no hover, no band, no legend entry.
        let tight = try Analyzer.analyze(a, options: .init(hoverMargin: 0.001))
        let none = ReportInput(runName: "tight", analysisInput: a, result: tight)
        XCTAssertEqual(none.hover, [Bool](repeating: false, count: 100))
        XCTAssertEqual(try bands(RunReport.figures(none)[0]).count, 0)
        XCTAssertFalse(SVGInspector.parse(RunReport.figures(none)[0].svg())!.legendTexts.contains { $0.hasPrefix("hover") })
        XCTAssertFalse(try RunReport.html(none).contains("Band along the top"))
        // Runs of ≥ 50 rows only: the 40-row hover is not one.
        let long = try Analyzer.analyze(a, options: .init(hoverMinSteps: 50))
        XCTAssertFalse(ReportInput(runName: "long", analysisInput: a, result: long).hover!.contains(true))
        // A margin of 26 % takes in the catapult rows (|2.5/2 − 1| = 0.25) and Λ = 1.5 after it
        // (|0.75 − 1| = 0.25), not Λ = 1 (0.5): one hover, rows 20…99.
        let wide = try Analyzer.analyze(a, options: .init(hoverMargin: 0.26))
        let w = ReportInput(runName: "wide", analysisInput: a, result: wide)
        XCTAssertEqual(w.hover, (0..<100).map { $0 >= 20 })
        XCTAssertTrue(SVGInspector.parse(RunReport.figures(w)[0].svg())!.legendTexts.contains("hover: Λ ≈ 2/η ± 26 %"))
        // A window keeps the hover as analysed on the whole run: steps 40…80 show the band 40…60.
        let input = ReportInput(runName: "hover", analysisInput: a, result: try Analyzer.analyze(a))
        let win = try input.window(from: 40, to: 80)
        XCTAssertEqual(win.hover, (40...80).map { $0 < 60 })
        let fig = RunReport.figures(win)[0]
        let xa = fig.xAxis()
        let b = try bands(fig)
        XCTAssertEqual(b.count, fig.panels.count)
        XCTAssertEqual(b[0].x, fig.plotLeft + xa.fraction(40)! * fig.plotWidth, accuracy: 0.06)
        XCTAssertEqual(b[0].x + b[0].width, fig.plotLeft + xa.fraction(60)! * fig.plotWidth, accuracy: 0.12)
        // Hover flags of the wrong length are refused like any per-step series.
        var bad = input
        bad.hover = [true]
        XCTAssertThrowsError(try bad.validate())
    }
}
