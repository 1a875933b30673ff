import EOSNumerics
import Foundation

/// What `ModelEvaluator.evaluate` should compute beyond loss and gradient.
public struct EvaluationOptions: Sendable {
    /// The exact Gram M = (2/n) J Jᵀ (n × n).
    public var gram: Bool = true
    /// λ_max(M_A) of the output-layer part M_A = (2/n) s² H Hᵀ.
    public var outputLayerSharpness: Bool = true
    public init(gram: Bool = true, outputLayerSharpness: Bool = true) {
        self.gram = gram; self.outputLayerSharpness = outputLayerSharpness
    }
}

/// Everything a recorded step needs at θ(t), from one forward and one backward pass.
public struct StepEvaluation: Sendable {
    /// F (n).
    public var outputs: [Double]
    /// D = F − Y (n).
    public var residual: [Double]
    /// L = ‖D‖²/n.
    public var loss: Double
    /// ∇L (p).
    public var gradient: [Double]
    /// ‖∇L‖.
    public var gradientNorm: Double
    /// ‖A‖² (output layer weights, bias excluded).
    public var outputNormSquared: Double
    /// DᵀF.
    public var dtf: Double
    /// M = (2/n) J Jᵀ when requested.
    public var gram: Matrix?
    /// λ_max(M_A) when requested.
    public var outputLayerSharpness: Double?
}

/// Loss, gradient, plain GD step (the cheap path).
public struct GradientEvaluation: Sendable {
    public var outputs: [Double]
    public var residual: [Double]
    public var loss: Double
    public var gradient: [Double]
}

/// Exact evaluations of a `Network` on a fixed data set (X n × d, Y n).
///
/// Holds constant caches (XXᵀ for the first layer's Gram term). Not thread-safe: one per thread.
/// Costs per call with widths w_l: forward and backward O(n Σ w_l w_{l-1}) (BLAS gemm); the Gram
/// adds O(n² Σ_{l≥1} w_l) (BLAS syrk) and never forms the p-sized Jacobian.
public final class ModelEvaluator {
    public let network: Network
    public let X: Matrix
    public let Y: [Double]
    public var n: Int { X.rows }
    private var xxt: Matrix?   // upper triangle of X Xᵀ (+1 with bias)
    private let xxtLock = NSLock()
    /// Reused n × n buffers (syrk outputs): no fresh 8n²-byte allocations and page faults per
    /// step. Guarded by `xxtLock`; any thread may take and return them.
    private var pool: [Matrix] = []

    func takeBuffer() -> Matrix {
        xxtLock.lock(); defer { xxtLock.unlock() }
        return pool.popLast() ?? Matrix(rows: n, cols: n)
    }

    func returnBuffer(_ m: Matrix) {
        xxtLock.lock(); defer { xxtLock.unlock() }
        if pool.count < 16 && m.rows == n && m.cols == n { pool.append(m) }
    }

    /// - Throws: `ModelError.shapeMismatch` when X has the wrong width or Y the wrong length,
    ///   `ModelError.nonFinite` for NaN/Inf data.
    public init(network: Network, X: Matrix, Y: [Double]) throws {
        BLAS.pinThreads()
        guard X.cols == network.sizes[0] else {
            throw ModelError.shapeMismatch(object: "data X", expected: "\(network.sizes[0]) features (model input_dim)", got: "\(X.cols)")
        }
        guard Y.count == X.rows else { throw ModelError.shapeMismatch(object: "data Y", expected: "\(X.rows) targets", got: "\(Y.count)") }
        guard X.rows >= 1 else { throw ModelError.shapeMismatch(object: "data X", expected: "at least one sample", got: "0") }
        guard X.isFinite else { throw ModelError.nonFinite(object: "data X") }
        guard Y.allSatisfy({ $0.isFinite }) else { throw ModelError.nonFinite(object: "data Y") }
        self.network = network; self.X = X; self.Y = Y
    }

    // MARK: forward / backward

    /// Forward caches: Z_l (pre-activations, n × w_{l+1}), H_l (layer inputs, H_0 = X), φ′(Z_l).
    struct Forward {
        var z: [Matrix]
        var h: [Matrix]
        var dphi: [Matrix]
        var outputs: [Double]
    }

