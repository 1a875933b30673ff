import EOSModels
import EOSNumerics
import Foundation
import TrajectoryFormat
import XCTest
@testable import EOSAnalysis

/// A miniature c-output recorder: GD on an MLP with c outputs (`Network(_:outputs:)`), every series
/// the analyzer reads flattened sample-major (index i·c + a), the dense M = (2/n)JJᵀ (nc × nc) of
/// `evaluateMultiOutput`, θ at every step, and the M-products computed here with plain loops over
/// [n][c] arrays (independently of the analyzer's flattened row pass).
struct SimulatedMultiRun {
    var input: AnalysisInput
    var grams: [[Double]]
    var thetas: [[Double]]
    var network: Network
    var X: Matrix
    let c: Int

    init(n: Int, c: Int, steps: Int, etaTimesLambda0: Double, k: Int = 3, seed: UInt64, storedEigenvectors: Int? = nil) throws {
        var rng = SeededRNG(seed: seed)
        let d = 5
        let model = ModelDescription.mlp(inputDim: d, widths: [9], activation: .tanh, bias: true, outputScale: 1)
        let X = Matrix(rows: n, cols: d, data: rng.normals(n * d, std: 1 / Double(d).squareRoot()))
        var Y = [Double](repeating: 0, count: n * c)          // one-hot, sample-major
        for i in 0..<n { Y[i * c + i % c] = 1 }
        let net = try Network(model, outputs: c)
        let ev = try ModelEvaluator(network: net, X: X, Y: Y)
        var theta = net.initialParameters(seed: seed)
        let m0 = try ev.evaluateMultiOutput(theta).1.denseGram()
        let eta = etaTimesLambda0 / (try SymmetricEigen.topK(m0, k: 1).values[0])
        let j = storedEigenvectors ?? k
        var input = AnalysisInput(steps: [], learningRate: eta, n: n, outputCount: c, k: k, loss: [], residual: [], outputs: [],
                                  targets: Y, outputNormSq: [], sharpness: [], eigenvalues: [], eigenvectors: [],
                                  storedEigenvectors: j, dtf: [], outputLayerSharpness: [], modelKind: "mlp")
        var grams: [[Double]] = [], thetas: [[Double]] = []
        var prev: Matrix?
        for t in 0..<steps {
            let (e, factors) = try ev.evaluateMultiOutput(theta)
            let m = try factors.denseGram()
            var pairs = try SymmetricEigen.topK(m, k: k)
            EigenvectorSigns.apply(&pairs.vectors, previous: prev)
            prev = pairs.vectors
            input.steps.append(Int64(t))
            input.loss.append(e.loss)
            input.residual += e.residual
            input.outputs! += e.outputs
            input.outputNormSq.append(e.outputNormSquared)
            input.sharpness.append(pairs.values[0])
            input.eigenvalues += pairs.values
            input.eigenvectors += pairs.vectors.data[0..<(j * n * c)]
            input.dtf.append(e.dtf)
            input.outputLayerSharpness!.append(try factors.outputLayerSharpness())
            grams.append(m.data)
            thetas.append(theta)
            BLAS.axpy(-eta, e.gradient, &theta)
        }
        self.input = input; self.grams = grams; self.thetas = thetas; network = net; self.X = X; self.c = c
    }

    /// D(t) as [n][c].
    func residual2D(_ row: Int) -> [[Double]] {
        let n = input.n
        return (0..<n).map { i in (0..<c).map { a in input.residual[row * n * c + i * c + a] } }
    }

    /// v1(t) as [n][c].
    func v12D(_ row: Int) -> [[Double]] {
        let n = input.n, j = input.storedEigenvectors
        return (0..<n).map { i in (0..<c).map { a in input.eigenvectors[row * j * n * c + i * c + a] } }
    }

    /// M(t) X for X [n][c]: Σ_{j,b} M[(i,a),(j,b)] X[j][b].
    func apply(_ row: Int, _ x: [[Double]]) -> [[Double]] {
        let n = input.n, nc = n * c, m = grams[row]
        return (0..<n).map { i in (0..<c).map { a in
            var s = 0.0
            for j in 0..<n { for b in 0..<c { s += m[(i * c + a) * nc + j * c + b] * x[j][b] } }
            return s
        } }
    }

