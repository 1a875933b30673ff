import EOSModels
import EOSNumerics
import TrajectoryFormat
import XCTest
@testable import EOSAnalysis

/// The format-1.1 M-products of a simulated run, computed here with plain loops from the exact
/// Gram matrices (independently of the analyzer's row pass): M(t)D(t), R′ restarted at every
/// causal phase-II start, R′ from the first step.
struct SimulatedProducts {
    var gramResidual: [[Double]] = []
    var rPrime: [[Double]] = []
    var rPrimeFromStart: [[Double]] = []

    init(_ run: SimulatedRun, restart: Bool = true) {
        let input = run.input, n = input.n, eta = input.learningRate, t = input.count
        func mul(_ m: [Double], _ v: [Double]) -> [Double] {
            (0..<n).map { i in (0..<n).reduce(0.0) { $0 + m[i * n + $1] * v[$1] } }
        }
        var rp: [Double] = [], rs: [Double] = []
        for i in 0..<t {
            let d = Array(input.residual[(i * n)..<((i + 1) * n)])
            let v = Array(input.eigenvectors[(i * input.k * n)..<(i * input.k * n + n)])
            let c1 = zip(d, v).reduce(0.0) { $0 + $1.0 * $1.1 }
            let r = (0..<n).map { d[$0] - c1 * v[$0] }
            if i == 0 { rp = r; rs = r }
            let above = input.sharpness[i] > 2 / eta
            if restart && above && (i == 0 || input.sharpness[i - 1] <= 2 / eta) { rp = r }
            gramResidual.append(mul(run.grams[i], d))
            rPrime.append(rp)
            rPrimeFromStart.append(rs)
            func step(_ x: [Double]) -> [Double] {
                let a = zip(x, v).reduce(0.0) { $0 + $1.0 * $1.1 }
                let mx = mul(run.grams[i], (0..<n).map { x[$0] - a * v[$0] })
                return (0..<n).map { x[$0] - eta * mx[$0] }
            }
            rp = step(rp); rs = step(rs)
        }
    }

    var source: ProductSource {
        let g = gramResidual, p = rPrime, s = rPrimeFromStart
        return ProductSource(gramResidual: { g[$0] }, rPrime: { p[$0] }, rPrimeFromStart: { s[$0] })
    }
}

/// A provider that must never be asked (the products serve everything).
final class ForbiddenGramProvider: GramProvider {
    var calls = 0
    var source: GramSource { .exact }
    var label: String { "forbidden" }
    func gram(atRow row: Int) throws -> [Double]? { calls += 1; return nil }
}

final class ProductsTests: XCTestCase {
    private func assertClose(_ a: [Double], _ b: [Double], _ what: String, rel: Double = 1e-10, abs absTol: Double = 1e-12,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        for i in a.indices {
            if a[i].isNaN || b[i].isNaN { XCTAssertEqual(a[i].isNaN, b[i].isNaN, "\(what) row \(i)", file: file, line: line); continue }
            XCTAssertEqual(a[i], b[i], accuracy: max(absTol, rel * Swift.abs(b[i])), "\(what) row \(i)", file: file, line: line)
        }
    }

    private func assertSameMResults(_ x: AnalysisResult, _ y: AnalysisResult, file: StaticString = #filePath, line: UInt = #line) {
        let p = x.perStep, q = y.perStep
        assertClose(p.rPrimeError, q.rPrimeError, "r_prime_error", file: file, line: line)
        assertClose(p.rPrimeRelError, q.rPrimeRelError, "r_prime_rel_error", file: file, line: line)
        assertClose(p.rPrimeErrorFromStart, q.rPrimeErrorFromStart, "r_prime_error_from_start", file: file, line: line)
        assertClose(p.rPrimeRelErrorFromStart, q.rPrimeRelErrorFromStart, "r_prime_rel_error_from_start", file: file, line: line)
        assertClose(p.firstOrderError, q.firstOrderError, "first_order_error", file: file, line: line)
        assertClose(p.exactUpdateError, q.exactUpdateError, "exact_update_error", file: file, line: line)
        for (a, b) in [(x.checks.firstOrderResidual.all, y.checks.firstOrderResidual.all),
                       (x.rPrime.primary.relError.all, y.rPrime.primary.relError.all),
                       (x.rPrime.fromStart.relError.all, y.rPrime.fromStart.relError.all)] {
            assertClose([a.median, a.p90, a.max], [b.median, b.p90, b.max], "distribution", file: file, line: line)
        }
        XCTAssertEqual(x.rPrime.primary.starts, y.rPrime.primary.starts, file: file, line: line)
        XCTAssertEqual(x.story.map(\.verdict), y.story.map(\.verdict), file: file, line: line)
    }

