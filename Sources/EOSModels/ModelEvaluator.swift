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
    /// F (n; n·c sample-major for c outputs).
    public var outputs: [Double]
    /// D = F − Y (n; n·c sample-major).
    public var residual: [Double]
    /// L = ‖D‖²/n (‖D‖_F²/n: summed over outputs, averaged over samples).
    public var loss: Double
    /// ∇L (p).
    public var gradient: [Double]
    /// ‖∇L‖.
    public var gradientNorm: Double
    /// ‖A‖² (output layer weights, bias excluded).
    public var outputNormSquared: Double
    /// DᵀF (⟨D, F⟩_F for c outputs).
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

/// Exact evaluations of a `Network` on a fixed data set (X n × d, Y n; for a network with c
/// outputs Y is n × c flattened sample-major and `evaluate` / `gram` use the c-output kernels of
/// ModelEvaluator+MultiOutput.swift).
///
/// Holds constant caches (XXᵀ for the first layer's Gram term). Not thread-safe: one per thread.
/// Costs per call with widths w_l: forward and backward O(n Σ w_l w_{l-1}) (BLAS gemm); the Gram
/// adds O(n² Σ_{l≥1} w_l) (BLAS syrk) and never forms the p-sized Jacobian.
public final class ModelEvaluator {
    public let network: Network
    public let X: Matrix
    public let Y: [Double]
    public var n: Int { X.rows }
    var xxt: Matrix?   // upper triangle of X Xᵀ (+1 with bias)
    let xxtLock = NSLock()
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
        // c outputs: Y is n × c flattened sample-major (index i·c + a); c = 1 is the paper's Y ∈ R^n.
        let c = network.outputCount
        guard Y.count == X.rows * c else {
            throw ModelError.shapeMismatch(object: "data Y", expected: c == 1 ? "\(X.rows) targets" : "\(X.rows) × \(c) targets",
                                           got: "\(Y.count)")
        }
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

    // MARK: two-thread GD chain (ModelEvaluator+Halves.swift)

    /// Layers whose products (forward H·Wᵀ, gradient Gᵀ·H) and activations run in two halves on
    /// two threads (`twoThreadChain`).
    var splitLayers: Set<Int> = []

    /// Backpropagates an upstream signal u (n) at the output Z_{L-1} — i.e. g_{L-1} = u — and
    /// returns g_l = ∂(Σ_i u_i Z_{L-1,i})/∂Z_l for every layer (n × w_{l+1}).
    func backward(_ fw: Forward, _ theta: [Double], upstream u: [Double]) -> [Matrix] {
        let net = network
        let L = net.layerCount
        var g = [Matrix](repeating: Matrix(rows: 0, cols: 0), count: L)
        g[L - 1] = Matrix(rows: n, cols: u.count / n, data: u)   // n × c (c = 1: the paper's scalar output)
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
        if network.outputCount > 1 {   // c outputs (ModelEvaluator+MultiOutput.swift)
            let (ev, later) = try evaluateMultiOutput(theta)
            var result = ev
            if options.gram { result.gram = try later.denseGram() }
            if options.outputLayerSharpness { result.outputLayerSharpness = try later.outputLayerSharpness() }
            return result
        }
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
        guard network.outputCount == 1 else {
            throw ModelError.invalidDescription(source: "model", problem: "evaluateDeferringGram is for one output; use evaluateMultiOutput for c = \(network.outputCount)")
        }
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

    /// The exact Gram M(θ) = (2/n) J Jᵀ alone.
    public func gram(_ theta: [Double]) throws -> Matrix {
        try network.checkParameters(theta)
        if network.outputCount > 1 { return try evaluateMultiOutput(theta).1.denseGram() }
        let fw = forward(theta)
        let delta = backward(fw, theta, upstream: [Double](repeating: network.outputScale, count: n))
        return gram(fw, delta)
    }

    /// The output-layer part M_A = (2/n) s² H_{L-1} H_{L-1}ᵀ (n × n); for c outputs
    /// M_A = (2/n) s² (H_{L-1} H_{L-1}ᵀ ⊗ I_c) (nc × nc, sample-major).
    public func outputLayerGram(_ theta: [Double]) throws -> Matrix {
        try network.checkParameters(theta)
        let fw = forward(theta)
        let s = network.outputScale
        let k = BLAS.syrk(fw.h[network.layerCount - 1], alpha: 2 * s * s / Double(n))
        let c = network.outputCount
        if c == 1 { return k }
        var m = Matrix(rows: n * c, cols: n * c)
        for i in 0..<n { for j in 0..<n { for a in 0..<c { m.data[(i * c + a) * n * c + j * c + a] = k.data[i * n + j] } } }
        return m
    }
}
