import Foundation
import HDF5Kit

/// Semantic checks of the format-1.1 series (named checks `r_prime_chains` and `above_threshold`
/// of the schema):
///
/// - `r_prime` equals `r_prime_from_start` before the first restart row (to 1e-12 relative to the
///   row's largest entry), and at every restart row (Λ > 2/η and the row is the first or the
///   previous row has Λ ≤ 2/η) equals R = (I − v1v1ᵀ)D to 1e-10 relative to max|D|;
/// - `eigenvalues_above_threshold` holds, per row, min(count, capacity) values strictly above
///   `/run@eigenvalue_threshold`, descending, then NaN only; counts are ≥ 0; the attribute exists.
extension Run {
    /// `/run@gram_definition`, when present, is the one `/run@loss_convention` implies (absent
    /// convention: mean_squared_error).
    mutating func checkConventionAttributes() {
        guard let run = try? file.group("/run"), run.hasAttribute("gram_definition"),
              let def = try? run.stringAttribute("gram_definition") else { return }
        let name = run.hasAttribute("loss_convention") ? (try? run.stringAttribute("loss_convention")) : LossConvention.meanSquaredError.rawValue
        guard let name, let convention = LossConvention(rawValue: name) else { return }  // bad values: checkAttributes
        if def != convention.gramDefinition {
            problem("/run@gram_definition", "is '\(def)', but /run@loss_convention '\(name)' means '\(convention.gramDefinition)'")
        }
    }

    /// Absolute-or-relative closeness of two rows: max|a − b| ≤ tol · max(scale, tiny).
    static func maxAbsDiff(_ a: ArraySlice<Double>, _ b: [Double]) -> Double {
        var m = 0.0
        for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
        return m
    }

    mutating func checkProductChains() {
        let rp = "/trajectory/r_prime", rs = "/trajectory/r_prime_from_start"
        // c > 1 (format 2.0): [step, sample, output] products on vec(D), eigenvectors [step, j, sample, output].
        let c1 = outputs > 1 ? 1 : 0
        guard let (dp, sp0) = plausible(rp, rank: 2 + c1), let (ds, ss) = plausible(rs, rank: 2 + c1), sp0 == ss,
              let (dd, sd0) = plausible("/trajectory/residual", rank: 2 + c1), sd0 == sp0 || sd0.dropFirst() == sp0.dropFirst(),
              let (dv, sv0) = plausible("/trajectory/eigenvectors", rank: 3 + c1), Array(sv0.dropFirst(2)) == Array(sp0.dropFirst()),
              let (dl, sl) = plausible("/trajectory/sharpness", rank: 1),
              let run = try? file.group("/run"), let eta = try? run.scalarAttribute("learning_rate", as: Double.self),
              eta > 0, eta.isFinite else { return }
        let sp = [sp0[0], sp0.dropFirst().reduce(1, *)], sd = [sd0[0]], sv = [sv0[0], sv0[1]]
        let n = sp[1], k = sv[1]
        let rows = min(sp[0], sd[0], sv[0], sl[0])
        guard rows > 0, n > 0, k > 0, let lambda = try? dl.readRows(0..<rows, as: Double.self) else { return }
        let threshold = 2 / eta
        var beforeFirst = true
        var badEqual: (row: Int, diff: Double)?, badRestart: (row: Int, diff: Double)?
        var nEqual = 0, nRestart = 0
        let block = max(1, v.blockBytes / (8 * n * (k + 3)))
        var start = 0
        while start < rows {
            let end = min(rows, start + block)
            guard let p = try? dp.readRows(start..<end, as: Double.self), let s = try? ds.readRows(start..<end, as: Double.self),
                  let d = try? dd.readRows(start..<end, as: Double.self),
                  let vv = try? dv.readRows(start..<end, as: Double.self) else { return }
            for i in start..<end {
                let r = i - start
                let restart = lambda[i] > threshold && (i == 0 || lambda[i - 1] <= threshold)
                if restart { beforeFirst = false }
                let pRow = p[(r * n)..<((r + 1) * n)]
                if beforeFirst {
                    let sRow = Array(s[(r * n)..<((r + 1) * n)])
                    let scale = sRow.map(abs).max() ?? 0
                    let diff = Self.maxAbsDiff(pRow, sRow)
                    if !(diff <= 1e-12 * max(scale, .leastNormalMagnitude)) && diff != 0 {
                        nEqual += 1
                        if badEqual == nil { badEqual = (i, diff) }
                    }
                } else if restart {
                    let dRow = Array(d[(r * n)..<((r + 1) * n)])
                    let v1 = Array(vv[(r * k * n)..<(r * k * n + n)])
                    var dot = 0.0
                    for j in 0..<n { dot += v1[j] * dRow[j] }
                    let rRow = (0..<n).map { dRow[$0] - dot * v1[$0] }
                    let scale = dRow.map(abs).max() ?? 0
                    let diff = Self.maxAbsDiff(pRow, rRow)
                    if !(diff <= 1e-10 * max(scale, .leastNormalMagnitude)) && diff != 0 {
                        nRestart += 1
                        if badRestart == nil { badRestart = (i, diff) }
                    }
                }
            }
            start = end
        }
        if let b = badEqual {
            problem(rp, "differs from r_prime_from_start before the first restart in \(nEqual) rows, first row \(b.row)\(stepNote(rp, b.row)) (max |difference| \(b.diff))")
        }
        if let b = badRestart {
            problem(rp, "is not (I - v1 v1^T) D at \(nRestart) restart rows (Lambda > 2/eta after a row at or below it), first row \(b.row)\(stepNote(rp, b.row)) (max |difference| \(b.diff))")
        }
    }

