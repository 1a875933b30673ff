import XCTest
@testable import EOSRun
import EOSModels
import EOSNumerics

/// The GD chain gives the same bits inline and on a producer thread.
final class GDChainTests: XCTestCase {
    func setup(widths: [Int], n: Int = 60, seed: UInt64 = 4) throws -> RunSetup {
        let c = RunConfig(data: .synthetic(.init(n: n, seed: seed, d: 8, chi: 3, gap: 2, decay: 1.2)),
                          model: .mlp(inputDim: 8, widths: widths, activation: .tanh, bias: true, outputScale: 1),
                          initSeed: seed, initScale: 1, learningRate: 0.3, steps: 10, k: 2)
        return try RunSetup(config: c)
    }

    struct Seen: Equatable {
        var step: Int64, theta: [Double], loss: Double, residual: [Double], gradient: [Double], dtf: Double
        var gram: [Double], applied: [Double]
    }

    func walk(_ chain: GDChain, indices: [Int], gramWork: Bool = false) throws -> [Seen] {
        defer { chain.stop() }
        return try indices.map { i in
            let it = try chain.item(at: i)
            let ev = it.evaluation!
            let m = gramWork ? it.work!.gram() : it.later!.gram()
            let v = (0..<(2 * ev.residual.count)).map { Double($0 % 7) - 3 }
            return Seen(step: it.step, theta: it.theta, loss: ev.loss, residual: ev.residual, gradient: ev.gradient, dtf: ev.dtf,
                        gram: m.data, applied: it.later!.apply(to: v, count: 2))
        }
    }

    /// Every step from θ(0), as the trainer runs it (with GramWork and the producer's helping).
    func testTrainerChainInlineEqualsThreaded() throws {
        let s = try setup(widths: [12, 10])
        func chain(_ threaded: Bool) -> GDChain {
            GDChain(evaluator: s.evaluator, learningRate: s.config.learningRate, theta: s.initialParameters, step: 0, lastStep: 8,
                    options: .init(divergence: { _ in nil }, gramWork: { _ in true }, threaded: threaded, capacity: 1))
        }
        let a = try walk(chain(false), indices: Array(0...8), gramWork: true)
        let b = try walk(chain(true), indices: Array(0...8), gramWork: true)
        XCTAssertEqual(a.count, 9)
        XCTAssertEqual(a, b)
        // θ(t+1) = θ(t) − η∇L(θ(t)), bit for bit.
        var th = s.initialParameters
        for x in a { XCTAssertEqual(x.theta, th); BLAS.axpy(-s.config.learningRate, x.gradient, &th) }
    }

    /// Sparse targets from checkpoints, as the replay runs it: same items, same checkpoint drifts,
    /// with and without the two-thread halves.
    func testReplayChainInlineEqualsThreaded() throws {
        let s = try setup(widths: [160, 150], n: 200)
        // Checkpoints: θ at steps 0, 4, 8 of a plain GD run.
        var th = s.initialParameters, cks: [[Double]] = []
        for t in 0...8 {
            if t % 4 == 0 { cks.append(th) }
            BLAS.axpy(-s.config.learningRate, try s.evaluator.evaluateDeferringGram(th).0.gradient, &th)
        }
        let targets: [Int64] = [1, 2, 5, 6, 7, 9]
        func run(_ threaded: Bool, halves: Bool) throws -> ([Seen], GDChain.Stats) {
            s.evaluator.twoThreadChain = halves
            defer { s.evaluator.twoThreadChain = false }
            let chain = GDChain(evaluator: s.evaluator, learningRate: s.config.learningRate, targets: targets,
                                checkpointSteps: [0, 4, 8], loadCheckpoint: { cks[$0] },
                                options: .init(threaded: threaded, capacity: 3))
            let seen = try walk(chain, indices: [0, 2, 3, 5])   // skips targets 2 and 7
            return (seen, chain.takeStats())
        }
        let a = try run(false, halves: false), b = try run(true, halves: false), c = try run(true, halves: true)
        XCTAssertEqual(a.0.map(\.step), [1, 5, 6, 9])
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.0, c.0)
        for x in [b.1, c.1] {
            XCTAssertEqual(a.1.checkpointsCompared, x.checkpointsCompared)
            XCTAssertEqual(a.1.stepsReplayed, x.stepsReplayed)
            XCTAssertEqual(a.1.maxCheckpointDrift, x.maxCheckpointDrift)
        }
        XCTAssertEqual(a.1.checkpointsCompared, 2)
        XCTAssertEqual(a.1.stepsReplayed, 9)
        XCTAssertEqual(a.1.maxCheckpointDrift, 0)
    }

    /// Divergence stops the chain with the reason at the step, inline and threaded alike.
    func testHaltAtDivergence() throws {
        let s = try setup(widths: [6])
        for threaded in [false, true] {
            let chain = GDChain(evaluator: s.evaluator, learningRate: 50, theta: s.initialParameters, step: 0, lastStep: 1000,
                                options: .init(divergence: { $0.loss > 1e3 ? "too large" : nil }, threaded: threaded, capacity: 2))
            defer { chain.stop() }
            var i = 0, halt: String?
            while halt == nil { halt = try chain.item(at: i).halt; i += 1 }
            XCTAssertEqual(halt, "too large")
            XCTAssertThrowsError(try chain.item(at: i))
        }
    }

    /// A checkpoint that cannot be read is thrown at the item that needs it.
    func testCheckpointErrorsReachTheCaller() throws {
        let s = try setup(widths: [6])
        struct Broken: Error {}
        for threaded in [false, true] {
            let theta = s.initialParameters
            let chain = GDChain(evaluator: s.evaluator, learningRate: 0.1, targets: [0, 1, 2, 3], checkpointSteps: [0, 2],
                                loadCheckpoint: { j in if j == 1 { throw Broken() }; return theta },
                                options: .init(threaded: threaded))
            defer { chain.stop() }
            XCTAssertNoThrow(try chain.item(at: 1))
            XCTAssertThrowsError(try chain.item(at: 2)) { XCTAssertTrue($0 is Broken, "\($0)") }
        }
    }
}
