import Foundation

/// Reduces long series to what a plot can show, without losing any extremum.
public enum Decimation {
    /// `Int(position)` clamped to 0..<count, without trapping on huge or non-finite values.
    @inline(__always)
    static func bucketIndex(_ position: Double, count: Int) -> Int {
        guard position.isFinite else { return position > 0 ? count - 1 : 0 }
        return Int(min(max(position, 0), Double(count - 1)))
    }

    /// Indices to keep from a line series so that at most ~4 points fall in each of `buckets`
    /// equal-width x-intervals: per bucket the first, the last, the minimum and the maximum
    /// (ties: the earliest), plus the first non-finite y per bucket (so gaps stay gaps), plus
    /// every index with `mustKeep[i] == true`. Returned ascending, without duplicates.
    ///
    /// - Parameters:
    ///   - xs: x values, ascending (steps). Non-finite x are dropped.
    ///   - ys: y values, same count as `xs` (precondition).
    ///   - mustKeep: empty, or one flag per point (precondition).
    ///   - buckets: number of x-intervals, e.g. half the plot width in pixels, so that the
    ///     result has ≤ ~2 points per pixel column plus the flagged ones.
    /// - Complexity: O(n) time, O(buckets + flagged) extra memory.
    public static func lineIndices(xs: [Double], ys: [Double], mustKeep: [Bool] = [], buckets: Int) -> [Int] {
        precondition(xs.count == ys.count, "xs and ys must have the same count")
        precondition(mustKeep.isEmpty || mustKeep.count == xs.count, "mustKeep must be empty or match xs")
        let n = xs.count
        let buckets = max(1, buckets)
        if n <= 4 * buckets {
            return (0..<n).filter { xs[$0].isFinite }
        }
        var lo = Double.infinity, hi = -Double.infinity
        for x in xs where x.isFinite { lo = min(lo, x); hi = max(hi, x) }
        guard lo.isFinite else { return [] }
        // (hi/b − lo/b) cannot overflow where (hi − lo)/b could.
        let width = hi > lo ? hi / Double(buckets) - lo / Double(buckets) : 1
        // Per bucket: first, last, argmin, argmax, first NaN.
        var first = [Int](repeating: -1, count: buckets)
        var last = [Int](repeating: -1, count: buckets)
        var argmin = [Int](repeating: -1, count: buckets)
        var argmax = [Int](repeating: -1, count: buckets)
        var gap = [Int](repeating: -1, count: buckets)
        var flagged: [Int] = []
        for i in 0..<n {
            let x = xs[i]
            guard x.isFinite else { continue }
            if !mustKeep.isEmpty && mustKeep[i] { flagged.append(i) }
            let b = bucketIndex((x - lo) / width, count: buckets)
            if first[b] < 0 { first[b] = i }
            last[b] = i
            let y = ys[i]
            if !y.isFinite {
                if gap[b] < 0 { gap[b] = i }
                continue
            }
            if argmin[b] < 0 || y < ys[argmin[b]] { argmin[b] = i }
            if argmax[b] < 0 || y > ys[argmax[b]] { argmax[b] = i }
        }
        var keep: [Int] = flagged
        keep.reserveCapacity(5 * buckets + flagged.count)
        for b in 0..<buckets {
            for i in [first[b], last[b], argmin[b], argmax[b], gap[b]] where i >= 0 { keep.append(i) }
        }
        keep.sort()
        var out: [Int] = []
        out.reserveCapacity(keep.count)
        for i in keep where out.last != i { out.append(i) }
        return out
    }

    /// Indices to keep from a scatter so that at most one point lands in each cell of a
    /// `cellsX × cellsY` grid over the points' bounding box (in the axis' own coordinates,
    /// `fx`/`fy` ∈ [0, 1]; nil = not drawable, dropped), plus every flagged point. Keeps the
    /// first point of each cell; the bounding box is preserved because the extreme points'
    /// cells are all kept. Returned ascending.
    /// - Complexity: O(n) time, O(cellsX·cellsY / 64) memory.
    public static func scatterIndices(fx: [Double?], fy: [Double?], mustKeep: [Bool] = [],
                                      cellsX: Int, cellsY: Int) -> [Int] {
        precondition(fx.count == fy.count, "fx and fy must have the same count")
        precondition(mustKeep.isEmpty || mustKeep.count == fx.count, "mustKeep must be empty or match fx")
        let cx = max(1, cellsX), cy = max(1, cellsY)
        var seen = [Bool](repeating: false, count: cx * cy)
        var out: [Int] = []
        for i in 0..<fx.count {
            guard let x = fx[i], let y = fy[i], x.isFinite, y.isFinite else { continue }
            let ix = bucketIndex(x * Double(cx), count: cx)
            let iy = bucketIndex(y * Double(cy), count: cy)
            let cell = iy * cx + ix
            if !seen[cell] || (!mustKeep.isEmpty && mustKeep[i]) {
                seen[cell] = true
                out.append(i)
            }
        }
        return out
    }
}
