import EOSNumerics
import Foundation

/// Networks with c outputs (docs/MULTI-OUTPUT.md). Everything over the n·c outputs is flattened
/// sample-major, index i·c + a: F, Y, D, vectors v ∈ R^{nc}, and the rows/columns of
/// M = (2/n) J Jᵀ ∈ R^{nc×nc}, J = ∂vec(F)/∂θ.
///
/// Per-layer kernel: M = (2/n) Σ_l (Δ_l Δ_lᵀ) ∘ ((H_l H_lᵀ + β) ⊗ 1_c1_cᵀ), where Δ_l (nc × w_{l+1})
/// holds the per-output backprop signals δ_i^a = ∂f_a(x_i)/∂Z_l (row i·c + a) and H_l (n × w_l) the
/// layer inputs; for the output layer δ_i^a = s·e_a, so that term is (2/n) s² (H Hᵀ + β) ⊗ I_c
/// (M_A = (2/n) s² (H Hᵀ ⊗ I_c) without the bias).
extension ModelEvaluator {
    /// The dense M is formed only up to this n·c (two nc × nc float64 buffers: 2 × 128 MiB at 4096).
    /// Above it use `MultiOutputGram.apply` (matrix-free). At nc = 10⁴ one dense M is 800 MB and
    /// its two syrk terms for fc [200, 200] cost about 35 plain GD steps.
    public static let denseMultiOutputLimit = 4096

    /// Per-output signals Δ_l (nc × w_{l+1}, row i·c + a = ∂f_a(x_i)/∂Z_l, including s), l = 0..<L.
    /// Δ_{L−1} is the n·c × c matrix with s at (i·c + a, a); Δ_{l−1} = (Δ_l W_l) ∘ φ′(Z_{l−1}) per row
    /// (one gemm per layer, O(n c w_l w_{l+1})).
    func outputSignals(_ fw: Forward, _ theta: [Double]) -> [Matrix] {
        let net = network
        let L = net.layerCount
        let c = net.outputCount
        let s = net.outputScale
        let nc = n * c
        var g = [Matrix](repeating: Matrix(rows: 0, cols: 0), count: L)
        var last = Matrix(rows: nc, cols: c)
        for i in 0..<n { for a in 0..<c { last.data[(i * c + a) * c + a] = s } }
        g[L - 1] = last
        guard L >= 2 else { return g }
        for l in stride(from: L - 1, through: 1, by: -1) {
            let w = net.weight(l, theta)                      // w_{l+1} × w_l
            var prev: Matrix
            if l == L - 1 {
                // Row (i, a) = s · W_{L−1}[a, :] (no product needed).
                let m = w.cols
                prev = Matrix(rows: nc, cols: m)
                for i in 0..<n { for a in 0..<c { for k in 0..<m { prev.data[(i * c + a) * m + k] = s * w.data[a * m + k] } } }
            } else {
                prev = BLAS.gemm(g[l], w)                       // nc × w_l
            }
            let dp = fw.dphi[l - 1]                             // n × w_l
            let m = prev.cols
            prev.data.withUnsafeMutableBufferPointer { pp in
                dp.data.withUnsafeBufferPointer { pd in
                    for i in 0..<n { for a in 0..<c {
                        let r = (i * c + a) * m
                        for k in 0..<m { pp[r + k] *= pd[i * m + k] }
                    } }
                }
            }
            g[l - 1] = prev
        }
        return g
    }

    /// Everything a recorded step needs for c outputs, from one forward pass, the loss backward
    /// pass and the per-output signals: F, D (n·c), L = ‖D‖_F²/n, ∇L, ‖∇L‖, ‖A‖_F², ⟨D, F⟩_F, and
    /// the factors of M (`MultiOutputGram`: dense M, matrix-free M·V, λ_max(M_A)).
    /// For c = 1 the factors equal those of `evaluateDeferringGram` (but use that for c = 1).
    public func evaluateMultiOutput(_ theta: [Double]) throws -> (StepEvaluation, MultiOutputGram) {
        try network.checkParameters(theta)
        let net = network
        let fw = forward(theta)
        let d = zip(fw.outputs, Y).map { $0 - $1 }
        let nD = Double(n)
        let loss = BLAS.dot(d, d) / nD
        let cst = 2 * net.outputScale / nD
        let g = backward(fw, theta, upstream: d.map { cst * $0 })
        let grad = gradient(fw, g)
        let result = StepEvaluation(outputs: fw.outputs, residual: d, loss: loss, gradient: grad,
                                    gradientNorm: BLAS.nrm2(grad), outputNormSquared: net.outputNormSquared(theta),
                                    dtf: BLAS.dot(d, fw.outputs), gram: nil, outputLayerSharpness: nil)
        return (result, MultiOutputGram(evaluator: self, fw: fw, delta: outputSignals(fw, theta)))
    }

