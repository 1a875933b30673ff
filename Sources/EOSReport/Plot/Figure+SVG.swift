import Foundation

extension Figure {
    // Layout, in viewBox units (px at 100 %).
    static let marginLeft = 80.0
    static let legendWidth = 200.0
    static let titleHeight = 34.0
    static let panelTitleHeight = 18.0
    static let panelGap = 18.0
    static let xAxisHeight = 44.0
    static let legendRow = 16.0
    /// Height of a band (`ShadedInterval.band`) at the top of a plot, px.
    static let bandHeight = 6.0

    var plotLeft: Double { Figure.marginLeft }
    var plotRight: Double { width - Figure.legendWidth - 12 }
    var plotWidth: Double { plotRight - plotLeft }

    /// Total viewBox height.
    public var height: Double {
        var h = Figure.titleHeight
        for (k, p) in panels.enumerated() {
            if p.title != nil { h += Figure.panelTitleHeight }
            h += p.height
            h += k == panels.count - 1 ? Figure.xAxisHeight : Figure.panelGap
        }
        return h + 6
    }

    /// The resolved x-axis: over the drawable x of every series of every panel; the domain is
    /// the data range itself on a linear axis (ticks inside it), whole decades on a log axis.
    public func xAxis() -> Axis {
        let xs = panels.lazy.flatMap { $0.series }.flatMap { $0.x }
        let scale: AxisScale
        switch xScale {
        case .linear: scale = .linear
        case .log: scale = .log
        case .automatic: scale = Axis.automaticScale(for: xs)
        }
        var lo = Double.infinity, hi = -Double.infinity
        for v in xs where v.isFinite && (scale == .linear || v > 0) { lo = min(lo, v); hi = max(hi, v) }
        if !lo.isFinite { lo = scale == .log ? 1 : 0; hi = scale == .log ? 10 : 1 }
        if scale == .log { return tightLogAxes ? Axis.tightLog(minValue: lo, maxValue: hi) : Axis.make(scale: .log, minValue: lo, maxValue: hi) }
        if hi <= lo { return Axis.make(scale: .linear, minValue: lo, maxValue: hi, targetTicks: 8) }
        let t = Axis.linearTicks(minValue: lo, maxValue: hi, targetTicks: 8)
        let inside = t.ticks.filter { $0.value >= lo - 1e-9 * (hi - lo) && $0.value <= hi + 1e-9 * (hi - lo) }
        return Axis(scale: .linear, lower: lo, upper: hi, ticks: inside)
    }

    /// The resolved y-axis of panel `index`: covers its drawable series values, its reference
    /// lines and `includeY`, widened to tick boundaries.
    public func yAxis(panel index: Int) -> Axis {
        let p = panels[index]
        let scale = p.resolvedYScale
        var lo = Double.infinity, hi = -Double.infinity
        func take(_ v: Double) {
            guard v.isFinite, scale == .linear || v > 0 else { return }
            lo = min(lo, v); hi = max(hi, v)
        }
        for s in p.series { for v in s.y { take(v) } }
        for r in p.referenceLines { take(r.y) }
        for v in p.includeY { take(v) }
        if !lo.isFinite { lo = scale == .log ? 1 : 0; hi = scale == .log ? 10 : 1 }
        if scale == .log && tightLogAxes { return Axis.tightLog(minValue: lo, maxValue: hi) }
        return Axis.make(scale: scale, minValue: lo, maxValue: hi, targetTicks: 6)
    }