    mutating func checkAboveThreshold() {
        let vp = "/trajectory/eigenvalues_above_threshold", cp = "/trajectory/eigenvalue_count_above_threshold"
        guard file.kind(of: vp) == .dataset else { return }
        guard let run = try? file.group("/run"), run.hasAttribute("eigenvalue_threshold"),
              let x = try? run.scalarAttribute("eigenvalue_threshold", as: Double.self) else {
            problem("/run@eigenvalue_threshold", "missing (required when \(vp) exists)")
            return
        }
        guard let (dv, sv) = plausible(vp, rank: 2), file.kind(of: cp) == .dataset, let dc = try? file.dataset(cp),
              let sc = try? dc.shape(), sc.count == 1 else { return }
        let rows = min(sv[0], sc[0]), a = sv[1]
        guard rows > 0, a > 0, let counts = try? dc.readRows(0..<rows, as: Int64.self),
              let vals = try? dv.readRows(0..<rows, as: Double.self) else { return }
        var bad = 0
        var first: (Int, String)?
        for i in 0..<rows {
            let c = counts[i]
            let row = vals[(i * a)..<((i + 1) * a)]
            var why: String?
            if c < 0 {
                why = "count \(c) is negative"
            } else {
                let stored = Int(min(c, Int64(a)))
                let head = Array(row.prefix(stored)), tail = row.dropFirst(stored)
                if !head.allSatisfy({ $0.isFinite && $0 > x }) {
                    why = "the first \(stored) values (the count \(c), at most \(a)) are not all finite and above \(x)"
                } else if zip(head, head.dropFirst()).contains(where: { $0 < $1 }) {
                    why = "values not descending"
                } else if !tail.allSatisfy({ $0.isNaN }) {
                    why = "values after the first \(stored) are not NaN"
                }
            }
            if let why {
                bad += 1
                if first == nil { first = (i, why) }
            }
        }
        if let f = first {
            problem(vp, "inconsistent with \(cp) and /run@eigenvalue_threshold in \(bad) rows, first row \(f.0)\(stepNote(vp, f.0)): \(f.1)")
        }
    }
}
