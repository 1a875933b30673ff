import EOSModels
import EOSNumerics
import Foundation
import HDF5Kit
import TrajectoryFormat
import XCTest
@testable import EOSAnalysis

final class FileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("eosanalysis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes a simulated run as a recording; `checkpointEvery` 0 = no checkpoints; `gramEvery` 0 = no gram.
    func record(_ run: SimulatedRun, name: String, checkpointEvery: Int = 10, gramEvery: Int = 0,
                model: String? = nil) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let input = run.input, n = input.n, k = input.k
        let meta = RunMetadata(learningRate: input.learningRate, n: n, p: run.thetas[0].count, k: k,
                               model: model ?? run.model.jsonString(), softwareVersion: "test")
        let w = try TrajectoryWriter(path: path, metadata: meta, X: .stored(values: run.X.data, d: run.X.cols), Y: run.Y,
                                     options: WriterOptions(outputs: true, outputLayerSharpness: true,
                                                            checkpoints: checkpointEvery > 0, gram: gramEvery > 0, swmr: false))
        for i in 0..<input.count {
            try w.append(StepRow(step: input.steps[i], loss: input.loss[i], residual: Array(input.residual[(i * n)..<((i + 1) * n)]),
                                 outputNormSq: input.outputNormSq[i], sharpness: input.sharpness[i],
                                 eigenvalues: Array(input.eigenvalues[(i * k)..<((i + 1) * k)]),
                                 eigenvectors: Array(input.eigenvectors[(i * k * n)..<((i + 1) * k * n)]), dtf: input.dtf[i],
                                 outputs: Array(input.outputs![(i * n)..<((i + 1) * n)]),
                                 outputLayerSharpness: input.outputLayerSharpness![i]))
            if checkpointEvery > 0 && i % checkpointEvery == 0 { try w.appendCheckpoint(step: input.steps[i], parameters: run.thetas[i]) }
            if gramEvery > 0 && i % gramEvery == 0 { try w.appendGram(step: input.steps[i], matrix: run.grams[i]) }
        }
        try w.close()
        return path
    }

    func mlpRun() throws -> SimulatedRun {
        try SimulatedRun(model: .mlp(inputDim: 5, widths: [9], activation: .tanh, bias: true, outputScale: 1),
                         n: 10, steps: 30, etaTimesLambda0: 2.1, seed: 12)
    }

    func testReaderAdapterAndReplayFromFile() throws {
        let run = try mlpRun()
        let path = try record(run, name: "a.h5")
        let reader = try TrajectoryReader(path: path)
        defer { reader.close() }
        let input = try AnalysisInput(reader: reader)
        XCTAssertEqual(input.steps, run.input.steps)
        XCTAssertEqual(input.residual, run.input.residual)
        // Only v₁ is held; the k vectors of a row are read on demand, equal to the recorded ones.
        let k = run.input.k, n = run.input.n
        XCTAssertGreaterThan(k, 1)
        XCTAssertEqual(input.vectorsPerRow, 1)
        XCTAssertEqual(input.eigenvectors.count, run.input.count * n)
        for row in [0, 7, run.input.count - 1] {
            XCTAssertEqual(Array(input.leadingEigenvector(row: row)), Array(run.input.eigenvectors[(row * k * n)..<(row * k * n + n)]))
            XCTAssertEqual(try input.topEigenvectors(row: row), Array(run.input.eigenvectors[(row * k * n)..<((row + 1) * k * n)]))
        }
        let sub = try AnalysisInput(reader: reader, rows: 5..<12)
        XCTAssertEqual(try sub.topEigenvectors(row: 2), Array(run.input.eigenvectors[(7 * k * n)..<(8 * k * n)]))
        XCTAssertEqual(input.targets, run.Y)
        XCTAssertEqual(input.modelKind, "mlp")
        let r = try Analyzer.analyze(reader: reader)
        XCTAssertEqual(r.gram.source, "replay_within_tolerance")
        XCTAssertFalse(r.gram.approximate)
        let rep = try XCTUnwrap(r.gram.replay)
        XCTAssertEqual(rep.checkpoints, 3)
        XCTAssertLessThan(rep.maxRelativeDriftResidual, 1e-12)
        XCTAssertTrue(rep.withinTolerance)
        // Same numbers as the in-memory analysis with the recorded exact Gram.
        let grams = run.grams
        let mem = try Analyzer.analyze(run.input, gram: ClosureGramProvider(source: .exact, label: "x", n: 10, dense: { grams[$0] }))
        XCTAssertEqual(r.phases.cycles, mem.phases.cycles)
        for i in 0..<29 { XCTAssertEqual(r.perStep.firstOrderError[i], mem.perStep.firstOrderError[i], accuracy: 1e-10) }
    }

    func testFallbacksAreLabelled() throws {
        let run = try mlpRun()
        let noCk = try record(run, name: "b.h5", checkpointEvery: 0)
        let r1 = try Analyzer.analyze(reader: try TrajectoryReader(path: noCk))
        XCTAssertEqual(r1.gram.source, "top_k_approximation")
        XCTAssertTrue(r1.gram.approximate)
        XCTAssertEqual(r1.gram.note, "not replayable: no parameter checkpoints (/trajectory/parameters); no stored gram")
        XCTAssertThrowsError(try Analyzer.analyze(reader: try TrajectoryReader(path: noCk), gram: .replay)) { e in
            XCTAssertTrue("\(e)".contains("b.h5"))
        }
        let ext = try record(run, name: "c.h5", gramEvery: 3, model: #"{"kind":"external","input_dim":5}"#)
        let r2 = try Analyzer.analyze(reader: try TrajectoryReader(path: ext))
        XCTAssertEqual(r2.gram.source, "stored_gram")
        XCTAssertEqual(r2.gram.rowsFromSource, 10)       // rows 0, 3, …, 27
        XCTAssertEqual(r2.gram.rowsTopKFallback, 19)
        XCTAssertTrue(r2.gram.note?.hasPrefix("not replayable: model description") ?? false)
        // Rows with a stored gram use the exact M: same first-order error as with the exact Gram.
        let grams = run.grams
        let exact = try Analyzer.analyze(run.input, gram: ClosureGramProvider(source: .exact, label: "x", n: 10, dense: { grams[$0] }))
        XCTAssertEqual(r2.perStep.firstOrderError[3], exact.perStep.firstOrderError[3], accuracy: 1e-12)
        XCTAssertNotEqual(r2.perStep.firstOrderError[4], exact.perStep.firstOrderError[4])
    }

    func testAnalysisFileAndInPlace() throws {
        let run = try mlpRun()
        let path = try record(run, name: "d.h5")
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = try TrajectoryReader(path: path)
        let r = try Analyzer.analyze(reader: reader)
        reader.close()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "analysis must not modify the recording")

        let out = dir.appendingPathComponent("out.h5").path
        try AnalysisFile.write(r, to: out, sourceFile: path, softwareVersion: "test")
        let f = try HDF5File.open(out)
        let phase = try f.dataset("/analysis/phase")
        XCTAssertEqual(try phase.typeInfo().elementType, .int8)
        XCTAssertEqual(try phase.read(Int8.self), r.perStep.phase)
        XCTAssertEqual(try f.dataset("/analysis/anomaly").typeInfo().elementType, .uint8)
        XCTAssertEqual(try f.dataset("/analysis/step").read(Int64.self), run.input.steps)
        XCTAssertEqual(try f.dataset("/analysis/c1").attachedScales(axis: 0), ["/analysis/step"])
        let rpe = try f.dataset("/analysis/r_prime_error").read(Double.self)
        XCTAssertEqual(rpe.count, 30)
        let g = try f.group("/analysis")
        XCTAssertEqual(try g.stringAttribute("options"), try r.optionsJSON())
        let summary = try g.stringAttribute("summary")
        let decoded = try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any]
        XCTAssertNotNil(decoded?["checks"])
        XCTAssertEqual(try g.stringAttribute("source_file"), path)
        try f.close()

        // In place, twice: same values, the recording stays a valid recording.
        try AnalysisFile.writeInPlace(r, recording: path, softwareVersion: "test")
        try AnalysisFile.writeInPlace(r, recording: path, softwareVersion: "test")
        let rd = try TrajectoryReader(path: path)
        XCTAssertEqual(try rd.stepCount(), 30)
        rd.close()
        let f2 = try HDF5File.open(path)
        XCTAssertEqual(try f2.dataset("/analysis/phase").read(Int8.self), r.perStep.phase)
        XCTAssertEqual(try f2.dataset("/analysis/c1").attachedScales(axis: 0), ["/analysis/step"])
        XCTAssertEqual(try f2.dataset("/analysis/step").read(Int64.self), run.input.steps)
        try f2.close()
        if let keep = ProcessInfo.processInfo.environment["EOSTRACE_KEEP_DIR"] {
            try? FileManager.default.copyItem(atPath: path, toPath: keep + "/analysis-in-place.h5")
            try? FileManager.default.copyItem(atPath: out, toPath: keep + "/analysis-separate.h5")
        }
    }

    func testInPlaceRefusesMismatchedSteps() throws {
        let run = try mlpRun()
        let path = try record(run, name: "e.h5")
        var r = try Analyzer.analyze(run.input)
        r.perStep.step.removeLast()
        XCTAssertThrowsError(try AnalysisFile.writeInPlace(r, recording: path, softwareVersion: "t")) { e in
            XCTAssertTrue("\(e)".contains("/trajectory/step"))
        }
    }
}