    /// The M-products of SPEC-style recording: M(t)D(t), R′ restarted at every causal phase-II
    /// start, R′ from the first step (flattened for `ProductSource`).
    var products: (source: ProductSource, rPrime: [[[Double]]], rPrimeFromStart: [[[Double]]]) {
        let eta = input.learningRate, t = input.count
        func inner(_ x: [[Double]], _ y: [[Double]]) -> Double { zip(x, y).reduce(0.0) { $0 + zip($1.0, $1.1).reduce(0.0) { $0 + $1.0 * $1.1 } } }
        var g: [[Double]] = [], rp: [[[Double]]] = [], rs: [[[Double]]] = []
        var p: [[Double]] = [], s: [[Double]] = []
        for i in 0..<t {
            let d = residual2D(i), v = v12D(i), c1 = inner(d, v)
            let r = zip(d, v).map { zip($0.0, $0.1).map { $0.0 - c1 * $0.1 } }
            if i == 0 { p = r; s = r }
            if input.sharpness[i] > 2 / eta && (i == 0 || input.sharpness[i - 1] <= 2 / eta) { p = r }
            g.append(apply(i, d).flatMap { $0 })
            rp.append(p); rs.append(s)
            func step(_ x: [[Double]]) -> [[Double]] {
                let along = inner(x, v)
                let mx = apply(i, zip(x, v).map { zip($0.0, $0.1).map { $0.0 - along * $0.1 } })
                return zip(x, mx).map { zip($0.0, $0.1).map { $0.0 - eta * $0.1 } }
            }
            p = step(p); s = step(s)
        }
        let gf = g, pf = rp.map { $0.flatMap { $0 } }, sf = rs.map { $0.flatMap { $0 } }
        return (ProductSource(gramResidual: { gf[$0] }, rPrime: { pf[$0] }, rPrimeFromStart: { sf[$0] }), rp, rs)
    }
}

final class MultiOutputAnalysisTests: XCTestCase {
    private func close(_ a: Double, _ b: Double, rel: Double, abs absTol: Double = 1e-300, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        if a.isNaN || b.isNaN { XCTAssertEqual(a.isNaN, b.isNaN, what, file: file, line: line); return }
        XCTAssertEqual(a, b, accuracy: max(rel * Swift.abs(b), absTol), what, file: file, line: line)
    }

    /// c1, ‖R‖²/n (n the sample count), the R′ errors and the first-order error of D on vec(D),
    /// against plain [n][c] computations; products and the dense provider give the same numbers.
    func testDecompositionRPrimeAndFirstOrderOnVecD() throws {
        let run = try SimulatedMultiRun(n: 8, c: 3, steps: 40, etaTimesLambda0: 2.3, seed: 11)
        let input = run.input, n = input.n, eta = input.learningRate
        XCTAssertEqual(input.dimension, 24)
        let (products, rp, rs) = run.products
        var withProducts = input
        withProducts.products = products
        let grams = run.grams
        let viaProducts = try Analyzer.analyze(withProducts, gram: ForbiddenGramProvider())
        let viaDense = try Analyzer.analyze(input, gram: ClosureGramProvider(source: .exact, label: "dense nc×nc", n: 24,
                                                                                dense: { grams[$0] }))
        XCTAssertFalse(viaProducts.gram.approximate)
        XCTAssertFalse(viaDense.gram.approximate)
        XCTAssertEqual(viaProducts.run.outputs, 3)
        XCTAssertTrue(viaProducts.perStep.phase.contains(2), "the run crosses 2/η")
        func norm(_ x: [[Double]]) -> Double { x.joined().reduce(0.0) { $0 + $1 * $1 }.squareRoot() }
        for i in 0..<input.count {
            let d = run.residual2D(i), v = run.v12D(i)
            var c1 = 0.0, dd = 0.0
            for s in 0..<n { for a in 0..<3 { c1 += d[s][a] * v[s][a]; dd += d[s][a] * d[s][a] } }
            let r = (0..<n).map { s in (0..<3).map { a in d[s][a] - c1 * v[s][a] } }
            for res in [viaProducts, viaDense] {
                close(res.perStep.c1[i], c1, rel: 1e-12, "c1 row \(i)")
                close(res.perStep.rNormSq[i], norm(r) * norm(r) / Double(n), rel: 1e-12, "‖R‖²/n row \(i)")
            }
            // L = ‖D‖_F²/n = c1²/n + ‖R‖²/n.
            close(input.loss[i], dd / Double(n), rel: 1e-12, "loss row \(i)")
            close(viaDense.perStep.rNormSq[i] + c1 * c1 / Double(n), input.loss[i], rel: 1e-10, "split row \(i)")
            let eS = norm(zip(r, rs[i]).map { zip($0.0, $0.1).map { $0.0 - $0.1 } })
            let eP = norm(zip(r, rp[i]).map { zip($0.0, $0.1).map { $0.0 - $0.1 } })
            for res in [viaProducts, viaDense] {
                // At a restart R′ = R: the error is round-off of ‖R‖.
                close(res.perStep.rPrimeErrorFromStart[i], eS, rel: 1e-8, abs: 1e-14 * norm(r), "R′ from start row \(i)")
                close(res.perStep.rPrimeError[i], eP, rel: 1e-8, abs: 1e-14 * norm(r), "R′ row \(i)")
            }
            guard i + 1 < input.count else { continue }
            let dn = run.residual2D(i + 1), md = run.apply(i, d)
            var e = 0.0, st = 0.0
            for s in 0..<n { for a in 0..<3 {
                let step = dn[s][a] - d[s][a]
                e += (step + eta * md[s][a]) * (step + eta * md[s][a]); st += step * step
            } }
            close(viaProducts.perStep.firstOrderError[i], (e / st).squareRoot(), rel: 1e-10, "first-order row \(i)")
            close(viaDense.perStep.firstOrderError[i], (e / st).squareRoot(), rel: 1e-8, "first-order (dense) row \(i)")
            // ‖A‖² line of the paper: Δ‖A‖_F² + (4η/n)⟨D, F⟩_F, n the sample count.
            let f = (0..<n).map { s in (0..<3).map { a in input.outputs![i * 24 + s * 3 + a] } }
            var dtf = 0.0
            for s in 0..<n { for a in 0..<3 { dtf += d[s][a] * f[s][a] } }
            close(input.dtf[i], dtf, rel: 1e-12, "⟨D, F⟩_F row \(i)")
            let change = input.outputNormSq[i + 1] - input.outputNormSq[i]
            close(viaDense.perStep.outputNormFirstOrderError[i], abs(change + 4 * eta / Double(n) * dtf) / abs(change),
                  rel: 1e-10, "‖A‖² line row \(i)")
            // Anomaly: sign ΔΛ ≠ sign Δ‖A‖².
            let dl = input.sharpness[i + 1] - input.sharpness[i]
            XCTAssertEqual(viaDense.perStep.anomaly[i], dl != 0 && change != 0 && (dl > 0) != (change > 0) ? 1 : 0, "anomaly row \(i)")
        }
        XCTAssertEqual(viaProducts.phases.cycles.count, viaDense.phases.cycles.count)
        XCTAssertEqual(viaProducts.story.map(\.verdict), viaDense.story.map(\.verdict))
    }