    func forward(_ theta: [Double]) -> Forward {
        let net = network
        let L = net.layerCount
        var z: [Matrix] = [], h: [Matrix] = [X], dphi: [Matrix] = []
        for l in 0..<L {
            let w = net.weight(l, theta)
            var zl = Matrix(rows: n, cols: net.sizes[l + 1])
            if net.bias {
                let b = net.biasVector(l, theta)
                let o = net.sizes[l + 1]
                for i in 0..<n { for j in 0..<o { zl.data[i * o + j] = b[j] } }
            }
            let beta: Double = net.bias ? 1 : 0
            if splitLayers.contains(l) {
                Self.forwardProductInHalves(h[l], w, beta: beta, into: &zl)
            } else {
                BLAS.gemm(h[l], w, transB: .transpose, beta: beta, into: &zl)
            }
            z.append(zl)
            if l < L - 1 {
                var hl = zl, dl = zl
                let act = net.activation
                if act == .linear {
                    for i in 0..<dl.data.count { dl.data[i] = 1 }
                } else {
                    let count = zl.data.count
                    let parts = splitLayers.contains(l) ? 2 : 1
                    zl.data.withUnsafeBufferPointer { pz in
                        hl.data.withUnsafeMutableBufferPointer { ph in
                            dl.data.withUnsafeMutableBufferPointer { pd in
                                let (pz, ph, pd) = (UncheckedPointer(pz.baseAddress!), UncheckedMutablePointer(ph.baseAddress!),
                                                    UncheckedMutablePointer(pd.baseAddress!))
                                let body: @Sendable (Int) -> Void = { part in
                                    let lo = part * count / parts, hi = (part + 1) * count / parts
                                    for i in lo..<hi { let e = act.evaluate(pz.p[i]); ph.p[i] = e.value; pd.p[i] = e.d1 }
                                }
                                if parts == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: body) }
                            }
                        }
                    }
                }
                h.append(hl); dphi.append(dl)
            }
        }
        let s = net.outputScale
        let outputs = z[L - 1].data.map { s * $0 }
        return Forward(z: z, h: h, dphi: dphi, outputs: outputs)
    }

    // MARK: two-thread GD chain

    /// Layers whose products (forward H·Wᵀ, gradient Gᵀ·H) and activations run in two halves on
    /// two threads (`twoThreadChain`).
    private var splitLayers: Set<Int> = []

    /// Runs the large products of the GD chain in two halves on two threads: the forward product
    /// by rows of H, the weight gradient by columns of H, the activations by halves. Each half is
    /// the same single-threaded OpenBLAS call on a sub-block, which gives the same bits as the
    /// whole call only if OpenBLAS picks the same kernel path for both sizes; that is checked
    /// here, on random data of this evaluator's shapes, when the option is turned on, and layers
    /// that fail the check stay whole. So results are bit-identical with the option on or off
    /// (and to recordings made without it). Used by `analyze`'s replay, whose second thread has
    /// spare time; the recorder's two threads are busy anyway.
    public var twoThreadChain: Bool {
        get { !splitLayers.isEmpty }
        set {
            splitLayers = []
            guard newValue else { return }
            for l in 0..<network.layerCount where Double(n) * Double(network.sizes[l]) * Double(network.sizes[l + 1]) >= 4e6 {
                if Self.halvesAreExact(n: n, input: network.sizes[l], output: network.sizes[l + 1], beta: network.bias ? 1 : 0) {
                    splitLayers.insert(l)
                }
            }
        }
    }

    static func halvesAreExact(n: Int, input: Int, output: Int, beta: Double) -> Bool {
        var rng = SeededRNG(seed: UInt64(n * 31 + input * 7 + output))
        let h = Matrix(rows: n, cols: input, data: rng.normals(n * input))
        let w = Matrix(rows: output, cols: input, data: rng.normals(output * input))
        let zInit = rng.normals(n * output)
        var whole = Matrix(rows: n, cols: output, data: zInit), halves = whole
        BLAS.gemm(h, w, transB: .transpose, beta: beta, into: &whole)
        forwardProductInHalves(h, w, beta: beta, into: &halves)
        guard whole.data == halves.data else { return false }
        let g = Matrix(rows: n, cols: output, data: rng.normals(n * output))
        return BLAS.gemm(g, h, transA: .transpose).data == gradientProductInHalves(g, h).data
    }

    /// Z ← H·Wᵀ + β·Z, rows of H (and Z) in two halves on two threads.
    static func forwardProductInHalves(_ h: Matrix, _ w: Matrix, beta: Double, into z: inout Matrix) {
        let n = h.rows, k = h.cols, o = w.rows
        inHalves(h, w, &z, splitting: n) { lo, count, ph, pw, pz in
            BLAS.gemm(transA: .none, transB: .transpose, m: count, n: o, k: k, alpha: 1, a: ph + lo * k, lda: k,
                      b: pw, ldb: k, beta: beta, c: pz + lo * o, ldc: o)
        }
    }

    /// Gᵀ·H (out × in), columns of H (and of the result) in two halves on two threads.
    static func gradientProductInHalves(_ g: Matrix, _ h: Matrix) -> Matrix {
        let n = g.rows, o = g.cols, k = h.cols
        var out = Matrix(rows: o, cols: k)
        inHalves(g, h, &out, splitting: k) { lo, count, pg, ph, po in
            BLAS.gemm(transA: .transpose, transB: .none, m: o, n: count, k: n, alpha: 1, a: pg, lda: o,
                      b: ph + lo, ldb: k, beta: 0, c: po + lo, ldc: k)
        }
        return out
    }

    /// Runs `half(lo, count, a, b, c)` for [0, m/2) and [m/2, m) concurrently, with raw pointers
    /// to the storage of `a`, `b` and `c` (each half writes its own part of `c`).
    private static func inHalves(_ a: Matrix, _ b: Matrix, _ c: inout Matrix, splitting m: Int,
                                 _ half: @escaping @Sendable (Int, Int, UnsafePointer<Double>, UnsafePointer<Double>,
                                                              UnsafeMutablePointer<Double>) -> Void) {
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    let (pa, pb, pc) = (UncheckedPointer(pa.baseAddress!), UncheckedPointer(pb.baseAddress!),
                                        UncheckedMutablePointer(pc.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: 2) { part in
                        let lo = part == 0 ? 0 : m / 2
                        half(lo, part == 0 ? m / 2 : m - m / 2, pa.p, pb.p, pc.p)
                    }
                }
            }
        }
    }

    /// Backpropagates an upstream signal u (n) at the output Z_{L-1} — i.e. g_{L-1} = u — and
    /// returns g_l = ∂(Σ_i u_i Z_{L-1,i})/∂Z_l for every layer (n × w_{l+1}).
    func backward(_ fw: Forward, _ theta: [Double], upstream u: [Double]) -> [Matrix] {
        let net = network
        let L = net.layerCount
        var g = [Matrix](repeating: Matrix(rows: 0, cols: 0), count: L)
        g[L - 1] = Matrix(rows: n, cols: 1, data: u)
        if L >= 2 {
            for l in stride(from: L - 1, through: 1, by: -1) {
                var prev = BLAS.gemm(g[l], net.weight(l, theta))   // n × w_l
                let dp = fw.dphi[l - 1]
                for i in 0..<prev.data.count { prev.data[i] *= dp.data[i] }
                g[l - 1] = prev
            }
        }
        return g
    }

    /// Gradient blocks from per-layer signals g_l (already including the loss weights).
    func gradient(_ fw: Forward, _ g: [Matrix]) -> [Double] {
        let net = network
        var grad = [Double](repeating: 0, count: net.parameterCount)
        let ones = [Double](repeating: 1, count: n)
        for l in 0..<net.layerCount {
            let gw = splitLayers.contains(l) ? Self.gradientProductInHalves(g[l], fw.h[l])
                : BLAS.gemm(g[l], fw.h[l], transA: .transpose)   // out × in
            grad.replaceSubrange(net.weightOffsets[l]..<(net.weightOffsets[l] + gw.data.count), with: gw.data)
            if net.bias {
                let gb = BLAS.gemv(g[l], ones, trans: .transpose)
                grad.replaceSubrange(net.biasOffsets[l]..<(net.biasOffsets[l] + gb.count), with: gb)
            }
        }
        return grad
    }

    // MARK: public API

    /// F(θ) (n).
    public func outputs(_ theta: [Double]) throws -> [Double] {
        try network.checkParameters(theta)
        return forward(theta).outputs
    }

    /// Loss and exact gradient (the cheap call for a plain GD step): one forward, one backward.
    public func lossAndGradient(_ theta: [Double]) throws -> GradientEvaluation {
        try network.checkParameters(theta)
        let fw = forward(theta)
        let d = zip(fw.outputs, Y).map { $0 - $1 }
        let loss = BLAS.dot(d, d) / Double(n)
        let c = 2 * network.outputScale / Double(n)
        let g = backward(fw, theta, upstream: d.map { c * $0 })
        return GradientEvaluation(outputs: fw.outputs, residual: d, loss: loss, gradient: gradient(fw, g))
    }

    /// One plain GD step θ ← θ − η ∇L(θ); returns the evaluation at the old θ.
    @discardableResult
    public func gradientStep(_ theta: inout [Double], learningRate eta: Double) throws -> GradientEvaluation {
        let e = try lossAndGradient(theta)
        BLAS.axpy(-eta, e.gradient, &theta)
        return e
    }

    /// Everything a recorded step needs, sharing one forward and one backward pass: F, D, L, ∇L,
    /// ‖∇L‖, ‖A‖², DᵀF, and optionally the exact Gram M and λ_max(M_A).
    ///
    /// M = (2/n) Σ_l (Δ_l Δ_lᵀ) ∘ (H_l H_lᵀ + β·11ᵀ), Δ_l the per-example backprop signal ∂f/∂Z_l,
    /// β = 1 with bias; the first layer's X Xᵀ is cached.
    public func evaluate(_ theta: [Double], options: EvaluationOptions = EvaluationOptions()) throws -> StepEvaluation {
        let (ev, later) = try evaluateDeferringGram(theta)
        var result = ev
        if options.gram { result.gram = later.gram() }
        if options.outputLayerSharpness { result.outputLayerSharpness = try later.outputLayerSharpness() }
        return result
    }

    /// `evaluate` without M and λ_max(M_A): everything from the forward and backward pass, plus
    /// the caches to compute M and λ_max(M_A) later — e.g. on another thread while the next step's
    /// forward pass runs (`DeferredGram` only reads these caches; the results are bit-identical
    /// to `evaluate`).
    public func evaluateDeferringGram(_ theta: [Double]) throws -> (StepEvaluation, DeferredGram) {
        try network.checkParameters(theta)
        let net = network
        let L = net.layerCount
        let s = net.outputScale
        let fw = forward(theta)
        let d = zip(fw.outputs, Y).map { $0 - $1 }
        let nD = Double(n)
        let loss = BLAS.dot(d, d) / nD
        // Per-example signals Δ_l (upstream s at the output).
        let delta = backward(fw, theta, upstream: [Double](repeating: s, count: n))
        // Loss signals g_l = diag(2D/n) Δ_l.
        var g = delta
        for l in 0..<L {
            let w = g[l].cols
            g[l].data.withUnsafeMutableBufferPointer { pg in
                for i in 0..<n { let r = 2 * d[i] / nD; for j in 0..<w { pg[i * w + j] *= r } }
            }
        }
        let grad = gradient(fw, g)
        let result = StepEvaluation(outputs: fw.outputs, residual: d, loss: loss, gradient: grad,
                                    gradientNorm: BLAS.nrm2(grad), outputNormSquared: net.outputNormSquared(theta),
                                    dtf: BLAS.dot(d, fw.outputs), gram: nil, outputLayerSharpness: nil)
        return (result, DeferredGram(evaluator: self, fw: fw, delta: delta))
    }

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

    /// The exact Gram M(θ) = (2/n) J Jᵀ alone.
    public func gram(_ theta: [Double]) throws -> Matrix {
        try network.checkParameters(theta)
        let fw = forward(theta)
        let delta = backward(fw, theta, upstream: [Double](repeating: network.outputScale, count: n))
        return gram(fw, delta)
    }

    /// The output-layer part M_A = (2/n) s² H_{L-1} H_{L-1}ᵀ (n × n).
    public func outputLayerGram(_ theta: [Double]) throws -> Matrix {
        try network.checkParameters(theta)
        let fw = forward(theta)
        let s = network.outputScale
        return BLAS.syrk(fw.h[network.layerCount - 1], alpha: 2 * s * s / Double(n))
    }

    /// How `applyGram` applies each layer's term (tests force one path; users get the cheapest).
    enum GramApplyStrategy { case cheapest, factored, dense }

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