    /// The factors of M for c outputs at one θ: H_l (layer inputs) and Δ_l (per-output signals).
    /// Memory O(n·c·Σ w_l) plus, per `apply`, O(n·b·max w) for b vectors — never (nc)².
    /// One thread at a time (`apply` caches the kernels H_l H_lᵀ it uses); it may be handed to
    /// another thread, as the evaluator's caches are only read.
    public final class MultiOutputGram: @unchecked Sendable {
        let evaluator: ModelEvaluator
        let fw: Forward
        let delta: [Matrix]
        /// Full symmetric H_l H_lᵀ for the layers applied through the kernel (cached per θ).
        private var kernels: [Int: Matrix] = [:]
        /// Multiply-adds of the `apply` calls so far (for benchmarks).
        public private(set) var applyFlops: Double = 0

        init(evaluator: ModelEvaluator, fw: Forward, delta: [Matrix]) {
            self.evaluator = evaluator; self.fw = fw; self.delta = delta
        }

        /// Bytes held by the factors (H_l, Δ_l, cached kernels) of this θ.
        public var factorBytes: Double {
            Double(8 * (fw.h.reduce(0) { $0 + $1.data.count } + delta.reduce(0) { $0 + $1.data.count }
                        + kernels.values.reduce(0) { $0 + $1.data.count }))
        }

        /// n·c, the dimension of M.
        public var dimension: Int { evaluator.n * evaluator.network.outputCount }
        /// H_{L−1} (n × m), the output layer's input.
        public var outputLayerInput: Matrix { fw.h[evaluator.network.layerCount - 1] }

        /// The dense M (nc × nc). Throws when nc exceeds `limit` (default
        /// `ModelEvaluator.denseMultiOutputLimit`).
        public func denseGram(limit: Int = ModelEvaluator.denseMultiOutputLimit) throws -> Matrix {
            let ev = evaluator, net = ev.network
            let n = ev.n, c = net.outputCount, nc = n * c, L = net.layerCount
            guard nc <= limit else {
                throw ModelError.invalidDescription(source: "Gram", problem: "n·c = \(nc) exceeds the dense limit \(limit) (\(nc * nc * 8 / 1_000_000) MB per matrix); use the matrix-free product")
            }
            let beta: Double = net.bias ? 1 : 0
            let s2 = net.outputScale * net.outputScale
            var acc = Matrix(rows: nc, cols: nc)
            var dd = Matrix(rows: nc, cols: nc)
            var hh = Matrix(rows: n, cols: n)
            for l in 0..<L {
                let k: Matrix
                if l == 0 { k = ev.cachedXXT() } else { BLAS.syrk(fw.h[l], into: &hh, fullSymmetric: false); k = hh }
                let last = l == L - 1
                if !last { BLAS.syrk(delta[l], into: &dd, fullSymmetric: false) }
                acc.data.withUnsafeMutableBufferPointer { pa in
                    k.data.withUnsafeBufferPointer { pk in
                        dd.data.withUnsafeBufferPointer { pd in
                            for I in 0..<nc {
                                let i = I / c
                                if last {
                                    // s² δ_ab (K_ij + β): only J ≡ I (mod c).
                                    var J = I
                                    while J < nc { pa[I * nc + J] += s2 * (pk[i * n + J / c] + beta); J += c }
                                } else {
                                    for J in I..<nc { pa[I * nc + J] += pd[I * nc + J] * (pk[i * n + J / c] + beta) }
                                }
                            }
                        }
                    }
                }
            }
            BLAS.scale(&acc.data, 2 / Double(n))
            acc.symmetrizeFromUpper()
            return acc
        }

        /// How each hidden layer's term is applied (tests force one; default: fewer multiply-adds).
        enum Path { case cheapest, factored, kernel }

        /// M·V without forming M: `vectors` holds b vectors of length n·c as rows (b × nc); the
        /// result has the same layout. Per hidden layer l, with H = H_l (n × w_in), Δ = Δ_l
        /// (nc × w_out), V_i = the c × b block of sample i:
        ///   U_i = V_iᵀ Δ_i (b × w_out, n small gemms),  U = [U_1; …; U_n] as n × (b·w_out),
        ///   T = (H Hᵀ + β11ᵀ) U   — factored H (Hᵀ U) (2·n·b·w_out·w_in) or kernel K U (n²·b·w_out,
        ///                           K = H Hᵀ cached per θ), whichever is cheaper,
        ///   (M_l V)_i = Δ_i T_iᵀ (n small gemms);
        /// the output layer adds (2/n) s² ((H Hᵀ + β11ᵀ) ⊗ I_c) V by two thin gemms. Memory
        /// O(n·b·w_out) per layer. Equal to `denseGram()` · V up to round-off (tests: 1e-12).
        public func apply(to vectors: Matrix) -> Matrix { apply(to: vectors, path: .cheapest) }