    /// The bias-exact line −(4η/n)⟨D, F − 1βᵀ⟩: β carried per output by GD's bias update equals
    /// the biases in θ, and the line is exact to first order in η (Δ‖A‖² of a tiny step).
    func testBiasExactLineForSeveralOutputs() throws {
        let run = try SimulatedMultiRun(n: 8, c: 3, steps: 12, etaTimesLambda0: 0.01, seed: 5)
        let input = run.input, c = 3, n = input.n, eta = input.learningRate
        let beta = run.thetas.map { Array($0.suffix(c)) }
        XCTAssertTrue(beta[5].contains { Swift.abs($0) > 1e-6 }, "the output biases move")
        let bias = OutputBias.carried(input, anchors: [(row: 4, beta: beta[4])], scale: 1)
        for i in 0..<input.count { for a in 0..<c { close(bias.perOutput![i * c + a], beta[i][a], rel: 1e-10, "β_\(a) row \(i)") } }
        let result = try Analyzer.analyze(input, outputBias: bias)
        let line = try XCTUnwrap(result.checks.outputBias)
        var exactErrors: [Double] = [], paperErrors: [Double] = []
        for i in 0..<(input.count - 1) {
            var inner = 0.0       // ⟨D, F − 1βᵀ⟩
            for s in 0..<n { for a in 0..<c {
                let j = i * n * c + s * c + a
                inner += input.residual[j] * (input.outputs![j] - beta[i][a])
            } }
            let change = input.outputNormSq[i + 1] - input.outputNormSq[i]
            exactErrors.append(abs(change + 4 * eta / Double(n) * inner) / abs(change))
            paperErrors.append(result.perStep.outputNormFirstOrderError[i])
        }
        XCTAssertEqual(line.error.all.median, Distribution(exactErrors).median, accuracy: 1e-9 * Distribution(exactErrors).median)
        // First order in η: the bias-exact error is O(ηΛ) = 1e-2; the paper's line misses the bias term.
        XCTAssertLessThan(Distribution(exactErrors).max, 0.05)
        XCTAssertLessThan(Distribution(exactErrors).median, Distribution(paperErrors).median)
    }

