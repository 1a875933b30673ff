import XCTest
@testable import EOSReport

final class DecimationTests: XCTestCase {
    /// Seeded random walk with a few planted spikes.
    func walk(_ n: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        var y = [Double](repeating: 0, count: n)
        for i in 1..<n { y[i] = y[i - 1] + rng.normal() }
        return y
    }

    func testKeepsEveryBucketExtremumFirstLastAndFlagged() {
        let n = 200_000, buckets = 300
        var y = walk(n, seed: 3)
        y[12345] = 1e6; y[54321] = -1e6   // global extremes
        let xs = (0..<n).map(Double.init)
        var flags = [Bool](repeating: false, count: n)
        var rng = SplitMix64(seed: 5)
        var flagged: [Int] = []
        for _ in 0..<50 { let i = Int(rng.uniform() * Double(n)); flags[i] = true; flagged.append(i) }
        let keep = Decimation.lineIndices(xs: xs, ys: y, mustKeep: flags, buckets: buckets)
        let kept = Set(keep)
        XCTAssertEqual(keep, keep.sorted()); XCTAssertEqual(keep.count, kept.count)
        XCTAssertTrue(kept.contains(12345)); XCTAssertTrue(kept.contains(54321))
        XCTAssertTrue(kept.contains(0)); XCTAssertTrue(kept.contains(n - 1))
        for i in flagged { XCTAssertTrue(kept.contains(i), "flagged \(i) lost") }
        // Independent check: per bucket (same equal-width split), the min and max values survive.
        let width = Double(n - 1) / Double(buckets)
        var bmin = [Double](repeating: .infinity, count: buckets), bmax = [Double](repeating: -.infinity, count: buckets)
        var kmin = bmin, kmax = bmax
        for i in 0..<n {
            let b = min(buckets - 1, Int(Double(i) / width))
            bmin[b] = min(bmin[b], y[i]); bmax[b] = max(bmax[b], y[i])
            if kept.contains(i) { kmin[b] = min(kmin[b], y[i]); kmax[b] = max(kmax[b], y[i]) }
        }
        XCTAssertEqual(bmin, kmin); XCTAssertEqual(bmax, kmax)
        XCTAssertLessThanOrEqual(keep.count, 4 * buckets + flagged.count)
    }

    func testShortSeriesUntouchedAndGapsSurvive() {
        let xs = (0..<10).map(Double.init), ys = [1, 2, .nan, 4, 5, 6, 7, 8, 9, 10.0]
        XCTAssertEqual(Decimation.lineIndices(xs: xs, ys: ys, buckets: 100), Array(0..<10))
        var long = (0..<10_000).map { sin(Double($0) / 100) }
        long[5000] = .nan
        let keep = Decimation.lineIndices(xs: (0..<10_000).map(Double.init), ys: long, buckets: 50)
        XCTAssertTrue(keep.contains(5000), "the NaN gap must survive")
    }

    func testMillionPointFigureHasBoundedSize() {
        let n = 1_000_000
        let y = walk(n, seed: 9)
        let xs = (0..<n).map(Double.init)
        var flags = [Bool](repeating: false, count: n)
        for i in stride(from: 1000, to: n, by: 100_000) { flags[i] = true }
        let keep = Decimation.lineIndices(xs: xs, ys: y, mustKeep: flags, buckets: 306)
        XCTAssertLessThanOrEqual(keep.count, 4 * 306 + 10)
        for i in stride(from: 1000, to: n, by: 100_000) { XCTAssertTrue(keep.contains(i)) }
        let fig = Figure(id: "big", title: "1e6 points", xLabel: "step", panels: [
            Panel(yLabel: "y", series: [Series(name: "walk", x: xs, y: y, color: Palette.blue, mustKeep: flags)]),
        ])
        let svg = fig.svg()
        XCTAssertLessThan(svg.utf8.count, 60_000, "SVG of 1e6 points: \(svg.utf8.count) bytes")
        XCTAssertNotNil(SVGInspector.parse(svg))
        // The y-axis covers the global extremes.
        let ya = fig.yAxis(panel: 0)
        XCTAssertLessThanOrEqual(ya.lower, y.min()!); XCTAssertGreaterThanOrEqual(ya.upper, y.max()!)
    }

