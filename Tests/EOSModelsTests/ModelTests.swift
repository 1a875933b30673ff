import XCTest
@testable import EOSModels
import EOSNumerics

/// Small random problem for derivative checks.
struct Problem {
    let eval: ModelEvaluator
    let theta: [Double]
    init(_ desc: ModelDescription, n: Int = 7, seed: UInt64, scale: Double = 1) throws {
        let net = try Network(desc)
        var rng = SeededRNG(seed: seed &+ 1000)
        let d = net.sizes[0]
        let X = Matrix(rows: n, cols: d, data: rng.normals(n * d))
        let Y = rng.normals(n)
        eval = try ModelEvaluator(network: net, X: X, Y: Y)
        // Scale > 1 so tanh/sigmoid are away from their linear regime and bias terms matter.
        theta = net.initialParameters(seed: seed, scale: scale)
    }
}

func relErr(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for i in a.indices { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i] }
    return (num / max(den, 1e-300)).squareRoot()
}

func fdJacobian(_ e: ModelEvaluator, _ theta: [Double], h: Double = 1e-6) throws -> Matrix {
    let p = theta.count, n = e.n * e.network.outputCount   // rows: the n·c outputs, sample-major
    var J = Matrix(rows: n, cols: p)
    var t = theta
    for j in 0..<p {
        t[j] = theta[j] + h; let fp = try e.outputs(t)
        t[j] = theta[j] - h; let fm = try e.outputs(t)
        t[j] = theta[j]
        for i in 0..<n { J[i, j] = (fp[i] - fm[i]) / (2 * h) }
    }
    return J
}

let allDescriptions: [ModelDescription] = {
    var out: [ModelDescription] = []
    for act in Activation.allCases {
        for bias in [true, false] {
            for widths in [[5], [4, 3], [3, 4, 2]] {
                out.append(.mlp(inputDim: 3, widths: widths, activation: act, bias: bias, outputScale: act == .relu ? 0.7 : 1))
            }
        }
    }
    out.append(.twoLayerLinear(inputDim: 4, width: 6))
    return out
}()

final class DerivativeTests: XCTestCase {
    func testGradientMatchesCentralDifferences() throws {
        for (k, desc) in allDescriptions.enumerated() {
            for seed: UInt64 in [1, 2] {
                let pr = try Problem(desc, seed: seed &+ UInt64(k) * 10, scale: 2)
                let g = try pr.eval.lossAndGradient(pr.theta).gradient
                var fd = [Double](repeating: 0, count: g.count)
                var t = pr.theta
                let h = 1e-5
                for j in 0..<t.count {
                    t[j] = pr.theta[j] + h; let lp = try pr.eval.lossAndGradient(t).loss
                    t[j] = pr.theta[j] - h; let lm = try pr.eval.lossAndGradient(t).loss
                    t[j] = pr.theta[j]
                    fd[j] = (lp - lm) / (2 * h)
                }
                XCTAssertLessThan(relErr(g, fd), 1e-6, "\(desc.jsonString()) seed \(seed)")
                // evaluate() shares caches but must give the same gradient and loss.
                let ev = try pr.eval.evaluate(pr.theta)
                XCTAssertLessThan(relErr(ev.gradient, g), 1e-13)
                XCTAssertEqual(ev.gradientNorm, BLAS.nrm2(g), accuracy: 1e-12 * BLAS.nrm2(g))
            }
        }
    }

    func testHessianVectorProductsMatchDifferencesOfExactGradient() throws {
        for (k, desc) in allDescriptions.enumerated() {
            let pr = try Problem(desc, seed: 77 &+ UInt64(k), scale: 2)
            let op = try HessianOperator(evaluator: pr.eval, theta: pr.theta)
            var rng = SeededRNG(seed: UInt64(k))
            let v = rng.normals(pr.theta.count)
            let hv = op.apply(v)
            let h = 1e-5
            var tp = pr.theta, tm = pr.theta
            BLAS.axpy(h, v, &tp); BLAS.axpy(-h, v, &tm)
            let gp = try pr.eval.lossAndGradient(tp).gradient, gm = try pr.eval.lossAndGradient(tm).gradient
            let fd = zip(gp, gm).map { ($0 - $1) / (2 * h) }
            XCTAssertLessThan(relErr(hv, fd), 1e-6, desc.jsonString())
        }
    }

