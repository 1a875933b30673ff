import XCTest
@testable import EOSModels
import EOSNumerics

/// A small random c-output problem (Y n × c, sample-major).
struct MultiProblem {
    let eval: ModelEvaluator
    let theta: [Double]
    let c: Int
    init(_ desc: ModelDescription, c: Int, n: Int = 5, seed: UInt64, scale: Double = 1.5) throws {
        let net = try Network(desc, outputs: c)
        var rng = SeededRNG(seed: seed &+ 4000)
        let d = net.sizes[0]
        let X = Matrix(rows: n, cols: d, data: rng.normals(n * d))
        eval = try ModelEvaluator(network: net, X: X, Y: rng.normals(n * c))
        theta = net.initialParameters(seed: seed, scale: scale)
        self.c = c
    }
    var nc: Int { eval.n * c }
}

let multiDescriptions: [ModelDescription] = [
    .mlp(inputDim: 3, widths: [4, 3], activation: .tanh, bias: true, outputScale: 1),
    .mlp(inputDim: 4, widths: [5], activation: .relu, bias: false, outputScale: 0.7),
    .mlp(inputDim: 3, widths: [3, 4, 2], activation: .gelu, bias: true, outputScale: 1.3),
    .mlp(inputDim: 2, widths: [4], activation: .softplus, bias: true, outputScale: 1),
    .twoLayerLinear(inputDim: 4, width: 6),
]

final class MultiOutputTests: XCTestCase {
    /// The c-output M against (2/n) J Jᵀ of a central-difference Jacobian of vec(F) (sample-major),
    /// M_A against the output-weight columns of that Jacobian, and the scalars of the step.
    func testMultiOutputGramMatchesFiniteDifferenceJacobian() throws {
        for (k, desc) in multiDescriptions.enumerated() {
            for c in [2, 3, 10] {
                let pr = try MultiProblem(desc, c: c, seed: 17 &+ UInt64(k * 13 + c))
                let ev = try pr.eval.evaluate(pr.theta)
                let J = try fdJacobian(pr.eval, pr.theta)     // rows = outputs i·c + a
                XCTAssertEqual(J.rows, pr.nc)
                let n = Double(pr.eval.n)
                let ref = BLAS.syrk(J, alpha: 2 / n)
                let M = try XCTUnwrap(ev.gram)
                XCTAssertEqual(M.rows, pr.nc)
                XCTAssertLessThan(M.maxAbsDifference(ref) / ref.frobeniusNorm, 1e-7, "\(desc.jsonString()) c \(c)")
                let net = pr.eval.network
                var JA = Matrix(rows: pr.nc, cols: net.outputWeightRange.count)
                for i in 0..<pr.nc { for (q, j) in net.outputWeightRange.enumerated() { JA[i, q] = J[i, j] } }
                let refA = BLAS.syrk(JA, alpha: 2 / n)
                let MA = try pr.eval.outputLayerGram(pr.theta)
                XCTAssertLessThanOrEqual(MA.maxAbsDifference(refA), 1e-7 * refA.frobeniusNorm, "\(desc.jsonString()) c \(c)")
                let topA = try SymmetricEigen.allEigenvalues(refA)[0]
                XCTAssertEqual(try XCTUnwrap(ev.outputLayerSharpness), topA, accuracy: 1e-7 * topA + 1e-14)
                XCTAssertEqual(ev.outputNormSquared, net.outputWeightRange.reduce(0.0) { $0 + pr.theta[$1] * pr.theta[$1] })
                XCTAssertEqual(net.outputWeightRange.count, net.outputLayerWidth * c)
                let F = try pr.eval.outputs(pr.theta)
                XCTAssertEqual(F.count, pr.nc)
                let D = zip(F, pr.eval.Y).map { $0 - $1 }
                XCTAssertEqual(ev.residual, D)
                XCTAssertEqual(ev.dtf, zip(D, F).reduce(0.0) { $0 + $1.0 * $1.1 }, accuracy: 1e-12 * max(1, abs(ev.dtf)))
                XCTAssertEqual(ev.loss, D.reduce(0.0) { $0 + $1 * $1 } / n, accuracy: 1e-14 * max(1, ev.loss))
            }
        }
    }