    /// Without products or a Gram, a c-output input falls back to the top-j approximation of the
    /// stored eigenpairs, labelled approximate; the top-k matrix has the nc × nc shape.
    func testTopKFallbackWithFewerStoredEigenvectors() throws {
        let run = try SimulatedMultiRun(n: 6, c: 4, steps: 15, etaTimesLambda0: 2.1, k: 3, seed: 2, storedEigenvectors: 2)
        let input = run.input
        XCTAssertEqual(input.eigenvectors.count, 15 * 2 * 24)
        let result = try Analyzer.analyze(input)
        XCTAssertTrue(result.gram.approximate)
        XCTAssertTrue(result.gram.label.contains("top-2"), result.gram.label)
        let topK = TopKGramProvider(input)
        let m = try XCTUnwrap(try topK.gram(atRow: 3))
        XCTAssertEqual(m.count, 24 * 24)
        // Σ_{i≤2} λ_i v_i v_iᵀ applied to v1 is λ1 v1.
        let v1 = Array(input.leadingEigenvector(row: 3))
        let mv = try XCTUnwrap(try topK.applyGram(atRow: 3, to: v1, count: 1))
        for j in 0..<24 { XCTAssertEqual(mv[j], input.sharpness[3] * v1[j], accuracy: 1e-12) }
        XCTAssertEqual(result.perStep.c1.count, 15)
        XCTAssertTrue(result.summaryText().contains("c=4 outputs"))
        let json = String(decoding: try result.jsonData(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"outputs\" : 4") || json.contains("\"outputs\":4"), "JSON names c")
    }

    /// One output: no `outputs` key in the JSON (c = 1 output unchanged).
    func testOneOutputJSONHasNoOutputsKey() throws {
        let result = try Analyzer.analyze(scalarInput(sharpness: [1, 3, 1, 1]))
        XCTAssertNil(result.run.outputs)
        let json = String(decoding: try result.jsonData(), as: UTF8.self)
        XCTAssertFalse(json.contains("\"outputs\""))
    }

    /// Shapes are checked against n·c: one line naming the series.
    func testValidationUsesNTimesC() throws {
        let run = try SimulatedMultiRun(n: 4, c: 2, steps: 3, etaTimesLambda0: 1, seed: 1)
        var bad = run.input
        bad.residual.removeLast(2)
        XCTAssertThrowsError(try Analyzer.analyze(bad)) { error in
            XCTAssertEqual("\(error)", "analysis input residual: has 22 values, expected 24")
        }
        var badJ = run.input
        badJ.storedEigenvectors = 4
        XCTAssertThrowsError(try Analyzer.analyze(badJ)) { error in
            XCTAssertTrue("\(error)".hasPrefix("analysis input eigenvectors: 4 eigenvectors stored per step"), "\(error)")
        }
    }
}