    /// The figure as an SVG document. `standalone` adds the XML namespace (needed for a .svg
    /// file); inline in HTML it is left out so the page holds no URL at all.
    public func svg(standalone: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(64 * 1024)
        let h = height
        let ns = standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : ""
        out += "<svg\(ns) viewBox=\"0 0 \(Markup.coord(width)) \(Markup.coord(h))\" "
        out += "preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"\(Markup.escape(title))\" "
        out += "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\" class=\"figure\" id=\"\(Markup.escape(id))\">\n"
        out += "<title>\(Markup.escape(title))</title>\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Markup.coord(width))\" height=\"\(Markup.coord(h))\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(Markup.coord(plotLeft))\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">\(Markup.escape(title))</text>\n"
        let xa = xAxis()
        var top = Figure.titleHeight
        for (k, p) in panels.enumerated() {
            if let t = p.title {
                out += "<text x=\"\(Markup.coord(plotLeft))\" y=\"\(Markup.coord(top + 13))\" font-size=\"12.5\" fill=\"#333333\">\(Markup.escape(t))</text>\n"
                top += Figure.panelTitleHeight
            }
            let last = k == panels.count - 1
            renderPanel(k, top: top, xAxis: xa, showXLabels: last, into: &out)
            top += p.height + (last ? Figure.xAxisHeight : Figure.panelGap)
        }
        out += "</svg>\n"
        return out
    }