    /// ∇L of L = ‖D‖_F²/n against central differences of L, for c outputs; `lossAndGradient`
    /// and `evaluate` agree.
    func testMultiOutputGradientMatchesCentralDifferences() throws {
        for (k, desc) in multiDescriptions.enumerated() {
            for c in [2, 3, 10] {
                let pr = try MultiProblem(desc, c: c, seed: 91 &+ UInt64(k * 7 + c), scale: 2)
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
                XCTAssertLessThan(relErr(g, fd), 1e-6, "\(desc.jsonString()) c \(c)")
                XCTAssertEqual(try pr.eval.evaluate(pr.theta, options: EvaluationOptions(gram: false, outputLayerSharpness: false)).gradient, g)
            }
        }
    }

    /// Matrix-free M·V (factored, kernel and automatic paths) against the dense c-output M to 1e-12.
    func testMatrixFreeProductMatchesDenseGram() throws {
        for (k, desc) in multiDescriptions.enumerated() {
            for c in [2, 3, 10] {
                let pr = try MultiProblem(desc, c: c, n: 6, seed: 5 &+ UInt64(k * 3 + c))
                let (_, g) = try pr.eval.evaluateMultiOutput(pr.theta)
                let M = try g.denseGram()
                var rng = SeededRNG(seed: 7 &+ UInt64(k))
                for b in [1, 4] {
                    let V = Matrix(rows: b, cols: pr.nc, data: rng.normals(b * pr.nc))
                    let ref = BLAS.gemm(V, M)     // rows (M v)ᵀ (M symmetric)
                    for path in [ModelEvaluator.MultiOutputGram.Path.cheapest, .factored, .kernel] {
                        let got = g.apply(to: V, path: path)
                        XCTAssertLessThan(relErr(got.data, ref.data), 1e-12, "\(desc.jsonString()) c \(c) b \(b) \(path)")
                    }
                }
            }
        }
    }

    /// For c = 1 the c-output kernels reproduce the scalar-output Gram (an independent code path).
    func testOneOutputThroughMultiOutputKernelsEqualsScalarGram() throws {
        for (k, desc) in multiDescriptions.enumerated() {
            let pr = try Problem(desc, n: 7, seed: 3 &+ UInt64(k), scale: 1.5)
            XCTAssertEqual(try Network(desc, outputs: 1), try Network(desc))
            let ref = try XCTUnwrap(try pr.eval.evaluate(pr.theta).gram)
            let (_, g) = try pr.eval.evaluateMultiOutput(pr.theta)
            XCTAssertLessThan(try g.denseGram().maxAbsDifference(ref), 1e-13 * ref.frobeniusNorm)
            var rng = SeededRNG(seed: 1)
            let V = Matrix(rows: 2, cols: 7, data: rng.normals(14))
            XCTAssertLessThan(relErr(g.apply(to: V).data, BLAS.gemm(V, ref).data), 1e-12)
        }
    }

    /// Hessian-vector products for c outputs against differences of the exact gradient, and the
    /// Lanczos Hessian sharpness against the dense Hessian's top eigenvalue.
    func testMultiOutputHessian() throws {
        for (k, desc) in multiDescriptions.enumerated() {
            let pr = try MultiProblem(desc, c: 3, n: 6, seed: 55 &+ UInt64(k), scale: 2)
            let op = try HessianOperator(evaluator: pr.eval, theta: pr.theta)
            let p = op.dimension
            var H = Matrix(rows: p, cols: p)
            for j in 0..<p { var e = [Double](repeating: 0, count: p); e[j] = 1; H.setRow(j, op.apply(e)) }
            XCTAssertLessThan(H.maxAbsDifference(H.transposed), 1e-12 * H.frobeniusNorm)
            var rng = SeededRNG(seed: UInt64(k))
            let v = rng.normals(p)
            let h = 1e-5
            var tp = pr.theta, tm = pr.theta
            BLAS.axpy(h, v, &tp); BLAS.axpy(-h, v, &tm)
            let gp = try pr.eval.lossAndGradient(tp).gradient, gm = try pr.eval.lossAndGradient(tm).gradient
            XCTAssertLessThan(relErr(op.apply(v), zip(gp, gm).map { ($0 - $1) / (2 * h) }), 1e-6, desc.jsonString())
            let dense = try SymmetricEigen.allEigenvalues(H)[0]
            let lz = try op.sharpness(maxIterations: p, tolerance: 1e-10)
            XCTAssertEqual(lz.value, dense, accuracy: 1e-8 * abs(dense), desc.jsonString())
        }
    }

