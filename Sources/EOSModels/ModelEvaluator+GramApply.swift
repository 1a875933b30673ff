import EOSNumerics
import Foundation

extension ModelEvaluator {
    /// M and λ_max(M_A) of one evaluation, computed on demand from its forward/backward caches.
    /// Safe to use on another thread than the evaluator's (it only reads the caches and the
    /// evaluator's constant data; the X Xᵀ cache is built under a lock).
    public struct DeferredGram: @unchecked Sendable {
        let evaluator: ModelEvaluator
        let fw: Forward
        let delta: [Matrix]
        /// The exact M = (2/n) J Jᵀ (n × n).
        public func gram() -> Matrix { evaluator.gram(fw, delta) }
        /// M·V without forming M (`count` vectors as rows of `vectors`, n each; same layout out):
        /// per layer the cheaper of a factored product and a dense syrk term (see
        /// `ModelEvaluator.applyGram`). For a few vectors this costs well under `gram()`.
        public func apply(to vectors: [Double], count: Int) -> [Double] {
            evaluator.applyGram(fw, delta, to: vectors, count: count)
        }
        /// λ_max(M_A), M_A = (2/n) s² H_{L-1} H_{L-1}ᵀ.
        public func outputLayerSharpness() throws -> Double {
            let net = evaluator.network, n = evaluator.n
            let s = net.outputScale
            let h = fw.h[net.layerCount - 1]
            let small = h.cols <= n ? BLAS.syrk(h, trans: .transpose) : BLAS.syrk(h)
            let top = try SymmetricEigen.topK(small, k: 1).values[0]
            return 2 * s * s / Double(n) * top
        }
    }

    /// How `applyGram` applies each layer's term (tests force one path; users get the cheapest).
    enum GramApplyStrategy { case cheapest, factored, dense }

    /// M·V without forming M (rows of `vectors` are the count vectors; same layout out).
    ///
    /// Per layer l the term [(Δ_lΔ_lᵀ) ∘ (H_lH_lᵀ + β)] v is applied the cheaper of two exact ways,
    /// by multiply-add count:
    /// - factored, 2·n·w_l·w_{l+1} per vector: C = Δ_lᵀ diag(v) H_l, out_i = Σ_a Δ_ia (H_l Cᵀ)_ia,
    ///   plus β Δ_l(Δ_lᵀ v) — cheap for narrow layers and the output layer, and for few vectors;
    /// - dense, n²·w_{l+1}/2 (+ n²·w_l/2 for l > 0; X Xᵀ is cached): the layer's n × n term by
    ///   syrk, summed with the other dense layers into one upper triangle applied by `dsymm`.
    /// Equal to `gram()` times V up to round-off (tests check 1e-12 relative).
    func applyGram(_ fw: Forward, _ delta: [Matrix], to vectors: [Double], count: Int,
                   strategy: GramApplyStrategy = .cheapest) -> [Double] {
        precondition(vectors.count == count * n, "applyGram: \(vectors.count) values for \(count) vectors of \(n)")
        let net = network
        let L = net.layerCount
        let beta: Double = net.bias ? 1 : 0
        var out = [Double](repeating: 0, count: count * n)
        if count == 0 { return out }
        let nD = Double(n)
        // The dense layers' terms summed (upper triangle; a pooled buffer, the first term assigned).
        var dense: Matrix? = nil
        var hh: Matrix? = nil, dd: Matrix? = nil
        defer { for b in [hh, dd, dense] { if let b { returnBuffer(b) } } }
        for l in 0..<L {
            let h = fw.h[l], dl = delta[l]
            let wIn = Double(h.cols), wOut = Double(dl.cols)
            let factoredCost = Double(count) * 2 * nD * wIn * wOut
            let denseCost = nD * nD * wOut / 2 + (l > 0 ? nD * nD * wIn / 2 : 0) + (dense == nil ? nD * nD * Double(count) : 0)
            let factored: Bool
            switch strategy {
            case .cheapest: factored = factoredCost <= denseCost
            case .factored: factored = true
            case .dense: factored = false
            }
            if factored {
                // All vectors at once: VH = [v_1∘H, v_2∘H, …] (n × c·w_in), C = Δᵀ VH, then
                // T = H [C_1ᵀ | C_2ᵀ | …] (n × c·w_out) and out_v,i = Σ_a Δ_ia T_i,(v,a).
                let wIn = h.cols, wOut = dl.cols
                var vh = Matrix(rows: n, cols: count * wIn)
                vectors.withUnsafeBufferPointer { pv in
                    h.data.withUnsafeBufferPointer { ph in
                        vh.data.withUnsafeMutableBufferPointer { po in
                            let w = count * wIn
                            for i in 0..<n { for v in 0..<count {
                                let x = pv[v * n + i]
                                for j in 0..<wIn { po[i * w + v * wIn + j] = x * ph[i * wIn + j] }
                            } }
                        }
                    }
                }
                let c = BLAS.gemm(dl, vh, transA: .transpose)                     // w_out × c·w_in
                var ct = Matrix(rows: wIn, cols: count * wOut)
                for v in 0..<count { for a in 0..<wOut { for b in 0..<wIn {
                    ct.data[b * count * wOut + v * wOut + a] = c.data[a * count * wIn + v * wIn + b]
                } } }
                let t = BLAS.gemm(h, ct)                                          // n × c·w_out
                var bias = Matrix(rows: n, cols: count)
                if beta != 0 {
                    let vm = Matrix(rows: count, cols: n, data: vectors)
                    let dtv = BLAS.gemm(dl, vm, transA: .transpose, transB: .transpose)   // w_out × c
                    bias = BLAS.gemm(dl, dtv)                                               // n × c
                }
                out.withUnsafeMutableBufferPointer { po in
                    t.data.withUnsafeBufferPointer { pt in
                        dl.data.withUnsafeBufferPointer { pd in
                            bias.data.withUnsafeBufferPointer { pb in
                                let w = count * wOut
                                for i in 0..<n { for v in 0..<count {
                                    var s = 0.0
                                    for a in 0..<wOut { s += pd[i * wOut + a] * pt[i * w + v * wOut + a] }
                                    if beta != 0 { s += beta * pb[i * count + v] }
                                    po[v * n + i] += s
                                } }
                            }
                        }
                    }
                }
            } else {
                if dd == nil { dd = takeBuffer() }
                let g: Matrix
                if l == 0 { g = cachedXXT() } else {
                    if hh == nil { hh = takeBuffer() }
                    BLAS.syrk(h, into: &hh!, fullSymmetric: false)
                    g = hh!
                }
                BLAS.syrk(dl, into: &dd!, fullSymmetric: false)
                let first = dense == nil
                if first { dense = takeBuffer() }
                dense!.data.withUnsafeMutableBufferPointer { pa in
                    g.data.withUnsafeBufferPointer { pg in
                        dd!.data.withUnsafeBufferPointer { pd in
                            if first {
                                for i in 0..<n { for j in i..<n { pa[i * n + j] = pd[i * n + j] * (pg[i * n + j] + beta) } }
                            } else {
                                for i in 0..<n { for j in i..<n { pa[i * n + j] += pd[i * n + j] * (pg[i * n + j] + beta) } }
                            }
                        }
                    }
                }
            }
        }
        if let m = dense {
            var res = Matrix(rows: count, cols: n, data: out)
            BLAS.symmRight(upper: m, Matrix(rows: count, cols: n, data: vectors), beta: 1, into: &res)
            out = res.data
        }
        BLAS.scale(&out, 2 / nD)
        return out
    }
}