/// A c-output run written as a format-2.0 recording (TrajectoryWriter) and analyzed from the file.
final class MultiOutputFileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("eosanalysis-c-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func record(_ run: SimulatedMultiRun, name: String, products: Bool, checkpoints: Bool = true) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let input = run.input, nc = input.dimension, k = input.k, j = input.storedEigenvectors
        var meta = RunMetadata(learningRate: input.learningRate, n: input.n, p: run.thetas[0].count, k: k,
                               model: run.network.description.jsonString(), softwareVersion: "test")
        meta.outputCount = run.c
        meta.eigenvectorsStored = j < k ? j : nil
        var options = WriterOptions(outputs: true, outputLayerSharpness: true, checkpoints: checkpoints, swmr: false)
        options.products = products
        let w = try TrajectoryWriter(path: path, metadata: meta, X: .stored(values: run.X.data, d: run.X.cols),
                                     Y: input.targets!, options: options)
        let p = run.products
        let g = (0..<input.count).map { try! p.source.gramResidual!($0) }
        for i in 0..<input.count {
            var row = StepRow(step: input.steps[i], loss: input.loss[i], residual: Array(input.residualVector(row: i)),
                              outputNormSq: input.outputNormSq[i], sharpness: input.sharpness[i],
                              eigenvalues: Array(input.eigenvalues[(i * k)..<((i + 1) * k)]),
                              eigenvectors: Array(input.eigenvectors[(i * j * nc)..<((i + 1) * j * nc)]), dtf: input.dtf[i],
                              outputs: Array(input.outputs![(i * nc)..<((i + 1) * nc)]),
                              outputLayerSharpness: input.outputLayerSharpness![i])
            if products {
                row.products = StepProducts(gramResidual: g[i], rPrime: p.rPrime[i].flatMap { $0 },
                                            rPrimeFromStart: p.rPrimeFromStart[i].flatMap { $0 })
            }
            try w.append(row)
            if checkpoints && i % 10 == 0 { try w.appendCheckpoint(step: input.steps[i], parameters: run.thetas[i]) }
        }
        try w.close()
        return path
    }

    /// From the file: the same per-step numbers as in memory, exact through the products; the
    /// /analysis file is written; without products GD is replayed from the checkpoints with the
    /// c-output evaluator (same numbers), and without checkpoints the top-k fallback says why.
    func testAnalyzeMultiOutputRecording() throws {
        let run = try SimulatedMultiRun(n: 8, c: 3, steps: 30, etaTimesLambda0: 2.3, k: 3, seed: 11, storedEigenvectors: 2)
        let path = try record(run, name: "c3.h5", products: true)
        let reader = try TrajectoryReader(path: path)
        defer { reader.close() }
        XCTAssertEqual(reader.formatVersion, [2, 0])
        let analysed = try Analyzer.analyzeRecording(reader: reader)
        let r = analysed.result
        XCTAssertEqual(analysed.input.outputCount, 3)
        XCTAssertEqual(analysed.input.storedEigenvectors, 2)
        XCTAssertEqual(analysed.input.residual, run.input.residual)
        XCTAssertFalse(r.gram.approximate, r.gram.label)
        XCTAssertEqual(r.gram.source, MSourceKind.recordedProducts.rawValue)
        var mem = run.input
        mem.products = run.products.source
        let expected = try Analyzer.analyze(mem, gram: ForbiddenGramProvider())
        XCTAssertEqual(r.perStep.phase, expected.perStep.phase)
        XCTAssertEqual(r.perStep.anomaly, expected.perStep.anomaly)
        XCTAssertEqual(r.perStep.c1, expected.perStep.c1)
        XCTAssertEqual(r.perStep.rNormSq, expected.perStep.rNormSq)
        XCTAssertEqual(r.perStep.rPrimeError.map { $0.isNaN ? -1 : $0 }, expected.perStep.rPrimeError.map { $0.isNaN ? -1 : $0 })
        // The bias-exact line from the checkpoints' c output biases.
        let bias = try XCTUnwrap(r.checks.outputBias)
        XCTAssertTrue(bias.note.contains("last 3 entries"), bias.note)
        XCTAssertTrue(r.summaryText().contains("c=3 outputs"))
        let out = dir.appendingPathComponent("c3.analysis.h5").path
        try AnalysisFile.write(r, to: out, sourceFile: path, softwareVersion: "test")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))

        // Replay as a verification: the replayed products equal the recorded ones to round-off.
        let verified = try Analyzer.analyze(reader: reader, verifyReplay: true)
        let ver = try XCTUnwrap(verified.gram.verification)
        XCTAssertEqual(ver.rowsBeyondTolerance, 0)
        XCTAssertLessThan(try XCTUnwrap(ver.maxGramResidualDifference), 1e-12)
        XCTAssertLessThan(try XCTUnwrap(ver.maxRPrimeDifference), 1e-10)

        let bare = try record(run, name: "c3-bare.h5", products: false)
        let br = try TrajectoryReader(path: bare)
        defer { br.close() }
        let b = try Analyzer.analyze(reader: br)
        XCTAssertEqual(b.gram.source, MSourceKind.replayWithinTolerance.rawValue, b.gram.label)
        XCTAssertFalse(b.gram.approximate)
        XCTAssertEqual(b.perStep.c1, expected.perStep.c1)
        for i in 0..<b.perStep.rPrimeError.count {
            let x = b.perStep.rPrimeError[i], y = expected.perStep.rPrimeError[i]
            XCTAssertEqual(x, y, accuracy: max(1e-9 * y, 1e-13), "replayed R′ row \(i)")
            let f = b.perStep.firstOrderError[i], g = expected.perStep.firstOrderError[i]
            if g.isFinite { XCTAssertEqual(f, g, accuracy: 1e-9 * g, "replayed first-order row \(i)") }
        }

        let none = try record(run, name: "c3-none.h5", products: false, checkpoints: false)
        let nr = try TrajectoryReader(path: none)
        defer { nr.close() }
        let t = try Analyzer.analyze(reader: nr)
        XCTAssertTrue(t.gram.approximate)
        XCTAssertTrue(t.gram.note?.contains("no parameter checkpoints") == true, t.gram.note ?? "nil")
        XCTAssertEqual(t.perStep.c1, expected.perStep.c1)
    }
}
