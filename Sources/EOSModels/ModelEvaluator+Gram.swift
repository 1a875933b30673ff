import EOSNumerics
import Foundation

extension ModelEvaluator {
    /// The upper triangle of X Xᵀ, computed once (under the lock: `DeferredGram`s may ask from
    /// another thread).
    func cachedXXT() -> Matrix {
        xxtLock.lock(); defer { xxtLock.unlock() }
        if let c = xxt { return c }
        var c = Matrix(rows: n, cols: n)
        BLAS.syrk(X, into: &c, fullSymmetric: false)
        xxt = c
        return c
    }

    func gram(_ fw: Forward, _ delta: [Matrix]) -> Matrix {
        GramWork(evaluator: self, fw: fw, delta: delta).gram()
    }

    /// Sums the per-layer terms into M (upper triangle, then mirrored):
    /// M = (2/n) Σ_l (Δ_l Δ_lᵀ) ∘ (H_l H_lᵀ + β), in layer order, with the last layer's Hadamard
    /// factor the constant s². `hh[l]` (l ≥ 1) and `dd[l]` (l < L−1) are upper triangles.
    func combineGram(hh: [Matrix?], dd: [Matrix?]) -> Matrix {
        let net = network
        let L = net.layerCount
        let s = net.outputScale
        let beta: Double = net.bias ? 1 : 0
        var acc = Matrix(rows: n, cols: n)
        // H_l H_lᵀ (upper triangle): the cached X Xᵀ for l = 0 (read in place, never copied).
        let h: [Matrix] = (0..<L).map { $0 == 0 ? cachedXXT() : hh[$0]! }
        let s2 = s * s
        let scale = 2 / Double(n)
        // One pass over the upper triangle, row by row: the row's sum is built in a row buffer
        // layer after layer (same order of additions as summing whole layers), then scaled once.
        var row = [Double](repeating: 0, count: n)
        acc.data.withUnsafeMutableBufferPointer { pa in
            row.withUnsafeMutableBufferPointer { pr in
                for i in 0..<n {
                    for j in i..<n { pr[j] = 0 }
                    for l in 0..<L {
                        h[l].data.withUnsafeBufferPointer { ph in
                            if l == L - 1 {
                                // Δ_{L-1} = s·1: the Hadamard factor is the constant s².
                                for j in i..<n { pr[j] += s2 * (ph[i * n + j] + beta) }
                            } else {
                                dd[l]!.data.withUnsafeBufferPointer { pd in
                                    for j in i..<n { pr[j] += pd[i * n + j] * (ph[i * n + j] + beta) }
                                }
                            }
                        }
                    }
                    for j in i..<n { pa[i * n + j] = pr[j] * scale }
                }
            }
        }
        acc.symmetrizeFromUpper()
        return acc
    }
}
