import EOSModels
import EOSNumerics
import XCTest
@testable import EOSAnalysis

/// A miniature recorder: runs GD with the exact evaluator and records every series the analyzer
/// reads, the exact Gram at every step and θ at every step.
struct SimulatedRun {
    var input: AnalysisInput
    var grams: [[Double]]
    var thetas: [[Double]]
    var model: ModelDescription
    var X: Matrix
    var Y: [Double]

    init(model: ModelDescription, n: Int, steps: Int, etaTimesLambda0: Double, k: Int = 3, seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let d = model.inputDim
        let X = Matrix(rows: n, cols: d, data: rng.normals(n * d, std: 1 / Double(d).squareRoot()))
        let Y = (0..<n).map { _ in rng.uniform() < 0.5 ? -1.0 : 1.0 }
        let net = try Network(model)
        let ev = try ModelEvaluator(network: net, X: X, Y: Y)
        var theta = net.initialParameters(seed: seed)
        let lambda0 = try SymmetricEigen.topK(try ev.gram(theta), k: 1).values[0]
        let eta = etaTimesLambda0 / lambda0
        var input = AnalysisInput(steps: [], learningRate: eta, n: n, k: k, loss: [], residual: [], outputs: [], targets: Y,
                                  outputNormSq: [], sharpness: [], eigenvalues: [], eigenvectors: [], dtf: [],
                                  outputLayerSharpness: [], modelKind: model.kindName)
        var grams: [[Double]] = [], thetas: [[Double]] = []
        var prev: Matrix?
        for t in 0..<steps {
            let e = try ev.evaluate(theta)
            var pairs = try SymmetricEigen.topK(e.gram!, k: k)
            EigenvectorSigns.apply(&pairs.vectors, previous: prev)
            prev = pairs.vectors
            input.steps.append(Int64(t))
            input.loss.append(e.loss)
            input.residual += e.residual
            input.outputs! += e.outputs
            input.outputNormSq.append(e.outputNormSquared)
            input.sharpness.append(pairs.values[0])
            input.eigenvalues += pairs.values
            input.eigenvectors += pairs.vectors.data
            input.dtf.append(e.dtf)
            input.outputLayerSharpness!.append(e.outputLayerSharpness!)
            grams.append(e.gram!.data)
            thetas.append(theta)
            BLAS.axpy(-eta, e.gradient, &theta)
        }
        self.input = input; self.grams = grams; self.thetas = thetas; self.model = model; self.X = X; self.Y = Y
    }

    func replay(every: Int, corrupt: Bool = false, pipelined: Bool = true,
                failingCheckpoint: Int? = nil) throws -> ReplayGramProvider {
        let cks = Array(stride(from: 0, to: thetas.count, by: every))
        let thetas = self.thetas, input = self.input, n = input.n
        return try ReplayGramProvider(
            model: model, X: X, Y: Y, learningRate: input.learningRate, steps: input.steps,
            checkpointSteps: cks.map { Int64($0) },
            checkpoint: { j in
                if j == failingCheckpoint { throw AnalysisError.replay(file: "sim.h5", problem: "checkpoint \(j) unreadable") }
                var th = thetas[cks[j]]
                if corrupt && j == 1 { th[0] += 1e-3 }
                return th
            },
            recordedResidual: { Array(input.residual[($0 * n)..<(($0 + 1) * n)]) }, fileName: "sim.h5",
            pipelined: pipelined)
    }
}

extension ModelDescription {
    var kindName: String {
        switch self {
        case .mlp: return "mlp"
        case .twoLayerLinear: return "two_layer_linear"
        }
    }
}

