import XCTest
@testable import EOSRecorder
import EOSRun
import EOSModels
import EOSNumerics
import TrajectoryFormat
import HDF5Kit

final class TrainerTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "eosrecorder-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// n = 80 > the dense threshold, so the warm-started iterative solver is exercised.
    func smallConfig(_ model: ModelDescription, lr: Double, steps: Int = 60) -> RunConfig {
        RunConfig(data: DataSpec(kind: "synthetic", n: 80, seed: 3, d: 6, chi: 3, gap: 2, decay: 1.2), model: model,
                  initSeed: 1, initScale: 0.5, learningRate: lr, steps: steps, k: 3, spectrumEvery: 15, hessianEvery: 25,
                  checkpointEvery: 20, crossCheckEvery: 10)
    }

    /// `eigensolverCheck`: end as `eostrace record` does (`WriterSink.finish`, with /run@eigensolver_check).
    func runToFile(_ c: RunConfig, _ path: String, stopAfter: Int? = nil, eigensolverCheck: Bool = false) throws -> TrainerOutcome {
        let s = try RecordingSession.start(config: c, path: path)
        let out = try s.trainer.run(sink: s.sink, shouldStop: { stopAfter.map { s.trainer.step >= $0 } ?? false })
        if eigensolverCheck { try s.sink.finish(outcome: out, tolerance: c.eigenTolerance) } else { try s.sink.close(status: out.status) }
        return out
    }

    func compareFiles(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ra = try TrajectoryReader(path: a), rb = try TrajectoryReader(path: b)
        defer { ra.close(); rb.close() }
        XCTAssertEqual(try ra.steps(), try rb.steps(), file: file, line: line)
        for s in ["loss", "residual", "outputs", "output_norm_sq", "dtf", "grad_norm", "sharpness", "eigenvalues",
                  "output_layer_sharpness", "gram_residual", "r_prime", "r_prime_from_start", "eigensolver_iterations",
                  "eigensolver_matvecs"] {
            XCTAssertEqual(try ra.read(s), try rb.read(s), "series \(s) differs", file: file, line: line)
        }
        let va = try ra.eigenvectors().values, vb = try rb.eigenvectors().values
        XCTAssertEqual(va.count, vb.count)
        XCTAssertEqual(zip(va, vb).map { abs($0 - $1) }.max() ?? 0, 0, accuracy: 1e-12, file: file, line: line)
        XCTAssertEqual(try ra.checkpointSteps(), try rb.checkpointSteps(), file: file, line: line)
        let last = try ra.checkpointSteps().count - 1
        XCTAssertEqual(try ra.parameters(atCheckpointIndex: last), try rb.parameters(atCheckpointIndex: last), file: file, line: line)
        XCTAssertEqual(try ra.hessianSharpness(), try rb.hessianSharpness(), file: file, line: line)
        XCTAssertEqual(try ra.spectrum().values, try rb.spectrum().values, file: file, line: line)
        XCTAssertEqual(try ra.status(), .completed)
        XCTAssertEqual(try rb.status(), .completed)
    }

    func testInterruptedAndResumedRunEqualsUninterruptedRun() throws {
        for model in [ModelDescription.mlp(inputDim: 6, widths: [9, 7], activation: .tanh, bias: true, outputScale: 1),
                      .twoLayerLinear(inputDim: 6, width: 20)] {
            let c = smallConfig(model, lr: 0.2)
            let a = dir + "/a.h5", b = dir + "/b.h5"
            let full = try runToFile(c, a)
            XCTAssertEqual(full.status, .completed)
            let part = try runToFile(c, b, stopAfter: 33)
            XCTAssertEqual(part.status, .interrupted)
            XCTAssertEqual(try TrajectoryReader(path: b).status(), .interrupted)
            let r = try RecordingSession.resume(path: b)
            XCTAssertEqual(r.trainer.step, 20, "resume restarts at the last regular checkpoint")
            let out = try r.trainer.run(sink: r.sink)
            try r.sink.close(status: out.status)
            try compareFiles(a, b)
            XCTAssertEqual(try Validator().validate(path: b).count, 0)
            // Completed runs cannot be resumed.
            XCTAssertThrowsError(try RecordingSession.resume(path: a)) { XCTAssertTrue("\($0)".contains("completed")) }
        }
    }

    /// A killed writer (no final status): resume from the last checkpoint with a recorded row.
    func testResumeFromCheckpointBeforeLastRow() throws {
        let c = smallConfig(.mlp(inputDim: 6, widths: [5], activation: .softplus, bias: true, outputScale: 1), lr: 0.3)
        let a = dir + "/a.h5", b = dir + "/b.h5"
        _ = try runToFile(c, a)
        // Simulate: stop at 47 but pretend the stop checkpoint was never written by truncating to 40.
        _ = try runToFile(c, b, stopAfter: 47)
        let w = try TrajectoryWriter.resume(path: b, truncatingAfter: 45)
        try w.close(status: .interrupted)
        let r = try RecordingSession.resume(path: b)
        XCTAssertEqual(r.trainer.step, 40)
        let out = try r.trainer.run(sink: r.sink)
        try r.sink.close(status: out.status)
        try compareFiles(a, b)
    }

    func testRecordedValuesAgainstIndependentRecomputation() throws {
        let c = smallConfig(.mlp(inputDim: 6, widths: [10], activation: .tanh, bias: true, outputScale: 1), lr: 0.25, steps: 40)
        let data = try c.data.load()
        let net = try Network(c.model)
        let ev = try ModelEvaluator(network: net, X: data.X, Y: data.Y)
        let theta0 = net.initialParameters(seed: c.initSeed, scale: c.initScale)
        let trainer = try Trainer(config: c, evaluator: ev, theta: theta0)
        let sink = MemorySink()
        let out = try trainer.run(sink: sink)
        XCTAssertEqual(out.status, .completed)
        XCTAssertEqual(sink.records.map(\.step), Array(0...40))
        XCTAssertLessThan(out.maxCrossCheckDiscrepancy, 1e-8)
        XCTAssertEqual(out.crossChecks, 5)
        // Replay GD independently with the cheap path and recompute M and its top-k with LAPACK.
        var theta = theta0
        for t in 0...40 {
            let rec = sink.records[t]
            let g = try ev.lossAndGradient(theta)
            XCTAssertEqual(rec.loss, g.loss, accuracy: 1e-12 * g.loss)
            if t % 10 == 0 {
                let ref = try SymmetricEigen.topK(try ev.gram(theta), k: 3)
                for i in 0..<3 { XCTAssertEqual(rec.eigenvalues[i], ref.values[i], accuracy: 1e-8 * ref.values[0]) }
                for i in 0..<3 { XCTAssertEqual(abs(BLAS.dot(rec.eigenvectorMatrix.row(i), ref.vectors.row(i))), 1, accuracy: 1e-6) }
            }
            if t == 0 {
                var v0 = rec.eigenvectorMatrix; EigenvectorSigns.canonicalize(&v0)
                XCTAssertEqual(v0, rec.eigenvectorMatrix, "t=0: largest-magnitude entry positive")
            } else {
                for i in 0..<3 { XCTAssertGreaterThanOrEqual(BLAS.dot(rec.eigenvectorMatrix.row(i), sink.records[t - 1].eigenvectorMatrix.row(i)), 0) }
            }
            BLAS.axpy(-c.learningRate, g.gradient, &theta)
        }
        XCTAssertEqual(sink.checkpoints.map(\.step), [0, 20, 40])
        XCTAssertEqual(sink.spectra.map(\.step), [0, 15, 30])
        XCTAssertEqual(sink.hessian.map(\.step), [0, 25])
        // Hessian sharpness vs a dense Hessian from HVPs at step 25.
        let th25 = sink.checkpoints[1].parameters // θ(20); replay 5 steps
        var th = th25
        for _ in 0..<5 { try ev.gradientStep(&th, learningRate: c.learningRate) }
        let op = try HessianOperator(evaluator: ev, theta: th)
        var H = Matrix(rows: op.dimension, cols: op.dimension)
        for j in 0..<op.dimension { var e = [Double](repeating: 0, count: op.dimension); e[j] = 1; H.setRow(j, op.apply(e)) }
        let dense = try SymmetricEigen.allEigenvalues(H)[0]
        XCTAssertEqual(sink.hessian[1].value, dense, accuracy: 1e-6 * abs(dense))
    }

    func testDivergenceStopsWithValidFile() throws {
        var c = smallConfig(.mlp(inputDim: 6, widths: [8], activation: .tanh, bias: true, outputScale: 1), lr: 50, steps: 200)
        c.divergenceLoss = 1e4
        let p = dir + "/div.h5"
        let out = try runToFile(c, p, eigensolverCheck: true)
        XCTAssertEqual(out.status, .diverged)
        XCTAssertNotNil(out.divergenceReason)
        XCTAssertLessThan(out.lastStep, 200)
        let r = try TrajectoryReader(path: p)
        defer { r.close() }
        XCTAssertEqual(try r.status(), .diverged)
        XCTAssertEqual(try r.stepCount(), out.lastStep + 1)
        XCTAssertTrue(try r.read("loss").allSatisfy { $0.isFinite && $0 <= 1e4 })
        r.close()
        XCTAssertEqual(try Validator().validate(path: p).count, 0)
        let f = try HDF5File.open(p)
        let json = try f.group("/run").stringAttribute("eigensolver_check")
        try f.close()
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(obj["checks"] as? Int, out.crossChecks)
        XCTAssertLessThan(try XCTUnwrap(obj["max_relative_discrepancy"] as? Double), 1e-8)
    }

    /// With no effective loss threshold, overflow to Inf/NaN must still end as "diverged" with a valid file.
    func testOverflowDivergenceWithoutThreshold() throws {
        for model in [ModelDescription.twoLayerLinear(inputDim: 6, width: 20),
                      .mlp(inputDim: 6, widths: [8], activation: .relu, bias: true, outputScale: 1)] {
            var c = smallConfig(model, lr: 1e3, steps: 500)
            c.divergenceLoss = 1e300
            let p = dir + "/nan.h5"
            let out = try runToFile(c, p)
            XCTAssertEqual(out.status, .diverged, "\(model)")
            let r = try TrajectoryReader(path: p)
            XCTAssertEqual(try r.status(), .diverged)
            XCTAssertTrue(try r.read("loss").allSatisfy { $0.isFinite })
            r.close()
            XCTAssertEqual(try Validator().validate(path: p).count, 0)
        }
    }

    func testConfigJSONRoundTripAndErrors() throws {
        for p in Preset.allCases {
            let c = p.config
            try c.validate()
            let back = try JSONDecoder().decode(RunConfig.self, from: Data(c.jsonString().utf8))
            XCTAssertEqual(back, c)
        }
        let path = dir + "/c.json"
        try #"{"data":{"kind":"synthetic","n":30,"d":4},"model":{"kind":"two_layer_linear","input_dim":4,"width":8},"learning_rate":0.1,"steps":5}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let c = try RunConfig.load(path: path)
        XCTAssertEqual(c.k, 8); XCTAssertEqual(c.checkpointEvery, 500)
        for bad in [#"{"data":{"kind":"synthetic"},"model":{"kind":"mlp","input_dim":4,"widths":[3]},"steps":5}"#,
                    #"{"data":{"kind":"synthetic"},"model":{"kind":"mlp","input_dim":4,"widths":[3]},"learning_rate":-1,"steps":5}"#,
                    #"{"data":{"kind":"synthetic"},"model":{"kind":"mlp","input_dim":4,"widths":[3]},"learning_rate":"x","steps":5}"#,
                    "{"] {
            try bad.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try RunConfig.load(path: path)) { e in
                XCTAssertTrue("\(e)".hasPrefix(path), "\(e)"); XCTAssertFalse("\(e)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try DataSpec(kind: "imagenet").load())
    }

    /// The same configuration as YAML (.yaml/.yml) gives the same RunConfig as JSON; broken YAML and
    /// bad values are one line naming the file.
    func testConfigYAMLMatchesJSONAndErrorsAreOneLine() throws {
        let json = dir + "/c.json", yaml = dir + "/c.yaml"
        try #"{"data":{"kind":"synthetic","n":30,"d":4,"seed":3},"model":{"kind":"mlp","input_dim":4,"widths":[5,3],"activation":"tanh"},"learning_rate":0.1,"steps":5,"k":2}"#
            .write(toFile: json, atomically: true, encoding: .utf8)
        try """
        # a comment
        data: {kind: synthetic, n: 30, d: 4, seed: 3}
        model:
          kind: mlp
          input_dim: 4
          widths: [5, 3]
          activation: tanh
        learning_rate: 0.1
        steps: 5
        k: 2
        """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let fromJSON = try RunConfig.load(path: json), fromYAML = try RunConfig.load(path: yaml)
        XCTAssertEqual(fromYAML, fromJSON)
        XCTAssertEqual(fromYAML.k, 2)
        XCTAssertEqual(fromYAML.learningRate, 0.1)
        let yml = dir + "/c.yml"
        for bad in ["data: {kind: synthetic\nmodel: [", "data: {kind: synthetic}\nmodel: {kind: mlp, input_dim: 4, widths: [3]}\nlearning_rate: x\nsteps: 5",
                    "data: {kind: synthetic}\nmodel: {kind: mlp, input_dim: 4, widths: [3]}\nlearning_rate: -1\nsteps: 5"] {
            try bad.write(toFile: yml, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try RunConfig.load(path: yml)) { e in
                XCTAssertTrue("\(e)".hasPrefix(yml), "\(e)"); XCTAssertFalse("\(e)".contains("\n"), "\(e)")
            }
        }
    }
}

final class RecorderAPITests: XCTestCase {
    func testRecorderWritesFileFromGramAndChecksShapes() throws {
        let path = NSTemporaryDirectory() + "recorder-api-\(getpid()).h5"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SeededRNG(seed: 4)
        let n = 70, d = 3
        let X = Matrix(rows: n, cols: d, data: rng.normals(n * d)), Y = rng.normals(n)
        let net = try Network(.mlp(inputDim: d, widths: [6], activation: .tanh, bias: true, outputScale: 1))
        let ev = try ModelEvaluator(network: net, X: X, Y: Y)
        var theta = net.initialParameters(seed: 2)
        let rec = try Recorder(path: path, X: X, Y: Y, learningRate: 0.1, k: 2, model: net.description.jsonString(),
                               parameterCount: net.parameterCount)
        var expected: [[Double]] = []
        for t in 0..<12 {
            let e = try ev.evaluate(theta)
            try rec.record(step: t, residual: e.residual, outputs: e.outputs, outputNormSquared: e.outputNormSquared, gram: e.gram!)
            expected.append(try SymmetricEigen.topK(e.gram!, k: 2).values)
            if t == 0 { try rec.checkpoint(step: 0, parameters: theta) }
            BLAS.axpy(-0.1, e.gradient, &theta)
        }
        // Shape and order errors, nothing written for them.
        XCTAssertThrowsError(try rec.record(step: 12, residual: [1, 2], outputNormSquared: 1, gram: Matrix.identity(n)))
        XCTAssertThrowsError(try rec.record(step: 12, residual: Y, outputNormSquared: 1, gram: Matrix.identity(3)))
        XCTAssertThrowsError(try rec.record(step: 5, residual: Y, outputNormSquared: 1, gram: Matrix.identity(n)))
        XCTAssertThrowsError(try rec.record(step: 13, residual: Y, outputNormSquared: 1, eigenvalues: [1, 2],
                                            eigenvectors: Matrix(rows: 2, cols: n)))
        XCTAssertThrowsError(try rec.record(step: 13, residual: Y.map { _ in .nan }, outputNormSquared: 1, gram: Matrix.identity(n)))
        try rec.finish()
        let r = try TrajectoryReader(path: path)
        defer { r.close() }
        XCTAssertEqual(try r.stepCount(), 12)
        let ev2 = try r.readRows("eigenvalues")
        for t in 0..<12 { for i in 0..<2 { XCTAssertEqual(ev2[t, i], expected[t][i], accuracy: 1e-8 * expected[t][0]) } }
        XCTAssertEqual(try r.status(), .completed)
        XCTAssertEqual(try Validator().validate(path: path).count, 0)
        XCTAssertThrowsError(try Recorder(path: path + "x", X: X, Y: [1], learningRate: 0.1, k: 2))
    }
}