    private func renderPanel(_ index: Int, top: Double, xAxis xa: Axis, showXLabels: Bool, into out: inout String) {
        let p = panels[index]
        let ya = yAxis(panel: index)
        let left = plotLeft, right = plotRight, bottom = top + p.height, w = plotWidth, ph = p.height
        func px(_ x: Double) -> Double? { xa.fraction(x).map { left + $0 * w } }
        func py(_ y: Double) -> Double? { ya.fraction(y).map { bottom - $0 * ph } }
        let C = Markup.coord

        out += "<g class=\"panel\">\n"
        out += "<rect x=\"\(C(left))\" y=\"\(C(top))\" width=\"\(C(w))\" height=\"\(C(ph))\" fill=\"#ffffff\" stroke=\"none\"/>\n"

        // Shaded intervals, in pixel space so their count stays ≤ ~ the plot width.
        var spans: [(a: Double, b: Double, color: String)] = []
        var colorOrder: [String] = []
        for sh in p.shaded where !sh.band {
            guard var a = px(sh.start), var b = px(sh.end) else { continue }
            if a > b { swap(&a, &b) }
            a = max(left, a); b = min(right, b)
            guard b >= a else { continue }
            if !colorOrder.contains(sh.color) { colorOrder.append(sh.color) }
            spans.append((a, b, sh.color))
        }
        var rects: [(a: Double, b: Double, color: String)] = []
        if spans.count <= Int(w / 3) {
            // Sparse: the exact intervals, touching ones of the same colour merged.
            for color in colorOrder {
                for s in spans.filter({ $0.color == color }).sorted(by: { $0.a < $1.a }) {
                    if let l = rects.last, l.color == color, s.a <= l.b + 0.01 { rects[rects.count - 1].b = max(l.b, s.b) } else { rects.append(s) }
                }
            }
        } else {
            // Dense (several intervals per pixel): each 1-px column gets the colour covering most
            // of it, and runs of equal columns become one rectangle. Exact up to 1 px when
            // intervals are wide; a majority view when they are not.
            let cols = max(1, Int(w.rounded(.up)))
            let ci = Dictionary(uniqueKeysWithValues: colorOrder.enumerated().map { ($1, $0) })
            var cover = [Double](repeating: 0, count: cols * colorOrder.count)
            for s in spans {
                let k = ci[s.color]!
                let c0 = Decimation.bucketIndex(s.a - left, count: cols), c1 = Decimation.bucketIndex(s.b - left, count: cols)
                for c in c0...c1 {
                    let lo = max(s.a, left + Double(c)), hi = min(s.b, left + Double(c + 1))
                    if hi > lo { cover[c * colorOrder.count + k] += hi - lo }
                }
            }
            var runStart = 0, runColor = -1
            func close(_ end: Int) {
                if runColor >= 0 { rects.append((left + Double(runStart), min(right, left + Double(end)), colorOrder[runColor])) }
            }
            for c in 0..<cols {
                var best = -1, bestCover = 0.0
                for k in colorOrder.indices where cover[c * colorOrder.count + k] > bestCover {
                    best = k; bestCover = cover[c * colorOrder.count + k]
                }
                if best != runColor { close(c); runStart = c; runColor = best }
            }
            close(cols)
        }
        for r in rects {
            out += "<rect x=\"\(C(r.a))\" y=\"\(C(top))\" width=\"\(C(max(0.4, r.b - r.a)))\" height=\"\(C(ph))\" fill=\"\(Markup.escape(r.color))\"/>\n"
        }
        // Bands: strips along the top of the plot, over the background (few: not thinned).
        for sh in p.shaded where sh.band {
            guard var a = px(sh.start), var b = px(sh.end) else { continue }
            if a > b { swap(&a, &b) }
            a = max(left, a); b = min(right, b)
            guard b >= a else { continue }
            out += "<rect class=\"band\" x=\"\(C(a))\" y=\"\(C(top))\" width=\"\(C(max(0.8, b - a)))\" height=\"\(C(Figure.bandHeight))\" fill=\"\(Markup.escape(sh.color))\"><title>\(Markup.escape(sh.label))</title></rect>\n"
        }

        // Grid and ticks.
        out += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
        for t in ya.ticks { if let y = py(t.value) { out += "<line x1=\"\(C(left))\" x2=\"\(C(right))\" y1=\"\(C(y))\" y2=\"\(C(y))\"/>\n" } }
        for t in xa.ticks { if let x = px(t.value) { out += "<line x1=\"\(C(x))\" x2=\"\(C(x))\" y1=\"\(C(top))\" y2=\"\(C(bottom))\"/>\n" } }
        out += "</g>\n"
        out += "<g fill=\"#333333\" font-size=\"11\">\n"
        for t in ya.ticks {
            if let y = py(t.value) {
                out += "<text x=\"\(C(left - 6))\" y=\"\(C(y + 4))\" text-anchor=\"end\">\(Markup.escape(t.label))</text>\n"
            }
        }
        if showXLabels {
            for t in xa.ticks {
                if let x = px(t.value) {
                    out += "<text x=\"\(C(x))\" y=\"\(C(bottom + 16))\" text-anchor=\"middle\">\(Markup.escape(t.label))</text>\n"
                }
            }
        }
        out += "</g>\n"
        if showXLabels {
            out += "<text x=\"\(C(left + w / 2))\" y=\"\(C(bottom + 36))\" text-anchor=\"middle\" fill=\"#222222\">\(Markup.escape(xLabel))</text>\n"
        }
        let yMid = top + ph / 2
        let scaleNote = ya.scale == .log ? " (log)" : ""
        out += "<text x=\"16\" y=\"\(C(yMid))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(C(yMid)))\" fill=\"#222222\">\(Markup.escape(p.yLabel + scaleNote))</text>\n"

        // Reference lines (their labels are placed after the series, clear of them).
        for r in p.referenceLines {
            guard let y = py(r.y) else { continue }
            let col = Markup.escape(r.color)
            out += "<line x1=\"\(C(left))\" x2=\"\(C(right))\" y1=\"\(C(y))\" y2=\"\(C(y))\" stroke=\"\(col)\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\n"
        }

        // Series; what is drawn is kept (in px) so that labels can avoid it.
        var drawnPaths: [[(x: Double, y: Double)]] = []
        var drawnDots: [(x: Double, y: Double, r: Double)] = []
        var anyDrawn = false
        for s in p.series {
            let fx = s.x.map { xa.fraction($0) }
            let fy = s.y.map { ya.fraction($0) }
            switch s.style {
            case .line:
                // Decimate in axis fractions (monotone in y, NaN where not drawable, e.g. ≤ 0 on
                // a log axis) so that every drawable extremum survives.
                let fyD = fy.map { $0 ?? .nan }
                let keep = Decimation.lineIndices(xs: s.x, ys: fyD, mustKeep: s.mustKeep, buckets: Int(w / 2))
                var d = ""
                var penDown = false
                for i in keep {
                    guard let a = fx[i], let b = fy[i], a.isFinite, b.isFinite else { penDown = false; continue }
                    let x = left + a * w, y = bottom - b * ph
                    d += penDown ? " \(C(x)),\(C(y))" : (d.isEmpty ? "M\(C(x)),\(C(y))" : " M\(C(x)),\(C(y))")
                    if penDown { drawnPaths[drawnPaths.count - 1].append((x, y)) } else { drawnPaths.append([(x, y)]) }
                    penDown = true
                    anyDrawn = true
                }
                if !d.isEmpty {
                    let dash = s.dashed ? " stroke-dasharray=\"5 3\"" : ""
                    out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(Markup.escape(s.color))\" stroke-width=\"1.4\" stroke-linejoin=\"round\"\(dash)/>\n"
                }
            case .markers:
                // One marker per cell of max(1.5 px, radius): markers closer than their radius
                // overlap into the same blob, so the picture does not change.
                let cell = max(1.5, s.markerRadius)
                let keep = Decimation.scatterIndices(fx: fx, fy: fy, mustKeep: [],
                                                     cellsX: Int(w / cell), cellsY: Int(ph / cell))
                if !keep.isEmpty {
                    out += "<g fill=\"\(Markup.escape(s.color))\" fill-opacity=\"0.85\">\n"
                    for i in keep {
                        let x = left + fx[i]! * w, y = bottom - fy[i]! * ph
                        out += "<circle cx=\"\(C(x))\" cy=\"\(C(y))\" r=\"\(C(s.markerRadius))\"/>\n"
                        drawnDots.append((x, y, s.markerRadius))
                    }
                    out += "</g>\n"
                    anyDrawn = true
                }
            }
        }
        if !anyDrawn {
            out += "<text x=\"\(C(left + w / 2))\" y=\"\(C(yMid))\" text-anchor=\"middle\" fill=\"#888888\">no drawable data in this window</text>\n"
        }

        // Reference-line labels: at the first place along the line (right end first, then left
        // end, then in between; above the line, then below) whose box no drawn curve or marker
        // crosses, nor an earlier label. When every place is crossed the label is left out of
        // the plot: the legend names the line (same colour and dash) in any case.
        var placed: [LabelBox] = []
        for r in p.referenceLines {
            guard let y = py(r.y) else { continue }
            let boxW = Figure.labelWidth(r.label), boxH = 12.0
            var best: (box: LabelBox, hits: Int)?
            search: for dy in [-4.0, 14.0, -10.0, 20.0] {
                for f in [1.0, 0.0, 0.8, 0.6, 0.4, 0.2, 0.9, 0.7, 0.5, 0.3, 0.1, 0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05] {
                    let x0 = left + 4 + f * max(0, w - boxW - 8)
                    let box = LabelBox(x0: x0, y0: y + dy - 9.5, x1: x0 + boxW, y1: y + dy - 9.5 + boxH)
                    guard box.y0 >= top + 1, box.y1 <= bottom - 1 else { continue }
                    var hits = placed.contains { $0.overlaps(box) } ? 1000 : 0
                    for path in drawnPaths { hits += box.crossings(path) }
                    for d in drawnDots where box.contains(d.x, d.y, margin: d.r + 1) { hits += 1 }
                    if best == nil || hits < best!.hits { best = (box, hits) }
                    if hits == 0 { break search }
                }
            }
            guard let b = best, b.hits == 0 else { continue }
            placed.append(b.box)
            let col = Markup.escape(r.color)
            out += "<text class=\"reference-label\" x=\"\(C(b.box.x0))\" y=\"\(C(b.box.y0 + 9.5))\" font-size=\"11\" fill=\"\(col)\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">\(Markup.escape(r.label))</text>\n"
        }
        out += "<rect x=\"\(C(left))\" y=\"\(C(top))\" width=\"\(C(w))\" height=\"\(C(ph))\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n"
        out += "</g>\n"
        let below = index == panels.count - 1 ? Figure.xAxisHeight : Figure.panelGap
        renderLegend(p, top: top, available: p.height + below - 4, into: &out)
    }

