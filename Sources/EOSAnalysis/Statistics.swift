import Foundation

/// Summary of a sample of values. Non-finite values (NaN, ±Inf: undefined ratios) are counted in
/// `excluded` and left out of the statistics. Percentiles use linear interpolation between order
/// statistics (numpy's default `method="linear"`). All statistics are NaN when `count == 0`.
public struct Distribution: Codable, Equatable, Sendable {
    /// Number of finite values summarized.
    public var count: Int
    /// Number of non-finite values left out.
    public var excluded: Int
    public var min: Double
    public var median: Double
    public var p90: Double
    public var max: Double
    public var mean: Double

    public init(_ values: [Double]) {
        let finite = values.filter { $0.isFinite }.sorted()
        count = finite.count
        excluded = values.count - finite.count
        if finite.isEmpty {
            min = .nan; median = .nan; p90 = .nan; max = .nan; mean = .nan
        } else {
            min = finite[0]
            max = finite[finite.count - 1]
            median = percentile(sorted: finite, 0.5)
            p90 = percentile(sorted: finite, 0.9)
            mean = finite.reduce(0, +) / Double(finite.count)
        }
    }
}

/// q-quantile (0 ≤ q ≤ 1) of sorted values, numpy "linear" method.
func percentile(sorted s: [Double], _ q: Double) -> Double {
    let h = Double(s.count - 1) * q
    let lo = h.rounded(.down)
    let i = Int(lo)
    if i + 1 >= s.count { return s[s.count - 1] }
    let g = h - lo
    let a = s[i], b = s[i + 1]
    // Same lerp as numpy: symmetric form keeps the result exact at both ends.
    return g < 0.5 ? a + (b - a) * g : b - (b - a) * (1 - g)
}

/// How often a predicate held: `hits` of `total`, `rate = hits/total` (NaN when total == 0).
public struct Rate: Codable, Equatable, Sendable {
    public var hits: Int
    public var total: Int
    public var rate: Double

    public init(hits: Int, total: Int) {
        self.hits = hits
        self.total = total
        rate = total == 0 ? .nan : Double(hits) / Double(total)
    }

    init(_ flags: [Bool]) {
        self.init(hits: flags.reduce(0) { $0 + ($1 ? 1 : 0) }, total: flags.count)
    }
}

/// A statistic overall and restricted to each phase (by the phase of the row the value belongs to;
/// for pair quantities, the phase of the first row of the pair).
public struct PerPhase<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var all: Value
    public var phase1: Value
    public var phase2: Value
    public var phase3: Value
    public var phase4: Value

    public subscript(phase: Int8) -> Value {
        switch phase {
        case 1: return phase1
        case 2: return phase2
        case 3: return phase3
        default: return phase4
        }
    }
}

extension PerPhase where Value == Distribution {
    /// Values tagged with phases; rows with a nil value are skipped.
    init(values: [Double?], phases: [Int8]) {
        var buckets: [[Double]] = [[], [], [], [], []]
        for (i, v) in values.enumerated() {
            guard let v else { continue }
            buckets[0].append(v)
            buckets[Int(phases[i])].append(v)
        }
        self.init(all: Distribution(buckets[0]), phase1: Distribution(buckets[1]), phase2: Distribution(buckets[2]),
                  phase3: Distribution(buckets[3]), phase4: Distribution(buckets[4]))
    }
}

extension PerPhase where Value == Rate {
    /// Predicate outcomes tagged with phases; nil outcomes are skipped (not applicable).
    init(flags: [Bool?], phases: [Int8]) {
        var hits = [Int](repeating: 0, count: 5), total = [Int](repeating: 0, count: 5)
        for (i, f) in flags.enumerated() {
            guard let f else { continue }
            let p = Int(phases[i])
            total[0] += 1; total[p] += 1
            if f { hits[0] += 1; hits[p] += 1 }
        }
        self.init(all: Rate(hits: hits[0], total: total[0]), phase1: Rate(hits: hits[1], total: total[1]),
                  phase2: Rate(hits: hits[2], total: total[2]), phase3: Rate(hits: hits[3], total: total[3]),
                  phase4: Rate(hits: hits[4], total: total[4]))
    }
}