/// The Gram M and λ_max(M_A) of one evaluation as independent pieces — one syrk per H_l H_lᵀ
/// (l ≥ 1) and per Δ_l Δ_lᵀ (l < L−1), and λ_max(M_A) — that any thread may run (`helpOne`),
/// then summed in a fixed order (`gram`). Every piece is one single-threaded BLAS call on fixed
/// inputs, so M is bit-identical whichever threads ran which pieces: the recorder's main thread
/// takes pieces while it would otherwise wait for the recording thread.
public final class GramWork: @unchecked Sendable {
    private enum Piece { case hh(Int), dd(Int), outputLayer }
    private let evaluator: ModelEvaluator
    private let fw: ModelEvaluator.Forward
    private let delta: [Matrix]
    private let pieces: [Piece]
    private var hh: [Matrix?], dd: [Matrix?]
    private var olSharpness: Result<Double, any Error>?
    private var next = 0, finished = 0
    private var includeOutputLayer: Bool
    private let cond = NSCondition()

    init(evaluator: ModelEvaluator, fw: ModelEvaluator.Forward, delta: [Matrix], outputLayerSharpness: Bool = false) {
        self.evaluator = evaluator; self.fw = fw; self.delta = delta
        let L = evaluator.network.layerCount
        var p: [Piece] = []
        for l in 0..<(L - 1) { p.append(.dd(l)) }
        for l in 1..<L { p.append(.hh(l)) }
        if outputLayerSharpness { p.append(.outputLayer) }
        pieces = p
        includeOutputLayer = outputLayerSharpness
        hh = Array(repeating: nil, count: L); dd = Array(repeating: nil, count: L)
    }

