/// The invariants every reader and writer of a recording checks, in one place: steps strictly
/// increasing, a finite positive step size, series of equal lengths, and sizes computed without
/// overflow. Each caller keeps its own error type and message; only the predicates live here.
public enum SeriesInvariants {
    /// The first index `i ≥ 1` with `steps[i] <= steps[i - 1]`, or nil when strictly increasing.
    public static func firstNonIncreasingIndex<C: RandomAccessCollection>(_ steps: C) -> Int?
    where C.Element: Comparable, C.Index == Int {
        var i = steps.startIndex + 1
        while i < steps.endIndex {
            if steps[i] <= steps[i - 1] { return i - steps.startIndex }
            i += 1
        }
        return nil
    }

    /// Whether `next` may follow `last` in a strictly increasing step series.
    public static func isIncreasing(_ last: Int64?, then next: Int64) -> Bool {
        last.map { next > $0 } ?? true
    }

    /// A usable GD step size: finite and > 0.
    public static func isValidLearningRate(_ eta: Double) -> Bool { eta.isFinite && eta > 0 }

    /// Whether every count is the same (true for none).
    public static func haveEqualLengths(_ counts: [Int]) -> Bool {
        guard let first = counts.first else { return true }
        return counts.allSatisfy { $0 == first }
    }

    /// The product of `factors`, or nil when one is negative or the product overflows `Int`.
    public static func checkedProduct(_ factors: [Int]) -> Int? {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, o) = total.multipliedReportingOverflow(by: f)
            if o { return nil }
            total = p
        }
        return total
    }
}