        func apply(to vectors: Matrix, path: Path) -> Matrix {
            let ev = evaluator, net = ev.network
            let n = ev.n, c = net.outputCount, nc = n * c, L = net.layerCount
            precondition(vectors.cols == nc, "MultiOutputGram.apply: vectors of \(vectors.cols), expected \(nc)")
            let b = vectors.rows
            var out = Matrix(rows: b, cols: nc)
            if b == 0 { return out }
            let beta: Double = net.bias ? 1 : 0
            let s2 = net.outputScale * net.outputScale
            let nD = Double(n)
            // Output layer: Vp (n × b·c), Vp[i, v·c + a] = V[v, i·c + a]; R = H (Hᵀ Vp) + β 1 (1ᵀ Vp).
            do {
                let h = fw.h[L - 1]
                var vp = Matrix(rows: n, cols: b * c)
                for v in 0..<b { for i in 0..<n { for a in 0..<c { vp.data[i * b * c + v * c + a] = vectors.data[v * nc + i * c + a] } } }
                let z = BLAS.gemm(h, vp, transA: .transpose)          // m × b·c
                var r = BLAS.gemm(h, z)                                // n × b·c
                applyFlops += 2 * nD * Double(h.cols * b * c)
                if beta != 0 {
                    var colSum = [Double](repeating: 0, count: b * c)
                    for i in 0..<n { for q in 0..<(b * c) { colSum[q] += vp.data[i * b * c + q] } }
                    for i in 0..<n { for q in 0..<(b * c) { r.data[i * b * c + q] += beta * colSum[q] } }
                }
                for v in 0..<b { for i in 0..<n { for a in 0..<c { out.data[v * nc + i * c + a] = s2 * r.data[i * b * c + v * c + a] } } }
            }
            // Hidden layers.
            for l in 0..<(L - 1) {
                let h = fw.h[l], dl = delta[l]
                let wIn = h.cols, wOut = dl.cols
                let bw = b * wOut
                var u = Matrix(rows: n, cols: bw)
                vectors.data.withUnsafeBufferPointer { pv in
                    dl.data.withUnsafeBufferPointer { pd in
                        u.data.withUnsafeMutableBufferPointer { pu in
                            for i in 0..<n {
                                // U_i (b × w_out) = V_i (b × c, lda nc) · Δ_i (c × w_out).
                                BLAS.gemm(transA: .none, transB: .none, m: b, n: wOut, k: c, alpha: 1,
                                          a: pv.baseAddress! + i * c, lda: nc, b: pd.baseAddress! + i * c * wOut, ldb: wOut,
                                          beta: 0, c: pu.baseAddress! + i * bw, ldc: wOut)
                            }
                        }
                    }
                }
                let factoredCost = 2 * nD * Double(bw) * Double(wIn)
                let kernelCost = nD * nD * Double(bw)
                let useKernel: Bool
                switch path {
                case .cheapest: useKernel = kernelCost < factoredCost
                case .factored: useKernel = false
                case .kernel: useKernel = true
                }
                var t: Matrix
                if useKernel {
                    let k = kernel(l)
                    t = BLAS.gemm(k, u)                                // n × b·w_out
                    applyFlops += kernelCost
                } else {
                    let gmat = BLAS.gemm(h, u, transA: .transpose)     // w_in × b·w_out
                    t = BLAS.gemm(h, gmat)                             // n × b·w_out
                    applyFlops += factoredCost
                }
                if beta != 0 {
                    var colSum = [Double](repeating: 0, count: bw)
                    u.data.withUnsafeBufferPointer { pu in
                        for i in 0..<n { for q in 0..<bw { colSum[q] += pu[i * bw + q] } }
                    }
                    t.data.withUnsafeMutableBufferPointer { pt in
                        for i in 0..<n { for q in 0..<bw { pt[i * bw + q] += beta * colSum[q] } }
                    }
                }
                t.data.withUnsafeBufferPointer { pt in
                    dl.data.withUnsafeBufferPointer { pd in
                        out.data.withUnsafeMutableBufferPointer { po in
                            for i in 0..<n {
                                // out[:, i·c ..< i·c + c] (b × c, ldc nc) += T_i (b × w_out) · Δ_iᵀ (w_out × c).
                                BLAS.gemm(transA: .none, transB: .transpose, m: b, n: c, k: wOut, alpha: 1,
                                          a: pt.baseAddress! + i * bw, lda: wOut, b: pd.baseAddress! + i * c * wOut, ldb: wOut,
                                          beta: 1, c: po.baseAddress! + i * c, ldc: nc)
                            }
                        }
                    }
                }
                applyFlops += 2 * nD * Double(b * c * wOut)
            }
            BLAS.scale(&out.data, 2 / nD)
            return out
        }