final class ReplayTests: XCTestCase {
    func testReplayReproducesRecordedGramAndResults() throws {
        let model = ModelDescription.mlp(inputDim: 6, widths: [10, 7], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 12, steps: 40, etaTimesLambda0: 2.2, seed: 3)
        let replay = try run.replay(every: 10)
        let viaReplay = try Analyzer.analyze(run.input, gram: replay, replay: nil)
        let grams = run.grams
        let viaStored = try Analyzer.analyze(run.input, gram: ClosureGramProvider(source: .exact, label: "recorded", n: 12, dense: { grams[$0] }))
        XCTAssertEqual(replay.stepsReplayed, 38)   // rows 0…38 are requested (row 39 has no successor)
        XCTAssertEqual(replay.checkpointsCompared, 3)
        XCTAssertLessThanOrEqual(replay.maxCheckpointDrift, 1e-12)
        XCTAssertLessThanOrEqual(replay.maxResidualDrift, 1e-12)
        XCTAssertTrue(replay.report.withinTolerance)
        XCTAssertFalse(viaReplay.gram.approximate)
        XCTAssertEqual(viaReplay.gram.source, "replay_within_tolerance")
        for i in 0..<39 {
            XCTAssertEqual(viaReplay.perStep.rPrimeError[i], viaStored.perStep.rPrimeError[i],
                           accuracy: 1e-10 * max(1, viaStored.perStep.rPrimeError[i]))
            // Relative: where D barely moves the ratio is large (up to ~1e9 in this run).
            XCTAssertEqual(viaReplay.perStep.firstOrderError[i], viaStored.perStep.firstOrderError[i],
                           accuracy: 1e-10 * max(1, abs(viaStored.perStep.firstOrderError[i])))
        }
        // The exact Gram is exact: the first-order error is the genuine second-order remainder, small but nonzero.
        XCTAssertGreaterThan(viaReplay.checks.firstOrderResidual.all.median, 0)
        XCTAssertNil(viaReplay.checks.exactUpdate)   // not a two-layer linear run
        let g17 = try XCTUnwrap(try replay.gram(atRow: 17))
        for (a, b) in zip(g17, grams[17]) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b))) }
    }

    /// The pipelined replay (producer thread) must give the serial replay's M bit for bit, with the
    /// same drift statistics, for in-order, skipping and backward row requests.
    func testPipelinedReplayIsBitIdenticalToSerial() throws {
        let model = ModelDescription.mlp(inputDim: 6, widths: [10, 7], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 12, steps: 40, etaTimesLambda0: 2.2, seed: 5)
        let serial = try run.replay(every: 10, pipelined: false)
        let piped = try run.replay(every: 10, pipelined: true)
        let rows = Array(0..<12) + [17, 18, 25, 39, 3, 4, 31, 30, 30, 12]
        for r in rows {
            let a = try XCTUnwrap(try serial.gram(atRow: r)), b = try XCTUnwrap(try piped.gram(atRow: r))
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "row \(r)")
            XCTAssertEqual(serial.lastResidualDrift?.bitPattern, piped.lastResidualDrift?.bitPattern, "row \(r)")
            // Both match the recorded Gram to round-off.
            for (x, y) in zip(a, run.grams[r]) { XCTAssertEqual(x, y, accuracy: 1e-12 * max(1, abs(y))) }
        }
        XCTAssertEqual(serial.stepsReplayed, piped.stepsReplayed)
        XCTAssertEqual(serial.checkpointsCompared, piped.checkpointsCompared)
        XCTAssertGreaterThan(piped.checkpointsCompared, 2)
        XCTAssertEqual(serial.maxCheckpointDrift.bitPattern, piped.maxCheckpointDrift.bitPattern)
        XCTAssertEqual(serial.maxResidualDrift.bitPattern, piped.maxResidualDrift.bitPattern)
        XCTAssertEqual(serial.maxResidualDriftStep, piped.maxResidualDriftStep)
    }

    /// A checkpoint that cannot be read fails the request that needs it, in both modes — not an
    /// earlier one, although the producer thread runs ahead.
    func testPipelinedReplayReportsErrorsAtTheirRow() throws {
        let model = ModelDescription.mlp(inputDim: 4, widths: [5], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 8, steps: 25, etaTimesLambda0: 1.5, seed: 9)
        for pipelined in [false, true] {
            let replay = try run.replay(every: 10, pipelined: pipelined, failingCheckpoint: 2)
            for r in 0..<20 { XCTAssertNotNil(try replay.gram(atRow: r), "row \(r)") }
            XCTAssertThrowsError(try replay.gram(atRow: 20)) { e in
                XCTAssertTrue("\(e)".contains("checkpoint 2 unreadable"), "\(e)")
            }
            // Earlier rows still work afterwards (the replay restarts from a checkpoint).
            XCTAssertNotNil(try replay.gram(atRow: 5))
        }
    }

    func testCheckpointMismatchIsReported() throws {
        let model = ModelDescription.mlp(inputDim: 4, widths: [5], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 8, steps: 25, etaTimesLambda0: 1.5, seed: 9)
        let replay = try run.replay(every: 10, corrupt: true)
        _ = try Analyzer.analyze(run.input, gram: replay)
        XCTAssertGreaterThan(replay.maxCheckpointDrift, 1e-6)
        XCTAssertFalse(replay.report.withinTolerance)
        // After the corrupted checkpoint at step 10 the replay follows it, so D drifts from the record.
        XCTAssertGreaterThan(replay.maxResidualDrift, 1e-8)
        XCTAssertGreaterThanOrEqual(replay.maxResidualDriftStep ?? 0, 10)
    }

    func testRowsBeforeFirstCheckpointFallBack() throws {
        let model = ModelDescription.mlp(inputDim: 4, widths: [5], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 8, steps: 20, etaTimesLambda0: 1.5, seed: 2)
        let thetas = run.thetas, input = run.input
        let replay = try ReplayGramProvider(model: model, X: run.X, Y: run.Y, learningRate: input.learningRate, steps: input.steps,
                                            checkpointSteps: [5], checkpoint: { _ in thetas[5] },
                                            recordedResidual: { Array(input.residual[($0 * 8)..<(($0 + 1) * 8)]) }, fileName: "x.h5")
        let r = try Analyzer.analyze(input, gram: replay)
        XCTAssertEqual(r.gram.rowsTopKFallback, 5)
        XCTAssertEqual(r.gram.rowsFromSource, 14)
        XCTAssertTrue(r.gram.approximate)
    }

    func testTwoLayerLinearExactUpdateIsRoundOff() throws {
        let model = ModelDescription.twoLayerLinear(inputDim: 5, width: 30)
        let run = try SimulatedRun(model: model, n: 10, steps: 30, etaTimesLambda0: 1.9, seed: 4)
        let r = try Analyzer.analyze(run.input, gram: try run.replay(every: 7))
        let check = try XCTUnwrap(r.checks.exactUpdate)
        XCTAssertEqual(check.relativeToResidual.count, 29)
        XCTAssertLessThan(check.relativeToResidual.max, 1e-12)
        // Without the second-order term the error is genuinely larger.
        XCTAssertGreaterThan(r.checks.firstOrderResidual.all.max, 100 * check.relativeToStep.max)
    }

    func testNoCheckpointsIsAnError() throws {
        let model = ModelDescription.mlp(inputDim: 4, widths: [5], activation: .tanh, bias: true, outputScale: 1)
        XCTAssertThrowsError(try ReplayGramProvider(model: model, X: Matrix(rows: 3, cols: 4), Y: [0, 0, 0], learningRate: 0.1,
                                                    steps: [0], checkpointSteps: [], checkpoint: { _ in [] },
                                                    recordedResidual: { _ in [] }, fileName: "f.h5")) { e in
            XCTAssertTrue("\(e)".contains("f.h5"))
        }
    }
}