    func testGramMatchesFiniteDifferenceJacobian() throws {
        for (k, desc) in allDescriptions.enumerated() {
            for seed: UInt64 in [3, 4] {
                let pr = try Problem(desc, seed: seed &+ UInt64(k) * 7, scale: 1.5)
                let ev = try pr.eval.evaluate(pr.theta)
                let J = try fdJacobian(pr.eval, pr.theta)
                let n = Double(pr.eval.n)
                let ref = BLAS.syrk(J, alpha: 2 / n)
                let M = try XCTUnwrap(ev.gram)
                XCTAssertLessThan(M.maxAbsDifference(ref) / ref.frobeniusNorm, 1e-8, "\(desc.jsonString()) seed \(seed)")
                // M_A = (2/n) J_A J_Aᵀ over the output weight columns only.
                let net = pr.eval.network
                var JA = Matrix(rows: pr.eval.n, cols: net.outputWeightRange.count)
                for i in 0..<pr.eval.n { for (c, j) in net.outputWeightRange.enumerated() { JA[i, c] = J[i, j] } }
                let refA = BLAS.syrk(JA, alpha: 2 / n)
                let MA = try pr.eval.outputLayerGram(pr.theta)
                XCTAssertLessThanOrEqual(MA.maxAbsDifference(refA), 1e-8 * refA.frobeniusNorm, desc.jsonString())
                let topA = try SymmetricEigen.allEigenvalues(refA)[0]
                XCTAssertEqual(try XCTUnwrap(ev.outputLayerSharpness), topA, accuracy: 1e-8 * topA + 1e-14)
                // Scalars.
                XCTAssertEqual(ev.outputNormSquared, net.outputWeightRange.reduce(0.0) { $0 + pr.theta[$1] * pr.theta[$1] })
                XCTAssertEqual(ev.dtf, zip(ev.residual, ev.outputs).reduce(0.0) { $0 + $1.0 * $1.1 }, accuracy: 1e-12)
                XCTAssertEqual(ev.loss, ev.residual.reduce(0.0) { $0 + $1 * $1 } / n, accuracy: 1e-14)
            }
        }
    }

    /// M·V without forming M (both per-layer paths, and the automatic choice) against (2/n) J Jᵀ V
    /// from a finite-difference Jacobian, and against the dense M to round-off.
    func testMatrixFreeGramApplicationMatchesJacobianAndDenseGram() throws {
        for (k, desc) in allDescriptions.enumerated() {
            let pr = try Problem(desc, seed: 11 &+ UInt64(k) * 5, scale: 1.5)
            let n = pr.eval.n
            let (_, later) = try pr.eval.evaluateDeferringGram(pr.theta)
            let M = later.gram()
            var rng = SeededRNG(seed: 99 &+ UInt64(k))
            for count in [1, 3] {
                let V = rng.normals(count * n)
                let dense = BLAS.gemm(Matrix(rows: count, cols: n, data: V), M, transB: .transpose).data
                let J = try fdJacobian(pr.eval, pr.theta)
                let jtv = BLAS.gemm(Matrix(rows: count, cols: n, data: V), J)                 // (Jᵀ v)ᵀ rows
                let fd = BLAS.gemm(jtv, J, transB: .transpose, alpha: 2 / Double(n)).data     // (J Jᵀ v)ᵀ rows
                for strategy in [ModelEvaluator.GramApplyStrategy.cheapest, .factored, .dense] {
                    let got = pr.eval.applyGram(later.fw, later.delta, to: V, count: count, strategy: strategy)
                    XCTAssertLessThan(relErr(got, dense), 1e-12, "\(desc.jsonString()) \(strategy) count \(count)")
                    XCTAssertLessThan(relErr(got, fd), 1e-7, "\(desc.jsonString()) \(strategy) count \(count) vs FD")
                }
                XCTAssertEqual(later.apply(to: V, count: count), pr.eval.applyGram(later.fw, later.delta, to: V, count: count))
            }
        }
    }