    /// The top-k solver on the c-output M, dense and matrix-free (cold, then warm after a GD
    /// step), against LAPACK dsyevr on the dense M.
    func testTopKSolverDenseAndMatrixFreeMatchLAPACK() throws {
        let desc = ModelDescription.mlp(inputDim: 6, widths: [8, 7], activation: .tanh, bias: true, outputScale: 1)
        let pr = try MultiProblem(desc, c: 4, n: 30, seed: 8)      // nc = 120 (iterative path)
        var theta = pr.theta
        let dense = TopKEigensolver(k: 4), free = TopKEigensolver(k: 4), pre = TopKEigensolver(k: 4)
        var freeIterations: [Int] = []
        for _ in 0..<3 {
            let (ev, g) = try pr.eval.evaluateMultiOutput(theta)
            let M = try g.denseGram()
            let ref = try SymmetricEigen.topK(M, k: 4)
            let rd = try dense.solve(M)
            let rf = try free.solve(dimension: pr.nc) { g.apply(to: $0) }
            XCTAssertFalse(rd.usedLAPACK); XCTAssertFalse(rf.usedLAPACK)
            for i in 0..<4 {
                XCTAssertEqual(rd.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0])
                XCTAssertEqual(rf.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0])
            }
            XCTAssertLessThan(TopKEigensolver.residual(M, rf.pairs), 1e-9)
            // Preconditioned by the output layer's term: same answers, same residual test.
            let rp = try pre.solve(dimension: pr.nc, precondition: try g.outputLayerPreconditioner()) { g.apply(to: $0) }
            XCTAssertFalse(rp.usedLAPACK)
            for i in 0..<4 { XCTAssertEqual(rp.pairs.values[i], ref.values[i], accuracy: 1e-8 * ref.values[0]) }
            XCTAssertLessThan(TopKEigensolver.residual(M, rp.pairs), 1e-9)
            // Top eigenvector (simple eigenvalue) agrees with LAPACK's up to sign.
            XCTAssertEqual(abs(BLAS.dot(rf.pairs.vectors.row(0), ref.vectors.row(0))), 1, accuracy: 1e-8)
            freeIterations.append(rf.iterations)
            BLAS.axpy(-0.01, ev.gradient, &theta)
        }
        XCTAssertLessThan(freeIterations[2], freeIterations[0], "warm start should need fewer iterations: \(freeIterations)")
    }

    func testDenseLimitAndBadTargetsAreOneLineErrors() throws {
        let pr = try MultiProblem(.mlp(inputDim: 2, widths: [3], activation: .tanh, bias: true, outputScale: 1), c: 3, n: 4, seed: 1)
        let (_, g) = try pr.eval.evaluateMultiOutput(pr.theta)
        XCTAssertThrowsError(try g.denseGram(limit: 10)) { XCTAssertTrue("\($0)".contains("dense limit"), "\($0)") }
        let net = try Network(.mlp(inputDim: 2, widths: [3], activation: .tanh, bias: true, outputScale: 1), outputs: 3)
        XCTAssertThrowsError(try ModelEvaluator(network: net, X: Matrix(rows: 4, cols: 2), Y: [Double](repeating: 0, count: 4))) {
            XCTAssertEqual("\($0)", "data Y: expected 4 × 3 targets, got 4")
        }
        XCTAssertThrowsError(try Network(.twoLayerLinear(inputDim: 2, width: 3), outputs: 0))
        XCTAssertThrowsError(try pr.eval.evaluateDeferringGram(pr.theta))
    }

    /// Fashion-MNIST class subsets with one-hot (1/0) and ±1 targets: counts per class, codes,
    /// determinism, agreement with the labels of the binary loader's samples.
    func testFashionMNISTClassSubsetsOneHot() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz"),
                          "dataset-fashion-mnist not installed")
        let classes = [3, 0, 7]
        let a = try FashionMNIST.loadClasses(train: false, classes: classes, coding: .oneHot, n: 31, seed: 2)
        let b = try FashionMNIST.loadClasses(train: false, classes: classes, coding: .plusMinusOne, n: 31, seed: 2)
        XCTAssertEqual(a.outputs, 3); XCTAssertEqual(a.Y.count, 93); XCTAssertEqual(a.X.rows, 31)
        XCTAssertEqual(a.X, b.X)
        var perClass = [0, 0, 0]
        for i in 0..<31 {
            let row = Array(a.Y[(i * 3)..<(i * 3 + 3)])
            XCTAssertEqual(row.reduce(0, +), 1); XCTAssertEqual(row.filter { $0 == 0 }.count, 2)
            perClass[row.firstIndex(of: 1)!] += 1
            XCTAssertEqual(Array(b.Y[(i * 3)..<(i * 3 + 3)]), row.map { 2 * $0 - 1 })
        }
        XCTAssertEqual(perClass, [11, 10, 10])
        // Two classes with the same seed select the same samples as the binary loader.
        let two = try FashionMNIST.loadClasses(train: false, classes: [0, 6], coding: .plusMinusOne, n: 40, seed: 3)
        let bin = try FashionMNIST.load(train: false, classes: (0, 6), n: 40, seed: 3)
        XCTAssertEqual(two.X, bin.X)
        for i in 0..<40 { XCTAssertEqual(two.Y[2 * i], bin.Y[i]); XCTAssertEqual(two.Y[2 * i + 1], -bin.Y[i]) }
        XCTAssertThrowsError(try FashionMNIST.loadClasses(classes: [1, 1], n: 10))
        XCTAssertThrowsError(try FashionMNIST.loadClasses(classes: [1, 12], n: 10))
        XCTAssertThrowsError(try FashionMNIST.loadClasses(classes: Array(0..<10), n: 5))
    }

    /// Users' own [n, c] targets from .npy; [n] and [n, 1] stay scalar; a wrong row count names the file.
    func testNPYMultiOutputTargets() throws {
        let dir = NSTemporaryDirectory() + "eos-multi-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, shape: String, _ v: [Double]) throws -> String {
            var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shape), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            let len = header.utf8.count
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(len & 255), UInt8(len >> 8)] + Array(header.utf8)
            for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
            let p = dir + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            return p
        }
        let x = try write("x.npy", shape: "(3, 2)", [1, 2, 3, 4, 5, 6])
        let y = try write("y.npy", shape: "(3, 4)", (0..<12).map(Double.init))
        let ds = try NPY.loadDataset(x: x, y: y, multiOutput: true)
        XCTAssertEqual(ds.outputs, 4); XCTAssertEqual(ds.Y, (0..<12).map(Double.init))
        XCTAssertEqual(ds.targets[2, 1], 9)
        XCTAssertThrowsError(try NPY.loadDataset(x: x, y: y)) { XCTAssertTrue("\($0)".contains(y)) }
        let y1 = try write("y1.npy", shape: "(3, 1)", [1, 2, 3])
        XCTAssertEqual(try NPY.loadDataset(x: x, y: y1, multiOutput: true).outputs, 1)
        let bad = try write("bad.npy", shape: "(2, 4)", (0..<8).map(Double.init))
        XCTAssertThrowsError(try NPY.loadDataset(x: x, y: bad, multiOutput: true)) { XCTAssertTrue("\($0)".contains(bad), "\($0)") }
    }
}
