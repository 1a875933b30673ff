import Foundation

/// How values map to an axis.
public enum AxisScale: String, Sendable, Equatable {
    case linear
    case log
}

/// The user's choice for an axis: decided from the data, or forced.
public enum AxisScaleChoice: Sendable, Equatable {
    /// Log when every finite value is positive and they span more than two decades
    /// (max/min > 100), linear otherwise. See `Axis.automaticScale(for:)`.
    case automatic
    case linear
    case log
}

/// One tick: its value and its label.
public struct Tick: Sendable, Equatable {
    public var value: Double
    public var label: String
    public init(value: Double, label: String) {
        self.value = value
        self.label = label
    }
}

/// A resolved axis: scale, domain (already widened to tick boundaries) and ticks.
public struct Axis: Sendable, Equatable {
    public var scale: AxisScale
    public var lower: Double
    public var upper: Double
    public var ticks: [Tick]

    /// Maps a value to [0, 1] along the axis (0 at `lower`). Values ≤ 0 on a log axis give nil.
    public func fraction(_ v: Double) -> Double? {
        guard v.isFinite else { return nil }
        switch scale {
        case .linear:
            return (v - lower) / (upper - lower)
        case .log:
            guard v > 0 else { return nil }
            return (log10(v) - log10(lower)) / (log10(upper) - log10(lower))
        }
    }

    /// The scale `automatic` picks: log when all finite values are > 0 and max/min > 100.
    /// A single non-positive value keeps the axis linear (it could not be drawn on a log axis).
    public static func automaticScale<S: Sequence>(for values: S) -> AxisScale where S.Element == Double {
        var lo = Double.infinity, hi = -Double.infinity, any = false
        for v in values where v.isFinite {
            if v <= 0 { return .linear }
            lo = min(lo, v); hi = max(hi, v); any = true
        }
        return any && hi / lo > 100 ? .log : .linear
    }

    /// Builds an axis covering [minValue, maxValue] (finite, minValue ≤ maxValue).
    /// Linear: 1-2-5 ticks, about `targetTicks` of them, domain widened to the outer ticks.
    /// Log: decade ticks labelled as plain decimals when every decade lies in [0.001, 10000]
    /// (0.001, 0.01, …, 10000), else as powers of ten (10⁻⁶, 10⁻⁴, …); domain widened to whole decades; when the range lies within one or two
    /// decades, 2× and 5× ticks are added. For log, minValue must be > 0.
    public static func make(scale: AxisScale, minValue: Double, maxValue: Double, targetTicks: Int = 6) -> Axis {
        switch scale {
        case .linear:
            let t = linearTicks(minValue: minValue, maxValue: maxValue, targetTicks: targetTicks)
            return Axis(scale: .linear, lower: t.lower, upper: t.upper, ticks: t.ticks)
        case .log:
            let t = logTicks(minValue: minValue, maxValue: maxValue)
            return Axis(scale: .log, lower: t.lower, upper: t.upper, ticks: t.ticks)
        }
    }

    /// The 1-2-5 step nearest above `rough`: the smallest of {1, 2, 5}·10^k that is ≥ rough.
    public static func niceStep(_ rough: Double) -> Double {
        precondition(rough > 0 && rough.isFinite, "niceStep needs a positive finite value")
        let exponent = floor(log10(rough))
        let base = pow(10, exponent)
        let m = rough / base
        // Tolerance so that e.g. rough = 0.2 (stored as 0.2000000000000000111) gives 0.2.
        let eps = 1e-9
        let nice: Double = m <= 1 + eps ? 1 : m <= 2 + eps ? 2 : m <= 5 + eps ? 5 : 10
        return nice * base
    }

    /// Linear 1-2-5 ticks. A degenerate range [v, v] is widened to a unit (or ±|v|/10) interval.
    public static func linearTicks(minValue: Double, maxValue: Double, targetTicks: Int = 6)
        -> (lower: Double, upper: Double, step: Double, ticks: [Tick]) {
        var lo = minValue, hi = maxValue
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if lo > hi { swap(&lo, &hi) }
        if hi - lo <= max(abs(lo), abs(hi)) * 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        // Near ±Double.greatestFiniteMagnitude the span overflows: halve until it does not.
        while !(hi - lo).isFinite { lo /= 2; hi /= 2 }
        let parts = Double(max(1, targetTicks - 1))
        var rough = hi / parts - lo / parts
        if !(rough >= 1e-300) {
            // Spans below ~1e-300 (subnormal territory) cannot be ticked meaningfully: show a
            // unit interval around the data instead.
            let mid = lo / 2 + hi / 2
            lo = mid - 1; hi = mid + 1
            rough = hi / parts - lo / parts
        }
        let step = niceStep(rough)
        let first = (lo / step + 1e-9).rounded(.down)
        let last = (hi / step - 1e-9).rounded(.up)
        let decimals = max(0, -Int(floor(log10(step) + 1e-9)))
        let useExp = max(abs(first * step), abs(last * step)) >= 1e6 || step < 1e-3
        var ticks: [Tick] = []
        var i = first
        while i <= last + 0.5 {
            // i·step, then rounded to the step's decimals so 3·0.1 prints (and compares) as 0.3.
            var v = i * step
            if decimals <= 15 {
                let scale = pow(10, Double(decimals))
                v = (v * scale).rounded() / scale
            }
            if v == 0 { v = 0 } // no -0
            let label = useExp ? Markup.timesPowerOfTen(v, significant: 3)
                : String(format: "%.\(decimals)f", v)
            ticks.append(Tick(value: v, label: label))
            i += 1
        }
        return (ticks.first!.value, ticks.last!.value, step, ticks)
    }

