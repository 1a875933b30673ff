import XCTest
@testable import EOSRecorder
import EOSRun
import EOSModels
import EOSNumerics
import TrajectoryFormat

/// The pipelined trainer (GD chain of step t+1 on a producer thread during the recording of step t) writes
/// exactly what the serial one writes, including divergence and interruption.
final class PipelineTests: XCTestCase {
    func run(_ c: RunConfig, pipelined: Bool, stopAfter: Int? = nil) throws -> (MemorySink, TrainerOutcome, Trainer) {
        let setup = try RunSetup(config: c)
        let tr = try Trainer(config: c, evaluator: setup.evaluator, theta: setup.initialParameters)
        tr.pipelined = pipelined
        let sink = MemorySink(keep: true)
        var progressSteps: [Int] = []
        let out = try tr.run(sink: sink, shouldStop: { stopAfter.map { tr.step >= $0 } ?? false },
                             progress: { progressSteps.append($0.step) })
        XCTAssertEqual(progressSteps, sink.records.map { Int($0.step) }, "progress once per recorded step, in order")
        return (sink, out, tr)
    }

    func assertSame(_ a: (MemorySink, TrainerOutcome, Trainer), _ b: (MemorySink, TrainerOutcome, Trainer),
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.1.status, b.1.status, file: file, line: line)
        XCTAssertEqual(a.1.lastStep, b.1.lastStep, file: file, line: line)
        XCTAssertEqual(a.1.divergenceReason, b.1.divergenceReason, file: file, line: line)
        XCTAssertEqual(a.1.crossChecks, b.1.crossChecks, file: file, line: line)
        XCTAssertEqual(a.1.maxCrossCheckDiscrepancy, b.1.maxCrossCheckDiscrepancy, file: file, line: line)
        XCTAssertEqual(a.0.records.count, b.0.records.count, file: file, line: line)
        for (x, y) in zip(a.0.records, b.0.records) {
            XCTAssertEqual(x.step, y.step, file: file, line: line)
            XCTAssertEqual(x.loss, y.loss, file: file, line: line)
            XCTAssertEqual(x.eigenvalues, y.eigenvalues, file: file, line: line)
            XCTAssertEqual(x.eigenvectors, y.eigenvectors, file: file, line: line)
            XCTAssertEqual(x.outputLayerSharpness, y.outputLayerSharpness, file: file, line: line)
        }
        XCTAssertEqual(a.0.checkpoints.map(\.step), b.0.checkpoints.map(\.step), file: file, line: line)
        XCTAssertEqual(a.0.checkpoints.map(\.parameters), b.0.checkpoints.map(\.parameters), file: file, line: line)
        XCTAssertEqual(a.0.hessian.map(\.value), b.0.hessian.map(\.value), file: file, line: line)
        XCTAssertEqual(a.2.step, b.2.step, file: file, line: line)
        XCTAssertEqual(a.2.theta, b.2.theta, file: file, line: line)
    }

    func config(lr: Double, steps: Int = 40) -> RunConfig {
        RunConfig(data: DataSpec(kind: "synthetic", n: 80, seed: 3, d: 6, chi: 3, gap: 2, decay: 1.2),
                  model: .mlp(inputDim: 6, widths: [9, 7], activation: .tanh, bias: true, outputScale: 1),
                  initSeed: 1, initScale: 0.5, learningRate: lr, steps: steps, k: 3, spectrumEvery: 15, hessianEvery: 10,
                  checkpointEvery: 20, crossCheckEvery: 10)
    }

    func testPipelinedEqualsSerial() throws {
        let c = config(lr: 0.2)
        let p = try run(c, pipelined: true), s = try run(c, pipelined: false)
        XCTAssertEqual(p.1.status, .completed)
        XCTAssertEqual(p.0.records.count, 41)
        assertSame(p, s)
        // Interrupted after step 23: same state, same rows.
        assertSame(try run(c, pipelined: true, stopAfter: 23), try run(c, pipelined: false, stopAfter: 23))
        // Diverging run: same last row, same reason, θ and step at the divergence.
        var d = config(lr: 40, steps: 60)
        d.divergenceLoss = 1e4
        let dp = try run(d, pipelined: true), ds = try run(d, pipelined: false)
        XCTAssertEqual(dp.1.status, .diverged)
        assertSame(dp, ds)
    }
}
