import XCTest
@testable import EOSReport

final class AxisTests: XCTestCase {
    func testNiceStepClosedForms() {
        let cases: [(Double, Double)] = [(1, 1), (0.2, 0.2), (0.21, 0.5), (3, 5), (7, 10), (0.011, 0.02),
                                         (1.5e-7, 2e-7), (4.9e5, 5e5), (5.0001, 10), (1.999, 2)]
        for (rough, expected) in cases {
            XCTAssertEqual(Axis.niceStep(rough), expected, accuracy: expected * 1e-12, "niceStep(\(rough))")
        }
    }

    func testLinearTicksKnownRanges() {
        // [0, 1], 6 ticks: step = nice(1/5) = 0.2.
        var t = Axis.linearTicks(minValue: 0, maxValue: 1, targetTicks: 6)
        XCTAssertEqual(t.step, 0.2, accuracy: 1e-15)
        XCTAssertEqual(t.ticks.map(\.value), [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(t.ticks.map(\.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        // [-3, 7]: step = nice(10/5) = 2, domain widened to [-4, 8].
        t = Axis.linearTicks(minValue: -3, maxValue: 7, targetTicks: 6)
        XCTAssertEqual(t.step, 2)
        XCTAssertEqual(t.ticks.map(\.value), [-4, -2, 0, 2, 4, 6, 8])
        XCTAssertEqual(t.lower, -4); XCTAssertEqual(t.upper, 8)
        XCTAssertEqual(t.ticks.map(\.label), ["-4", "-2", "0", "2", "4", "6", "8"])
        // [0.1, 0.7]: step = nice(0.12) = 0.2 → 0.0 … 0.8; 3·0.1 style round-off never shows.
        t = Axis.linearTicks(minValue: 0.1, maxValue: 0.7, targetTicks: 6)
        XCTAssertEqual(t.ticks.map(\.label), ["0.0", "0.2", "0.4", "0.6", "0.8"])
        // [0, 0.3] with step 0.05: labels with two decimals, values exact to the printed digits.
        t = Axis.linearTicks(minValue: 0, maxValue: 0.3, targetTicks: 7)
        XCTAssertEqual(t.step, 0.05, accuracy: 1e-15)
        XCTAssertEqual(t.ticks.map(\.label), ["0.00", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"])
        XCTAssertEqual(t.ticks[3].value, 0.15)
        // Large values get exponent labels.
        t = Axis.linearTicks(minValue: 1e6, maxValue: 5e6, targetTicks: 5)
        XCTAssertEqual(t.ticks.map(\.value), [1e6, 2e6, 3e6, 4e6, 5e6])
        XCTAssertEqual(t.ticks.map(\.label), ["10⁶", "2×10⁶", "3×10⁶", "4×10⁶", "5×10⁶"])
        // Degenerate range [5, 5] → widened, still contains 5.
        t = Axis.linearTicks(minValue: 5, maxValue: 5)
        XCTAssertLessThan(t.lower, 5); XCTAssertGreaterThan(t.upper, 5)
        XCTAssertTrue(t.ticks.contains { $0.value == 5 })
    }

    func testLinearTicksAlwaysCoverRangeAndUse125Steps() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<500 {
            let scale = pow(10, Double(Int(rng.uniform() * 16) - 8))
            let a = (rng.uniform() * 2 - 1) * scale, b = a + rng.uniform() * scale + 1e-3 * scale
            let t = Axis.linearTicks(minValue: a, maxValue: b, targetTicks: 6)
            XCTAssertLessThanOrEqual(t.lower, a); XCTAssertGreaterThanOrEqual(t.upper, b)
            XCTAssertTrue((3...12).contains(t.ticks.count), "\(a) \(b) → \(t.ticks.count) ticks")
            let m = t.step / pow(10, floor(log10(t.step) + 1e-9))
            XCTAssertTrue([1, 2, 5].contains { abs(m - $0) < 1e-9 }, "step \(t.step)")
        }
    }

    func testLogTicksDecadesAndLabels() {
        var t = Axis.logTicks(minValue: 1e-3, maxValue: 1e2)
        XCTAssertEqual(t.lower, 1e-3, accuracy: 1e-18); XCTAssertEqual(t.upper, 100, accuracy: 1e-12)
        XCTAssertEqual(t.ticks.map(\.label), ["0.001", "0.01", "0.1", "1", "10", "100"])
        // Beyond [0.001, 10000]: powers of ten, never "1e-5".
        t = Axis.logTicks(minValue: 1e-5, maxValue: 1e-1)
        XCTAssertEqual(t.ticks.map(\.label), ["10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹"])
        // Every decade inside [0.001, 10000]: plain labels.
        t = Axis.logTicks(minValue: 0.05, maxValue: 30)
        XCTAssertEqual(t.ticks.map(\.label), ["0.01", "0.1", "1", "10", "100"])
        XCTAssertEqual(t.lower, 0.01, accuracy: 1e-15); XCTAssertEqual(t.upper, 100, accuracy: 1e-12)
        // 15 decades: stride 2, ends on a labelled decade.
        t = Axis.logTicks(minValue: 1e-12, maxValue: 1e3)
        XCTAssertEqual(t.ticks.map(\.label), ["10⁻¹²", "10⁻¹⁰", "10⁻⁸", "10⁻⁶", "10⁻⁴", "10⁻²", "10⁰", "10²", "10⁴"])
        XCTAssertEqual(t.upper, 1e4, accuracy: 1e-8)
        // Within one decade: 2× and 5× ticks added.
        t = Axis.logTicks(minValue: 2, maxValue: 8)
        XCTAssertEqual(t.ticks.map(\.label), ["1", "2", "5", "10"])
    }

    func testAutomaticScale() {
        XCTAssertEqual(Axis.automaticScale(for: [1, 10, 1000]), .log)
        XCTAssertEqual(Axis.automaticScale(for: [1, 50, 100]), .linear)          // exactly 2 decades: linear
        XCTAssertEqual(Axis.automaticScale(for: [1, 100.1]), .log)
        XCTAssertEqual(Axis.automaticScale(for: [-1, 10, 1000]), .linear)        // non-positive value
        XCTAssertEqual(Axis.automaticScale(for: [0, 10, 1000]), .linear)
        XCTAssertEqual(Axis.automaticScale(for: [.nan, 1e-6, 1, .infinity]), .log) // non-finite ignored
        XCTAssertEqual(Axis.automaticScale(for: [Double]()), .linear)
    }

    func testAxisFraction() {
        let lin = Axis.make(scale: .linear, minValue: 0, maxValue: 10, targetTicks: 6)
        XCTAssertEqual(lin.fraction(5)!, 0.5, accuracy: 1e-15)
        let lg = Axis.make(scale: .log, minValue: 1e-2, maxValue: 1e2)
        XCTAssertEqual(lg.fraction(1)!, 0.5, accuracy: 1e-15)
        XCTAssertNil(lg.fraction(0)); XCTAssertNil(lg.fraction(-1)); XCTAssertNil(lin.fraction(.nan))
    }

    func testNumberFormatting() {
        XCTAssertEqual(Markup.number(0.000123), "1.23e-4")
        XCTAssertEqual(Markup.number(1234567), "1.235e6")
        XCTAssertEqual(Markup.number(2.5), "2.5")
        XCTAssertEqual(Markup.number(100), "100")
        XCTAssertEqual(Markup.number(-0.0), "0")
        XCTAssertEqual(Markup.number(.nan), "NaN")
        XCTAssertEqual(Markup.coord(-12.34), "-12.3")
        XCTAssertEqual(Markup.coord(7), "7")
        XCTAssertEqual(Markup.escape("a<b & \"c\" 'd'>\u{1}"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;\u{FFFD}")
    }
}

final class ExtremeValueTests: XCTestCase {
    func testExtremeRangesNeitherTrapNorProduceNonFiniteTicks() throws {
        for (a, b) in [(-1e308, 1e308), (0, 1e-320), (1e-300, 1e300), (-5e-324, 5e-324), (1e15, 1e15 + 2)] {
            let t = Axis.linearTicks(minValue: a, maxValue: b)
            XCTAssertFalse(t.ticks.isEmpty)
            XCTAssertTrue(t.ticks.allSatisfy { $0.value.isFinite }, "\(a) \(b)")
        }
        let lg = Axis.logTicks(minValue: 1e-300, maxValue: 1e300)
        XCTAssertLessThanOrEqual(lg.ticks.count, 10)
        let xs: [Double] = [0, 1, 2, 3]
        let fig = Figure(id: "x", title: "extreme", xLabel: "x", panels: [
            Panel(yLabel: "y", series: [Series(name: "s", x: xs, y: [-1e308, 1e308, .nan, 0], color: "#000")]),
            Panel(yLabel: "y", yScale: .log, series: [Series(name: "s", x: xs, y: [1e-300, 1e300, -1, 0], color: "#000")]),
        ])
        XCTAssertNotNil(SVGInspector.parse(fig.svg()))
        let keep = Decimation.lineIndices(xs: (0..<1000).map { $0 == 999 ? 1e308 : Double($0) - 1e308 / 2 },
                                          ys: [Double](repeating: 1, count: 1000), buckets: 10)
        XCTAssertTrue(keep.contains(999))
    }
}

final class FuzzTests: XCTestCase {
    /// Random series of every magnitude, with NaN, ±inf, zeros and negatives, on every scale:
    /// the SVG is always well-formed, never traps, and every tick is finite.
    func testRandomFiguresAlwaysRender() {
        var rng = SplitMix64(seed: 2024)
        let specials: [Double] = [.nan, .infinity, -.infinity, 0, -0.0, 1e-310, -1e300, 1e300]
        for trial in 0..<150 {
            let n = 1 + Int(rng.uniform() * 60)
            let mag = pow(10, Double(Int(rng.uniform() * 40) - 20))
            let x = (0..<n).map { Double($0) * mag }
            let y = (0..<n).map { _ -> Double in
                rng.uniform() < 0.1 ? specials[Int(rng.uniform() * Double(specials.count))] : (rng.uniform() - 0.3) * mag
            }
            let scales: [AxisScaleChoice] = [.automatic, .linear, .log]
            let sc = scales[trial % 3]
            let fig = Figure(id: "f\(trial)", title: "fuzz \(trial)", xLabel: "x", xScale: scales[(trial / 3) % 3], panels: [
                Panel(yLabel: "y", yScale: sc, series: [
                    Series(name: "line", x: x, y: y, color: "#123456"),
                    Series(name: "pts", x: x, y: y.map { -$0 }, color: "#654321", style: .markers),
                ], referenceLines: [ReferenceLine(y: mag, label: "ref")],
                   shaded: [ShadedInterval(start: 0, end: x.last! / 2, label: "half", color: "#eeeeee")]),
            ])
            XCTAssertNotNil(SVGInspector.parse(fig.svg()), "trial \(trial)")
            XCTAssertTrue(fig.yAxis(panel: 0).ticks.allSatisfy { $0.value.isFinite }, "trial \(trial)")
            XCTAssertTrue(fig.xAxis().ticks.allSatisfy { $0.value.isFinite }, "trial \(trial)")
        }
    }
}