    /// The panel's legend, right of the plot. Rows shrink (down to 8 px) so that every entry
    /// stays inside the panel's band of the viewBox, however many series there are.
    private func renderLegend(_ p: Panel, top: Double, available: Double, into out: inout String) {
        let C = Markup.coord
        let x0 = plotRight + 16
        let entries = p.series.count + p.referenceLines.count + Set(p.shaded.map(\.label)).count
        let row = max(8, min(Figure.legendRow, (available - 8) / Double(max(1, entries))))
        let fontSize = min(11.5, row * 0.78)
        var y = top + 8
        out += "<g class=\"legend\" font-size=\"\(C(fontSize))\" fill=\"#222222\">\n"
        func label(_ s: String) -> String {
            let maxChars = 27
            return s.count > maxChars ? String(s.prefix(maxChars - 1)) + "…" : s
        }
        for s in p.series {
            let col = Markup.escape(s.color)
            switch s.style {
            case .line:
                let dash = s.dashed ? " stroke-dasharray=\"5 3\"" : ""
                out += "<line x1=\"\(C(x0))\" x2=\"\(C(x0 + 22))\" y1=\"\(C(y))\" y2=\"\(C(y))\" stroke=\"\(col)\" stroke-width=\"2\"\(dash)/>\n"
            case .markers:
                out += "<circle cx=\"\(C(x0 + 11))\" cy=\"\(C(y))\" r=\"3.5\" fill=\"\(col)\"/>\n"
            }
            out += "<text x=\"\(C(x0 + 28))\" y=\"\(C(y + 4))\">\(Markup.escape(label(s.name)))</text>\n"
            y += row
        }
        for r in p.referenceLines {
            out += "<line x1=\"\(C(x0))\" x2=\"\(C(x0 + 22))\" y1=\"\(C(y))\" y2=\"\(C(y))\" stroke=\"\(Markup.escape(r.color))\" stroke-width=\"1.4\" stroke-dasharray=\"6 4\"/>\n"
            out += "<text x=\"\(C(x0 + 28))\" y=\"\(C(y + 4))\">\(Markup.escape(label(r.label)))</text>\n"
            y += row
        }
        var seen = Set<String>()
        for s in p.shaded where !seen.contains(s.label) {
            seen.insert(s.label)
            // A band's entry is a strip of its height, as drawn; a background's a filled box.
            let (h, dy) = s.band ? (Figure.bandHeight, 3.0) : (12.0, 6.0)
            out += "<rect x=\"\(C(x0))\" y=\"\(C(y - dy))\" width=\"22\" height=\"\(C(h))\" fill=\"\(Markup.escape(s.color))\" stroke=\"#999999\" stroke-width=\"0.5\"/>\n"
            out += "<text x=\"\(C(x0 + 28))\" y=\"\(C(y + 4))\">\(Markup.escape(label(s.label)))</text>\n"
            y += row
        }
        out += "</g>\n"
    }