    /// Runs one piece not yet taken; false when none is left.
    @discardableResult
    public func helpOne() -> Bool {
        cond.lock()
        guard next < pieces.count else { cond.unlock(); return false }
        let piece = pieces[next]
        next += 1
        cond.unlock()
        switch piece {
        case .hh(let l):
            var b = evaluator.takeBuffer()
            BLAS.syrk(fw.h[l], into: &b, fullSymmetric: false)
            cond.lock(); hh[l] = b
        case .dd(let l):
            var b = evaluator.takeBuffer()
            BLAS.syrk(delta[l], into: &b, fullSymmetric: false)
            cond.lock(); dd[l] = b
        case .outputLayer:
            let r = Result { try ModelEvaluator.DeferredGram(evaluator: evaluator, fw: fw, delta: delta).outputLayerSharpness() }
            cond.lock(); olSharpness = r
        }
        finished += 1
        cond.broadcast()
        cond.unlock()
        return true
    }

    private func runAll() {
        while helpOne() {}
        cond.lock()
        while finished < pieces.count { cond.wait() }
        cond.unlock()
    }

    /// M (n × n): runs the pieces left, waits for those other threads took, sums them. Call once.
    public func gram() -> Matrix {
        runAll()
        let m = evaluator.combineGram(hh: hh, dd: dd)
        for b in hh + dd { if let b { evaluator.returnBuffer(b) } }
        hh = hh.map { _ in nil }; dd = dd.map { _ in nil }
        return m
    }

    /// λ_max(M_A) (a piece when this work was made with `outputLayerSharpness: true`).
    public func outputLayerSharpness() throws -> Double {
        runAll()
        if let r = olSharpness { return try r.get() }
        return try ModelEvaluator.DeferredGram(evaluator: evaluator, fw: fw, delta: delta).outputLayerSharpness()
    }
}

extension ModelEvaluator.DeferredGram {
    /// The Gram work of this evaluation as shareable pieces (see `GramWork`).
    public func work(outputLayerSharpness: Bool = true) -> GramWork {
        GramWork(evaluator: evaluator, fw: fw, delta: delta, outputLayerSharpness: outputLayerSharpness)
    }
}

/// A pointer handed to the two halves of a split product (each half touches its own rows or
/// columns of the output).
struct UncheckedPointer: @unchecked Sendable { let p: UnsafePointer<Double>; init(_ p: UnsafePointer<Double>) { self.p = p } }
struct UncheckedMutablePointer: @unchecked Sendable {
    let p: UnsafeMutablePointer<Double>
    init(_ p: UnsafeMutablePointer<Double>) { self.p = p }
}
