import EOSNumerics

// Small dense helpers used by the analyzer. Vectors are contiguous slices of the T×n / T×k×n
// row-major arrays; all loops are O(n). Matrix products go through OpenBLAS.

@inlinable func dot(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
    precondition(a.count == b.count, "dot: length mismatch")
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            var s = 0.0
            for i in 0..<pa.count { s += pa[i] * pb[i] }
            return s
        }
    }
}

@inlinable func norm2(_ a: ArraySlice<Double>) -> Double {
    dot(a, a).squareRoot()
}

/// ‖a − b‖.
@inlinable func distance(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
    precondition(a.count == b.count, "distance: length mismatch")
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            var s = 0.0
            for i in 0..<pa.count { let d = pa[i] - pb[i]; s += d * d }
            return s.squareRoot()
        }
    }
}

/// out = V Mᵀ for `count` vectors stored as the rows of `v` (count×n) and M n×n row-major,
/// i.e. each output row is M applied to the matching input row. O(count n²).
func applyDense(_ m: [Double], n: Int, to v: [Double], count: Int) -> [Double] {
    precondition(m.count == n * n && v.count == count * n, "applyDense: shape mismatch")
    let mm = Matrix(rows: n, cols: n, data: m)
    if count == 1 { return BLAS.gemv(mm, v) }
    return BLAS.gemm(Matrix(rows: count, cols: n, data: v), mm, transB: .transpose).data
}
