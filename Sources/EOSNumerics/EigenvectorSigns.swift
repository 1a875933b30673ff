/// Eigenvector sign conventions of docs/FORMAT.md.
///
/// At the first recorded step each eigenvector has its largest-magnitude entry positive
/// (`canonicalize`); afterwards v_i(t+1) is flipped when ⟨v_i(t), v_i(t+1)⟩ < 0 (`align`), so that
/// recorded series are continuous.
public enum EigenvectorSigns {
    /// Flips each row of `vectors` so that its largest-magnitude entry is positive
    /// (ties: the first such entry).
    public static func canonicalize(_ vectors: inout Matrix) {
        let n = vectors.cols
        for i in 0..<vectors.rows {
            var best = 0.0, bestIdx = 0
            for j in 0..<n where abs(vectors.data[i * n + j]) > best {
                best = abs(vectors.data[i * n + j]); bestIdx = j
            }
            if vectors.data[i * n + bestIdx] < 0 { negateRow(&vectors, i) }
        }
    }

    /// Flips row i of `current` when ⟨previous_i, current_i⟩ < 0. Rows beyond `previous.rows`
    /// are canonicalized instead. Returns the number of rows flipped.
    @discardableResult
    public static func align(_ current: inout Matrix, to previous: Matrix) -> Int {
        precondition(previous.cols == current.cols, "align: vector lengths differ")
        let n = current.cols
        var flips = 0
        for i in 0..<current.rows {
            if i < previous.rows {
                var d = 0.0
                for j in 0..<n { d += previous.data[i * n + j] * current.data[i * n + j] }
                if d < 0 { negateRow(&current, i); flips += 1 }
            } else {
                var single = current.rows(i..<(i + 1))
                canonicalize(&single)
                current.setRow(i, single.data)
            }
        }
        return flips
    }

    /// `align` when `previous` is given, else `canonicalize`.
    public static func apply(_ current: inout Matrix, previous: Matrix?) {
        if let p = previous { align(&current, to: p) } else { canonicalize(&current) }
    }

    private static func negateRow(_ m: inout Matrix, _ i: Int) {
        let n = m.cols
        for j in 0..<n { m.data[i * n + j] = -m.data[i * n + j] }
    }
}