        /// H_l H_lᵀ (n × n, full), cached.
        private func kernel(_ l: Int) -> Matrix {
            if let k = kernels[l] { return k }
            var k: Matrix
            if l == 0 { k = evaluator.cachedXXT() } else { k = Matrix(rows: evaluator.n, cols: evaluator.n); BLAS.syrk(fw.h[l], into: &k, fullSymmetric: false) }
            k.symmetrizeFromUpper()
            kernels[l] = k
            return k
        }

        /// An SPD preconditioner for the top-k solver from the output layer's exact term
        /// K_A = (2/n) s² ((H Hᵀ + β 1 1ᵀ) ⊗ I_c) (M ⪰ K_A): R ↦ (σ I − K_A)⁻¹ R with
        /// σ = `shift` · max(θ_1, λ_max(K_A)), applied through the eigen-decomposition of the
        /// (m+1) × (m+1) matrix H̃ᵀH̃, H̃ = [H, √β 1]: cost O(n·m·c) per vector (an M-product is
        /// O(n²·w) or O(n·w²) per vector). It changes the search directions only; the solver's
        /// residual test is unchanged.
        public func outputLayerPreconditioner(shift: Double = 1.05) throws -> (Matrix, [Double]) -> Matrix {
            let ev = evaluator, net = ev.network
            let n = ev.n, c = net.outputCount, nc = n * c
            let h = fw.h[net.layerCount - 1]
            let m = h.cols
            let beta: Double = net.bias ? 1 : 0
            let r = m + (beta != 0 ? 1 : 0)
            var ht = Matrix(rows: n, cols: r)
            for i in 0..<n { for j in 0..<m { ht.data[i * r + j] = h.data[i * m + j] }; if r > m { ht.data[i * r + m] = beta.squareRoot() } }
            let e = try SymmetricEigen.all(BLAS.syrk(ht, trans: .transpose))   // r × r, descending
            let scale = 2 * net.outputScale * net.outputScale / Double(n)
            let top = e.values.first.map { max($0, 0) } ?? 0
            let keep = e.values.prefix { $0 > 1e-12 * top }.count
            // U = H̃ Q Λ^{-1/2} (n × keep, orthonormal columns), μ = scale · Λ.
            var qs = Matrix(rows: r, cols: keep)
            for a in 0..<keep { let f = 1 / e.values[a].squareRoot(); for j in 0..<r { qs.data[j * keep + a] = e.vectors.data[a * r + j] * f } }
            let u = BLAS.gemm(ht, qs)
            let mu = (0..<keep).map { scale * e.values[$0] }
            let muMax = mu.first ?? 0
            return { res, theta in
                let sigma = shift * max(theta.first ?? 0, muMax) + 1e-300
                let b = res.rows
                // Vp (n × b·c) = the residual rows as n × c blocks side by side.
                var vp = Matrix(rows: n, cols: b * c)
                for v in 0..<b { for i in 0..<n { for a in 0..<c { vp.data[i * b * c + v * c + a] = res.data[v * nc + i * c + a] } } }
                var z = BLAS.gemm(u, vp, transA: .transpose)                      // keep × b·c
                for q in 0..<keep {
                    let f = 1 / (sigma - mu[q]) - 1 / sigma
                    for j in 0..<(b * c) { z.data[q * b * c + j] *= f }
                }
                var out = BLAS.gemm(u, z)                                         // n × b·c
                let inv = 1 / sigma
                for j in 0..<out.data.count { out.data[j] += inv * vp.data[j] }
                var o = Matrix(rows: b, cols: nc)
                for v in 0..<b { for i in 0..<n { for a in 0..<c { o.data[v * nc + i * c + a] = out.data[i * b * c + v * c + a] } } }
                return o
            }
        }

        /// λ_max(M_A) = (2/n) s² λ_max(H Hᵀ) (the Kronecker factor I_c does not change it).
        public func outputLayerSharpness() throws -> Double {
            let net = evaluator.network, n = evaluator.n
            let s = net.outputScale
            let h = fw.h[net.layerCount - 1]
            let small = h.cols <= n ? BLAS.syrk(h, trans: .transpose) : BLAS.syrk(h)
            let top = try SymmetricEigen.topK(small, k: 1).values[0]
            return 2 * s * s / Double(n) * top
        }
    }
}