    /// The two-thread GD chain (large products in halves) gives the same bits as the one-thread
    /// chain over several GD steps, for the default preset's layer shapes (smaller n).
    func testTwoThreadChainIsBitIdentical() throws {
        let desc = ModelDescription.mlp(inputDim: 784, widths: [100, 100], activation: .tanh, bias: true, outputScale: 1)
        let pr = try Problem(desc, n: 300, seed: 5)
        let two = try ModelEvaluator(network: pr.eval.network, X: pr.eval.X, Y: pr.eval.Y)
        two.twoThreadChain = true
        print("two-thread chain enabled: \(two.twoThreadChain) (OpenBLAS \(BLAS.coreName))")
        var a = pr.theta, b = pr.theta
        for _ in 0..<5 {
            let ea = try pr.eval.evaluate(a), eb = try two.evaluate(b)
            XCTAssertEqual(ea.gradient, eb.gradient)
            XCTAssertEqual(ea.outputs, eb.outputs)
            XCTAssertEqual(ea.gram?.data, eb.gram?.data)
            XCTAssertEqual(try pr.eval.lossAndGradient(a).gradient, try two.lossAndGradient(b).gradient)
            BLAS.axpy(-0.05, ea.gradient, &a); BLAS.axpy(-0.05, eb.gradient, &b)
        }
        XCTAssertEqual(a, b)
    }

    /// Lanczos on exact HVPs vs the top eigenvalue of the dense Hessian built from HVPs on basis
    /// vectors, itself cross-checked against finite differences of gradients.
    func testLanczosHessianSharpnessMatchesDenseHessian() throws {
        for desc in [ModelDescription.mlp(inputDim: 3, widths: [6, 5], activation: .tanh, bias: true, outputScale: 1),
                     .mlp(inputDim: 4, widths: [5], activation: .softplus, bias: false, outputScale: 1),
                     .twoLayerLinear(inputDim: 3, width: 5)] {
            let pr = try Problem(desc, n: 9, seed: 5, scale: 2)
            let op = try HessianOperator(evaluator: pr.eval, theta: pr.theta)
            let p = op.dimension
            var H = Matrix(rows: p, cols: p)
            var Hfd = Matrix(rows: p, cols: p)
            let h = 1e-5
            for j in 0..<p {
                var e = [Double](repeating: 0, count: p); e[j] = 1
                H.setRow(j, op.apply(e))
                var tp = pr.theta, tm = pr.theta
                tp[j] += h; tm[j] -= h
                let gp = try pr.eval.lossAndGradient(tp).gradient, gm = try pr.eval.lossAndGradient(tm).gradient
                Hfd.setRow(j, zip(gp, gm).map { ($0 - $1) / (2 * h) })
            }
            XCTAssertLessThan(H.maxAbsDifference(H.transposed), 1e-12 * H.frobeniusNorm, "exact Hessian must be symmetric")
            XCTAssertLessThan(H.maxAbsDifference(Hfd) / H.frobeniusNorm, 1e-7)
            let dense = try SymmetricEigen.allEigenvalues(H)[0]
            let lz = try op.sharpness(maxIterations: p, tolerance: 1e-10)
            XCTAssertTrue(lz.converged)
            XCTAssertEqual(lz.value, dense, accuracy: 1e-8 * abs(dense))
        }
    }

    /// Two-layer linear: D(t+1) = (I − η M*(t)) D(t) exactly (README, What it computes), to round-off.
    func testTwoLayerLinearExactUpdate() throws {
        for seed: UInt64 in 1...4 {
            let d = 5, m = 8, n = 6
            let net = try Network(.twoLayerLinear(inputDim: d, width: m))
            var rng = SeededRNG(seed: seed)
            let X = Matrix(rows: n, cols: d, data: rng.normals(n * d))
            let Y = rng.normals(n)
            let e = try ModelEvaluator(network: net, X: X, Y: Y)
            var theta = net.initialParameters(seed: seed, scale: 1)
            let eta = 0.05
            for _ in 0..<5 {
                let ev = try e.evaluate(theta)
                let W = net.weight(0, theta)
                let nn = Double(n), mm = Double(m)
                let XXt = BLAS.syrk(X)                                  // paper's XᵀX
                let WX = BLAS.gemm(X, W, transB: .transpose)             // (W X)ᵀ, n × m
                let XWWX = BLAS.syrk(WX)
                var Mstar = Matrix(rows: n, cols: n)
                for i in 0..<(n * n) {
                    Mstar.data[i] = 2 / (mm * nn) * (ev.outputNormSquared * XXt.data[i] + XWWX.data[i])
                        - 4 * eta / (nn * nn * mm) * ev.dtf * XXt.data[i]
                }
                var predicted = ev.residual
                BLAS.gemv(Mstar, ev.residual, alpha: -eta, beta: 1, into: &predicted)
                try e.gradientStep(&theta, learningRate: eta)
                let actual = try e.lossAndGradient(theta).residual
                XCTAssertLessThan(relErr(predicted, actual), 1e-12, "seed \(seed)")
            }
        }
    }

