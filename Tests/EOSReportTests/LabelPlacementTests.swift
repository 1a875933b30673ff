import XCTest
@testable import EOSReport

/// Reference-line labels sit clear of the curves; tight log axes; tick labels without "1e-2".
final class LabelPlacementTests: XCTestCase {
    /// Liang–Barsky against a brute-force check (dense points along the segment).
    func testSegmentBoxIntersectionMatchesSampling() {
        var rng = SystemRandomNumberGenerator()
        let box = LabelBox(x0: 40, y0: 40, x1: 80, y1: 52)
        for _ in 0..<2000 {
            let a = (x: Double.random(in: 0...120, using: &rng), y: Double.random(in: 0...100, using: &rng))
            let b = (x: Double.random(in: 0...120, using: &rng), y: Double.random(in: 0...100, using: &rng))
            var sampled = false
            for i in 0...4000 {
                let t = Double(i) / 4000
                if box.contains(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y), margin: 0.99) { sampled = true; break }
            }
            let exact = box.segmentHits(a, b)
            // The exact test uses a 1 px margin; sampling at 0.99 px may only miss grazing segments.
            if sampled { XCTAssertTrue(exact, "\(a) → \(b)") }
        }
        XCTAssertTrue(box.segmentHits((0, 46), (120, 46)))      // straight through
        XCTAssertFalse(box.segmentHits((0, 10), (120, 10)))     // above
        XCTAssertFalse(box.segmentHits((0, 0), (30, 100)))      // left of it
    }

    /// A curve along the threshold's right half: the label goes elsewhere, and its box (as
    /// placed in the SVG) meets none of the curve's segments.
    func testReferenceLabelAvoidsTheCurve() throws {
        let x = (0..<200).map(Double.init)
        let y = x.map { $0 < 100 ? 0.0 : 1.0 + 0.01 * sin($0) }     // hugs y = 1 on the right half
        let fig = Figure(id: "t", title: "t", xLabel: "step", panels: [
            Panel(yLabel: "v", yScale: .linear, series: [Series(name: "s", x: x, y: y, color: "#000000")],
                  referenceLines: [ReferenceLine(y: 1, label: "2/η = 40")], height: 200),
        ])
        let svg = fig.svg()
        let label = try XCTUnwrap(svg.split(separator: "\n").first { $0.contains("class=\"reference-label\"") })
        let lx = try XCTUnwrap(Double(attribute("x", of: String(label)) ?? ""))
        let ly = try XCTUnwrap(Double(attribute("y", of: String(label)) ?? ""))
        let box = LabelBox(x0: lx, y0: ly - 9.5, x1: lx + Figure.labelWidth("2/η = 40"), y1: ly + 2.5)
        // The curve's points from the SVG path.
        let path = try XCTUnwrap(svg.split(separator: "\n").first { $0.hasPrefix("<path") })
        let d = attribute("d", of: String(path))!.replacingOccurrences(of: "M", with: "")
        let points = d.split(separator: " ").map { p -> (x: Double, y: Double) in
            let c = p.split(separator: ","); return (Double(c[0])!, Double(c[1])!)
        }
        XCTAssertEqual(box.crossings(points), 0, "label at \(lx), \(ly)")
        // It is on the left half, where the curve is far from the line.
        XCTAssertLessThan(lx, fig.plotLeft + fig.plotWidth / 2)
    }

    func testTightLogAxisSpansTheData() {
        let a = Axis.tightLog(minValue: 0.007, maxValue: 0.9)
        XCTAssertLessThan(a.lower, 0.007); XCTAssertGreaterThan(a.lower, 0.005)
        XCTAssertGreaterThan(a.upper, 0.9); XCTAssertLessThan(a.upper, 1.2)
        XCTAssertEqual(a.ticks.map(\.label), ["0.01", "0.1", "1"])
        // One decade inside: the 2× and 5× ticks are added.
        let b = Axis.tightLog(minValue: 0.02, maxValue: 0.5)
        XCTAssertEqual(b.ticks.map(\.label), ["0.02", "0.05", "0.1", "0.2", "0.5"])
        XCTAssertTrue(a.ticks.allSatisfy { $0.value >= a.lower && $0.value <= a.upper })
    }

    func testTickLabelsAreReadable() {
        XCTAssertEqual(Markup.powerOfTen(-12), "10⁻¹²")
        XCTAssertEqual(Markup.timesPowerOfTen(2.5e-7), "2.5×10⁻⁷")
        XCTAssertEqual(Markup.timesPowerOfTen(1e6), "10⁶")
        for (lo, hi) in [(1e-9, 1e-1), (1e-3, 1e3), (0.02, 50), (1e3, 1e9)] {
            for t in Axis.logTicks(minValue: lo, maxValue: hi).ticks {
                XCTAssertFalse(t.label.contains("e"), t.label)
            }
        }
    }

    private func attribute(_ name: String, of element: String) -> String? {
        guard let r = element.range(of: " \(name)=\"") else { return nil }
        return String(element[r.upperBound...].prefix { $0 != "\"" })
    }
}