    /// Every M-dependent number from the products equals the one from the exact Gram and from
    /// replay, to 1e-10 relative (1e-12 absolute where it is 0, at restarts); no M is asked for.
    func testProductsEqualExactGramAndReplay() throws {
        let model = ModelDescription.mlp(inputDim: 6, widths: [10, 7], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 12, steps: 60, etaTimesLambda0: 2.2, seed: 3)
        var input = run.input
        input.products = SimulatedProducts(run).source
        let forbidden = ForbiddenGramProvider()
        let viaProducts = try Analyzer.analyze(input, gram: forbidden)
        XCTAssertEqual(forbidden.calls, 0)
        let grams = run.grams
        let viaGram = try Analyzer.analyze(run.input, gram: ClosureGramProvider(source: .exact, label: "exact", n: 12, dense: { grams[$0] }))
        let viaReplay = try Analyzer.analyze(run.input, gram: try run.replay(every: 10))
        assertSameMResults(viaProducts, viaGram)
        assertSameMResults(viaProducts, viaReplay)
        XCTAssertGreaterThan(viaProducts.rPrime.primary.starts, 1, "the run should restart R′ at a phase-II start")
        let sources = try XCTUnwrap(viaProducts.gram.results)
        XCTAssertEqual(Set(sources.map(\.source)), [MSourceKind.recordedProducts.rawValue])
        XCTAssertTrue(sources.allSatisfy(\.exact))
        XCTAssertFalse(viaProducts.gram.approximate)
        XCTAssertEqual(viaProducts.gram.source, "recorded_products")
        XCTAssertEqual(try XCTUnwrap(viaReplay.gram.results).map(\.source).first, "replay_within_tolerance")
        // At restarts R′ = R: the error is 0 (round-off).
        for i in 0..<input.count where viaProducts.perStep.rPrimeError[i] < 1e-12 { XCTAssertEqual(viaGram.perStep.rPrimeError[i], 0, accuracy: 1e-12) }
        // --verify-replay on the same products: replayed products agree with the recorded ones.
        let verified = try Analyzer.analyze(input, gram: try run.replay(every: 10), verifyReplay: true)
        assertSameMResults(verified, viaProducts)
        let v = try XCTUnwrap(verified.gram.verification)
        XCTAssertEqual(v.rowsBeyondTolerance, 0)
        XCTAssertLessThan(try XCTUnwrap(v.maxGramResidualDifference), 1e-10)
        XCTAssertLessThan(try XCTUnwrap(v.maxRPrimeDifference), 1e-9)
        XCTAssertEqual(v.intervals.count, 6)
    }