    /// Width of a label in 11 px Helvetica/Arial, generously (0.62 em a character).
    static func labelWidth(_ text: String) -> Double { Double(text.count) * 11 * 0.62 + 2 }
}

/// A label's box in px, for placing labels clear of curves.
struct LabelBox {
    var x0: Double, y0: Double, x1: Double, y1: Double

    func overlaps(_ o: LabelBox) -> Bool { x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1 }

    func contains(_ x: Double, _ y: Double, margin: Double = 0) -> Bool {
        x >= x0 - margin && x <= x1 + margin && y >= y0 - margin && y <= y1 + margin
    }

    /// How many segments of `path` pass through the box (with 1 px to spare).
    func crossings(_ path: [(x: Double, y: Double)]) -> Int {
        if path.count == 1 { return contains(path[0].x, path[0].y, margin: 1) ? 1 : 0 }
        var n = 0
        for (a, b) in zip(path, path.dropFirst()) where segmentHits(a, b) { n += 1 }
        return n
    }

    /// Liang–Barsky: does the segment a→b meet the box grown by 1 px?
    func segmentHits(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Bool {
        let (minX, minY, maxX, maxY) = (x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        let dx = b.x - a.x, dy = b.y - a.y
        var t0 = 0.0, t1 = 1.0
        for (p, q) in [(-dx, a.x - minX), (dx, maxX - a.x), (-dy, a.y - minY), (dy, maxY - a.y)] {
            if p == 0 {
                if q < 0 { return false }
            } else {
                let t = q / p
                if p < 0 { t0 = max(t0, t) } else { t1 = min(t1, t) }
                if t0 > t1 { return false }
            }
        }
        return true
    }
}