    func testGradientStepMatchesManualUpdate() throws {
        let pr = try Problem(.mlp(inputDim: 3, widths: [4], activation: .tanh, bias: true, outputScale: 1), seed: 1)
        var t = pr.theta
        let g = try pr.eval.lossAndGradient(t).gradient
        try pr.eval.gradientStep(&t, learningRate: 0.1)
        for i in t.indices { XCTAssertEqual(t[i], pr.theta[i] - 0.1 * g[i], accuracy: 1e-15) }
    }
}

final class ModelDescriptionTests: XCTestCase {
    func testJSONRoundTripAndDefaults() throws {
        let d = try ModelDescription.parse(json: #"{"kind":"mlp","input_dim":784,"widths":[200,200],"activation":"tanh","bias":true}"#)
        XCTAssertEqual(d, .mlp(inputDim: 784, widths: [200, 200], activation: .tanh, bias: true, outputScale: 1))
        XCTAssertEqual(try ModelDescription.parse(json: d.jsonString()), d)
        let l = try ModelDescription.parse(json: #"{"kind":"two_layer_linear","input_dim":50,"width":1000}"#)
        XCTAssertEqual(try ModelDescription.parse(json: l.jsonString()), l)
        let net = try Network(d)
        XCTAssertEqual(net.parameterCount, 784 * 200 + 200 + 200 * 200 + 200 + 200 + 1)
        XCTAssertEqual(net.outputWeightRange, (784 * 200 + 200 + 200 * 200 + 200)..<(784 * 200 + 200 + 200 * 200 + 400))
        XCTAssertEqual(try Network(l).parameterCount, 50 * 1000 + 1000)
    }

    func testBadDescriptionsThrowOneLineErrors() {
        let bad = [#"{"kind":"cnn","input_dim":3}"#, #"{"kind":"mlp","widths":[3]}"#,
                   #"{"kind":"mlp","input_dim":3,"widths":[0]}"#, #"{"kind":"mlp","input_dim":3,"widths":[2],"activation":"swish"}"#,
                   "not json"]
        for b in bad {
            XCTAssertThrowsError(try ModelDescription.parse(json: b, source: "cfg.json")) { err in
                let s = String(describing: err)
                XCTAssertTrue(s.hasPrefix("cfg.json: invalid model description"), s)
                XCTAssertFalse(s.contains("\n"))
            }
        }
    }

    func testInitializationRanges() throws {
        let net = try Network(.mlp(inputDim: 16, widths: [9], activation: .tanh, bias: true, outputScale: 1))
        let t = net.initialParameters(seed: 1, scale: 0.5)
        XCTAssertEqual(t, net.initialParameters(seed: 1, scale: 0.5))
        for i in 0..<(16 * 9 + 9) { XCTAssertLessThanOrEqual(abs(t[i]), 0.5 / 4) }
        for i in (16 * 9 + 9)..<t.count { XCTAssertLessThanOrEqual(abs(t[i]), 0.5 / 3) }
        XCTAssertGreaterThan(t[0..<144].map { abs($0) }.max()!, 0.1)
    }

    func testEvaluatorRejectsBadShapes() throws {
        let net = try Network(.mlp(inputDim: 3, widths: [2], activation: .tanh, bias: true, outputScale: 1))
        XCTAssertThrowsError(try ModelEvaluator(network: net, X: Matrix(rows: 4, cols: 2), Y: [0, 0, 0, 0]))
        XCTAssertThrowsError(try ModelEvaluator(network: net, X: Matrix(rows: 4, cols: 3), Y: [0, 0]))
        let e = try ModelEvaluator(network: net, X: Matrix(rows: 4, cols: 3), Y: [0, 0, 0, 0])
        XCTAssertThrowsError(try e.evaluate([1, 2]))
        var t = net.initialParameters(seed: 1); t[0] = .nan
        XCTAssertThrowsError(try e.lossAndGradient(t))
    }
}