    /// A replay whose checkpoint is off (another machine's arithmetic): the drifted rows are
    /// labelled, never exact, and left out of the verdicts; the products still give the exact
    /// results, and --verify-replay reports the drift.
    func testDriftedReplayIsLabelledAndProductsStayExact() throws {
        let model = ModelDescription.mlp(inputDim: 4, widths: [5], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 8, steps: 25, etaTimesLambda0: 1.5, seed: 9)
        let grams = run.grams
        let exact = try Analyzer.analyze(run.input, gram: ClosureGramProvider(source: .exact, label: "exact", n: 8, dense: { grams[$0] }))
        let drifted = try Analyzer.analyze(run.input, gram: try run.replay(every: 10, corrupt: true))
        let fo = try XCTUnwrap(drifted.gram.results?.first { $0.result == "first_order_residual" })
        XCTAssertEqual(fo.source, "replay_beyond_tolerance")
        XCTAssertFalse(fo.exact)
        XCTAssertTrue(drifted.gram.approximate)
        let flags = try XCTUnwrap(drifted.perStep.firstOrderExact)
        for i in 0..<24 {
            let beyond = !(drifted.perStep.replayDrift[i] <= 1e-9)
            XCTAssertEqual(flags[i], beyond ? 0 : 1, "row \(i)")
            if i < 10 { XCTAssertEqual(flags[i], 1, "row \(i) is before the corrupted checkpoint") }
        }
        // The corrupted checkpoint at step 10 spoils its interval 10…19; the next one resets θ.
        XCTAssertEqual(fo.exactRows, 14)
        let v = try XCTUnwrap(drifted.gram.verification)
        XCTAssertEqual(v.rowsBeyondTolerance, 10)
        XCTAssertEqual(v.firstStepBeyondTolerance, 10)
        XCTAssertEqual(v.intervals.map(\.rowsBeyondTolerance), [0, 10, 0])
        XCTAssertEqual(v.intervals.map(\.fromStep), [0, 10, 20])
        // The verdict of Assumption 3.2 for D is judged on the 14 exact rows only, with the exact values.
        let story = try XCTUnwrap(drifted.story.first { $0.claim.hasPrefix("D follows") })
        XCTAssertTrue(story.basis.contains("exact M only: 14 of 24"), story.basis)
        let exactMedian = Distribution((0..<24).filter { flags[$0] == 1 }.map { exact.perStep.firstOrderError[$0] }).median
        XCTAssertEqual(story.value, exactMedian, accuracy: 1e-12 * exactMedian)

        var input = run.input
        input.products = SimulatedProducts(run).source
        let fromProducts = try Analyzer.analyze(input)
        let verified = try Analyzer.analyze(input, gram: try run.replay(every: 10, corrupt: true), verifyReplay: true)
        assertSameMResults(fromProducts, exact)
        assertSameMResults(verified, exact)
        XCTAssertTrue(try XCTUnwrap(verified.gram.results).allSatisfy { $0.exact && $0.source == "recorded_products" })
        let vv = try XCTUnwrap(verified.gram.verification)
        XCTAssertEqual(vv.rowsBeyondTolerance, 10)
        XCTAssertGreaterThan(try XCTUnwrap(vv.maxGramResidualDifference), 1e-8)
    }

    /// Options the products cannot serve fall back to the provider, labelled; a recorded chain
    /// that does not restart where the default rule does is not used.
    func testUnservedOptionsFallBack() throws {
        let model = ModelDescription.mlp(inputDim: 6, widths: [10, 7], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 12, steps: 60, etaTimesLambda0: 2.2, seed: 3)
        let grams = run.grams
        let exactGram = ClosureGramProvider(source: .exact, label: "exact", n: 12, dense: { grams[$0] })
        var input = run.input
        input.products = SimulatedProducts(run).source
        let window = AnalysisOptions(rPrimeWindow: 7)
        let r = try Analyzer.analyze(input, gram: exactGram, options: window)
        let ref = try Analyzer.analyze(run.input, gram: exactGram, options: window)
        assertSameMResults(r, ref)
        let primary = try XCTUnwrap(r.gram.results?.first { $0.result == "r_prime" })
        XCTAssertEqual(primary.source, "replay_within_tolerance")
        XCTAssertTrue(primary.note?.contains("--r-prime-window") ?? false)
        XCTAssertEqual(r.gram.results?.first { $0.result == "r_prime_from_start" }?.source, "recorded_products")
        // Top-k only (no provider): labelled approximate.
        let topk = try Analyzer.analyze(input, options: window)
        XCTAssertEqual(topk.gram.results?.first { $0.result == "r_prime" }?.source, "top_k_approximation")
        XCTAssertTrue(topk.gram.approximate)
        // A chain that was never restarted does not pass the restart check.
        var wrong = run.input
        let noRestart = SimulatedProducts(run, restart: false)
        var p = SimulatedProducts(run)
        p.rPrime = noRestart.rPrime
        wrong.products = p.source
        let w = try Analyzer.analyze(wrong, gram: exactGram)
        let wp = try XCTUnwrap(w.gram.results?.first { $0.result == "r_prime" })
        XCTAssertNotEqual(wp.source, "recorded_products")
        XCTAssertTrue(wp.note?.contains("not R at step") ?? false, wp.note ?? "")
        assertSameMResults(w, try Analyzer.analyze(run.input, gram: exactGram))
    }

