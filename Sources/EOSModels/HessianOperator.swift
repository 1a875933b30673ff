import EOSNumerics

/// Exact Hessian-vector products v ↦ ∇²L(θ) v at a fixed θ (Pearlmutter's R-operator,
/// forward-over-reverse), including the second-order term Σ_i D_i ∇²f_i. Caches the forward and
/// backward passes at θ; each `apply` costs about two gradient evaluations. Works for networks
/// with c outputs (L = ‖D‖_F²/n, the second-order term Σ_{i,a} D_ia ∇²f_a(x_i)).
public final class HessianOperator {
    public let evaluator: ModelEvaluator
    public let theta: [Double]
    private let fw: ModelEvaluator.Forward
    private let g: [Matrix]          // loss signals g_l = ∂L/∂Z_l
    private let G: [Matrix]          // G_l = g_{l+1} W_{l+1} (before φ′), index l = 0..L-2
    private let d2phi: [Matrix]      // φ″(Z_l), l = 0..L-2
    private let weights: [Matrix]
    /// p.
    public var dimension: Int { evaluator.network.parameterCount }

    public init(evaluator: ModelEvaluator, theta: [Double]) throws {
        try evaluator.network.checkParameters(theta)
        self.evaluator = evaluator
        self.theta = theta
        let net = evaluator.network
        let L = net.layerCount
        let n = evaluator.n
        let fw = evaluator.forward(theta)
        self.fw = fw
        let d = zip(fw.outputs, evaluator.Y).map { $0 - $1 }
        let c = 2 * net.outputScale / Double(n)
        let g = evaluator.backward(fw, theta, upstream: d.map { c * $0 })
        self.g = g
        let weights = (0..<L).map { net.weight($0, theta) }
        self.weights = weights
        var G: [Matrix] = [], d2: [Matrix] = []
        for l in 0..<max(L - 1, 0) {
            G.append(BLAS.gemm(g[l + 1], weights[l + 1]))
            var m = fw.z[l]
            for i in 0..<m.data.count { m.data[i] = net.activation.evaluate(m.data[i]).d2 }
            d2.append(m)
        }
        self.G = G; self.d2phi = d2
    }

    /// ∇²L(θ) v (p). Precondition: v.count == p.
    public func apply(_ v: [Double]) -> [Double] {
        let net = evaluator.network
        precondition(v.count == net.parameterCount, "HessianOperator: vector length")
        let L = net.layerCount
        let n = evaluator.n
        let s = net.outputScale
        // R-forward.
        var rz: [Matrix] = [], rh: [Matrix?] = [nil]
        for l in 0..<L {
            let o = net.sizes[l + 1], iw = net.sizes[l]
            let V = Matrix(rows: o, cols: iw, data: Array(v[net.weightOffsets[l]..<(net.weightOffsets[l] + o * iw)]))
            var r = Matrix(rows: n, cols: o)
            if net.bias {
                let cb = Array(v[net.biasOffsets[l]..<(net.biasOffsets[l] + o)])
                for i in 0..<n { for j in 0..<o { r.data[i * o + j] = cb[j] } }
            }
            BLAS.gemm(fw.h[l], V, transB: .transpose, beta: 1, into: &r)
            if let prev = rh[l] { BLAS.gemm(prev, weights[l], transB: .transpose, beta: 1, into: &r) }
            rz.append(r)
            if l < L - 1 {
                var nh = r
                let dp = fw.dphi[l]
                for i in 0..<nh.data.count { nh.data[i] *= dp.data[i] }
                rh.append(nh)
            }
        }
        // R-backward.
        var out = [Double](repeating: 0, count: net.parameterCount)
        let c = 2 * s * s / Double(n)          // Rg_{L-1} = s (2/n) RF, RF = s RZ_{L-1}
        // n × c (c outputs: L = ‖D‖_F²/n, so the Gauss–Newton part is (2/n) s² RZ per output).
        var rg = Matrix(rows: n, cols: net.outputCount, data: rz[L - 1].data.map { c * $0 })
        let ones = [Double](repeating: 1, count: n)
        for l in stride(from: L - 1, through: 0, by: -1) {
            var hw = BLAS.gemm(rg, fw.h[l], transA: .transpose)
            if let r = rh[l] { BLAS.gemm(g[l], r, transA: .transpose, beta: 1, into: &hw) }
            out.replaceSubrange(net.weightOffsets[l]..<(net.weightOffsets[l] + hw.data.count), with: hw.data)
            if net.bias {
                let hb = BLAS.gemv(rg, ones, trans: .transpose)
                out.replaceSubrange(net.biasOffsets[l]..<(net.biasOffsets[l] + hb.count), with: hb)
            }
            if l > 0 {
                let o = net.sizes[l + 1], iw = net.sizes[l]
                let V = Matrix(rows: o, cols: iw, data: Array(v[net.weightOffsets[l]..<(net.weightOffsets[l] + o * iw)]))
                var rG = BLAS.gemm(rg, weights[l])
                BLAS.gemm(g[l], V, beta: 1, into: &rG)
                let dp = fw.dphi[l - 1], d2 = d2phi[l - 1], Gm = G[l - 1], rzp = rz[l - 1]
                for i in 0..<rG.data.count {
                    rG.data[i] = rG.data[i] * dp.data[i] + Gm.data[i] * d2.data[i] * rzp.data[i]
                }
                rg = rG
            }
        }
        return out
    }

    /// λ_max(∇²L(θ)) by Lanczos with full reorthogonalization on exact HVPs.
    public func sharpness(maxIterations: Int = 100, tolerance: Double = 1e-8, seed: UInt64 = 1) throws -> LanczosResult {
        try Lanczos.largest(dimension: dimension, maxIterations: maxIterations, tolerance: tolerance, seed: seed) { self.apply($0) }
    }
}