    func testScatterThinningBounded() {
        var rng = SplitMix64(seed: 1)
        let n = 300_000
        let fx = (0..<n).map { _ in Optional(rng.uniform()) }, fy = (0..<n).map { _ in Optional(rng.uniform()) }
        var flags = [Bool](repeating: false, count: n); flags[777] = true
        let keep = Decimation.scatterIndices(fx: fx, fy: fy, mustKeep: flags, cellsX: 100, cellsY: 50)
        XCTAssertLessThanOrEqual(keep.count, 100 * 50 + 1)
        XCTAssertGreaterThan(keep.count, 4900)   // a uniform cloud fills nearly every cell
        XCTAssertTrue(keep.contains(777))
    }
}

final class ShadingTests: XCTestCase {
    func rects(_ svg: String, fill: String) -> [[String: String]] {
        SVGInspector.parse(svg)!.attributes.filter { $0["fill"] == fill && $0["height"] != nil && $0["stroke"] == nil }  // legend swatches have a stroke
    }

    func figure(_ shaded: [ShadedInterval], xMax: Double) -> Figure {
        Figure(id: "s", title: "shading", xLabel: "x", panels: [
            Panel(yLabel: "y", series: [Series(name: "y", x: [0, xMax], y: [0, 1], color: "#000000")], shaded: shaded),
        ])
    }

    func testSparseIntervalsAreExact() {
        let fig = figure([ShadedInterval(start: 0, end: 25, label: "A", color: "#aaaaaa"),
                          ShadedInterval(start: 25, end: 50, label: "B", color: "#bbbbbb"),
                          ShadedInterval(start: 50, end: 100, label: "A", color: "#aaaaaa")], xMax: 100)
        let svg = fig.svg()
        let a = rects(svg, fill: "#aaaaaa"), b = rects(svg, fill: "#bbbbbb")
        XCTAssertEqual(a.count, 2); XCTAssertEqual(b.count, 1)
        // Plot from x = 80 to 688 (608 px): B spans [25, 50] → [232, 384].
        XCTAssertEqual(Double(b[0]["x"]!)!, 80 + 0.25 * fig.plotWidth, accuracy: 0.1)
        XCTAssertEqual(Double(b[0]["width"]!)!, 0.25 * fig.plotWidth, accuracy: 0.1)
        // Legend: one entry per label.
        XCTAssertEqual(SVGInspector.parse(svg)!.legendTexts, ["y", "A", "B"])
    }

    func testDenseIntervalsBecomeMajorityColumnsBoundedByWidth() {
        // 20 000 periods of A (80 %) then B (20 %) in the first half, then the reverse.
        var shaded: [ShadedInterval] = []
        for i in 0..<20_000 {
            let t = Double(i)
            let (major, minor) = i < 10_000 ? (("A", "#aaaaaa"), ("B", "#bbbbbb")) : (("B", "#bbbbbb"), ("A", "#aaaaaa"))
            shaded.append(ShadedInterval(start: t, end: t + 0.8, label: major.0, color: major.1))
            shaded.append(ShadedInterval(start: t + 0.8, end: t + 1, label: minor.0, color: minor.1))
        }
        let fig = figure(shaded, xMax: 20_000)
        let svg = fig.svg()
        let a = rects(svg, fill: "#aaaaaa"), b = rects(svg, fill: "#bbbbbb")
        XCTAssertEqual(a.count, 1); XCTAssertEqual(b.count, 1)
        XCTAssertEqual(Double(a[0]["width"]!)! + Double(b[0]["width"]!)!, fig.plotWidth, accuracy: 1.01)
        XCTAssertEqual(Double(b[0]["x"]!)!, 80 + fig.plotWidth / 2, accuracy: 1.01)
        XCTAssertLessThan(svg.utf8.count, 10_000)
    }
}