    /// Two-layer linear: the exact M* update check comes from gram_residual and X.
    func testTwoLayerLinearExactUpdateFromProducts() throws {
        let model = ModelDescription.twoLayerLinear(inputDim: 5, width: 30)
        let run = try SimulatedRun(model: model, n: 10, steps: 30, etaTimesLambda0: 1.9, seed: 4)
        var input = run.input
        var src = SimulatedProducts(run).source
        src.linear = (run.X.data, 5, 30)
        input.products = src
        let viaProducts = try Analyzer.analyze(input, gram: ForbiddenGramProvider())
        let viaReplay = try Analyzer.analyze(run.input, gram: try run.replay(every: 7))
        assertSameMResults(viaProducts, viaReplay)
        XCTAssertLessThan(try XCTUnwrap(viaProducts.checks.exactUpdate).relativeToResidual.max, 1e-12)
        XCTAssertEqual(viaProducts.gram.results?.first { $0.result == "exact_update" }?.source, "recorded_products")
    }

    /// The convention check names the wrong attribute for an M scaled by ½ and for η off by 10×,
    /// accepts the half-loss convention in its own units, and is silent on a consistent run.
    func testConventionCheck() throws {
        let model = ModelDescription.mlp(inputDim: 6, widths: [10, 7], activation: .tanh, bias: true, outputScale: 1)
        let run = try SimulatedRun(model: model, n: 12, steps: 45, etaTimesLambda0: 1.2, seed: 7)
        let input = run.input, eta = input.learningRate
        let g = SimulatedProducts(run).gramResidual.flatMap { $0 }
        func check(gramScale: Double = 1, etaScale: Double = 1, lossScale: Double = 1, convention: String? = nil) -> ConventionCheckResult {
            ConventionCheck.run(steps: input.steps, loss: input.loss.map { $0 * lossScale }, residual: input.residual,
                                gramResidual: g.map { $0 * gramScale }, dtf: input.dtf, outputNormSq: input.outputNormSq,
                                learningRate: eta * etaScale, n: input.n, convention: convention, file: "x.h5")
        }
        let ok = check()
        XCTAssertNil(ok.warning, ok.warning ?? "")
        XCTAssertEqual(try XCTUnwrap(ok.residualFactor), 1, accuracy: 0.05)
        XCTAssertEqual(try XCTUnwrap(ok.outputNormFactor), 1, accuracy: 0.1)
        let halfM = try XCTUnwrap(check(gramScale: 0.5).warning)
        XCTAssertTrue(halfM.contains("/run@gram_definition") && halfM.contains("loss_convention"), halfM)
        XCTAssertEqual(halfM.split(separator: "\n").count, 1)
        let eta10 = try XCTUnwrap(check(etaScale: 10).warning)
        XCTAssertTrue(eta10.contains("/run@learning_rate") && eta10.contains("10× too large"), eta10)
        let eta01 = try XCTUnwrap(check(etaScale: 0.1).warning)
        XCTAssertTrue(eta01.contains("/run@learning_rate") && eta01.contains("10× too small"), eta01)
        // The half-loss convention (Cohen et al.): L/2, M/2, η·2 describe the same GD.
        let half = check(gramScale: 0.5, etaScale: 2, lossScale: 0.5, convention: "half")
        XCTAssertNil(half.warning, half.warning ?? "")
        // The same file without the attribute: its loss is half of ‖D‖²/n.
        let unstated = try XCTUnwrap(check(gramScale: 0.5, etaScale: 2, lossScale: 0.5).warning)
        XCTAssertTrue(unstated.contains("/run@loss_convention") && unstated.contains("'half'"), unstated)
        XCTAssertNotNil(check(convention: "bogus").warning)
    }
}