    /// A log axis over the data itself, [minValue, maxValue] padded by 3 % of its decades on
    /// each side, with the decade ticks inside it (and 2×, 5× ticks when fewer than three
    /// decades fall inside). minValue > 0.
    public static func tightLog(minValue: Double, maxValue: Double) -> Axis {
        let full = logTicks(minValue: minValue, maxValue: maxValue)
        var lo = log10(max(minValue, .leastNormalMagnitude)), hi = log10(max(maxValue, minValue))
        if hi - lo < 0.3 { let mid = (lo + hi) / 2; lo = mid - 0.15; hi = mid + 0.15 }
        let pad = 0.03 * (hi - lo)
        let lower = pow(10, lo - pad), upper = pow(10, hi + pad)
        var ticks = full.ticks.filter { $0.value >= lower && $0.value <= upper }
        if ticks.filter({ [1.0, 10, 100].contains(($0.value / pow(10, floor(log10($0.value) + 1e-9))).rounded()) }).count < 3 {
            // Add the 2× and 5× ticks of every decade in range, labelled like the decade ones.
            let e0 = Int(floor(lo - pad)), e1 = Int(ceil(hi + pad))
            let plain = e0 >= -3 && e1 <= 4
            var extra: [Tick] = []
            for e in e0...e1 {
                for m in [2, 5] {
                    let v = Double(m) * pow(10, Double(e))
                    guard v >= lower && v <= upper else { continue }
                    let label = plain ? (e >= 0 ? String(Int(v.rounded())) : String(format: "%.\(-e)f", v))
                        : "\(m)·" + Markup.powerOfTen(e)
                    extra.append(Tick(value: v, label: label))
                }
            }
            for t in extra where !ticks.contains(where: { abs($0.value - t.value) <= 1e-9 * t.value }) { ticks.append(t) }
            ticks.sort { $0.value < $1.value }
        }
        return Axis(scale: .log, lower: lower, upper: upper, ticks: ticks)
    }

    /// Decade ticks for a log axis on [minValue, maxValue], minValue > 0.
    public static func logTicks(minValue: Double, maxValue: Double)
        -> (lower: Double, upper: Double, ticks: [Tick]) {
        var lo = minValue, hi = maxValue
        if !(lo > 0 && lo.isFinite) { lo = hi > 0 && hi.isFinite ? hi / 10 : 1 }
        if !(hi > 0 && hi.isFinite) { hi = lo * 10 }
        if lo > hi { swap(&lo, &hi) }
        let e0 = Int(floor(log10(lo) + 1e-9))
        var e1 = Int(ceil(log10(hi) - 1e-9))
        if e1 <= e0 { e1 = e0 + 1 }
        // At most ~8 labelled decades: step through exponents by 1, 2, 3, ...; the domain
        // ends on a labelled decade.
        let stride = max(1, Int((Double(e1 - e0) / 8).rounded(.up)))
        e1 = e0 + Int((Double(e1 - e0) / Double(stride)).rounded(.up)) * stride
        let decades = e1 - e0
        let plain = e0 >= -3 && e1 <= 4
        func label(_ mant: Int, _ e: Int) -> String {
            if plain {
                let v = Double(mant) * pow(10, Double(e))
                return e >= 0 ? String(Int(v.rounded())) : String(format: "%.\(-e)f", v)
            }
            return (mant == 1 ? "" : "\(mant)·") + Markup.powerOfTen(e)
        }
        var ticks: [Tick] = []
        var e = e0
        while e <= e1 {
            ticks.append(Tick(value: pow(10, Double(e)), label: label(1, e)))
            if decades <= 2 && e < e1 {
                ticks.append(Tick(value: 2 * pow(10, Double(e)), label: label(2, e)))
                ticks.append(Tick(value: 5 * pow(10, Double(e)), label: label(5, e)))
            }
            e += stride
        }
        return (pow(10, Double(e0)), pow(10, Double(e1)), ticks)
    }
}
