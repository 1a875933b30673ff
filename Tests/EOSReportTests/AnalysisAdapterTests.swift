import EOSAnalysis
import XCTest
@testable import EOSReport

final class AnalysisAdapterTests: XCTestCase {
    /// A consistent in-memory run: n = 3, k = 2, v1 = e1 and v2 = e2 at every step, so that
    /// c1 = D[0] and ‖R‖²/n = (D[1]² + D[2]²)/3 in closed form.
    func makeInput() -> AnalysisInput {
        let s = syntheticInput(count: 400, eta: 0.02, seed: 3)
        let n = 3, k = 2, t = s.steps.count
        var rng = SplitMix64(seed: 17)
        let y: [Double] = [1, -2, 0.5]
        var residual: [Double] = [], outputs: [Double] = [], loss: [Double] = [], dtf: [Double] = []
        var ev: [Double] = [], vec: [Double] = []
        for i in 0..<t {
            let d = [s.c1![i], 0.3 * exp(-Double(i) / 200) + 0.01 * rng.normal(), 0.2 + 0.01 * rng.normal()]
            let f = zip(d, y).map { $0 + $1 }
            residual += d; outputs += f
            loss.append(d.map { $0 * $0 }.reduce(0, +) / Double(n))
            dtf.append(zip(d, f).map { $0 * $1 }.reduce(0, +))
            ev += [s.sharpness[i], s.lambda2![i]]
            vec += [1, 0, 0, 0, 1, 0]
        }
        return AnalysisInput(steps: (0..<t).map { Int64($0) }, learningRate: 0.02, n: n, k: k, loss: loss,
                             residual: residual, outputs: outputs, targets: y, outputNormSq: s.outputNormSq,
                             sharpness: s.sharpness, eigenvalues: ev, eigenvectors: vec, dtf: dtf,
                             outputLayerSharpness: s.outputLayerSharpness, modelKind: "external")
    }

    func testAdapterMapsEverySeries() throws {
        let a = makeInput()
        let result = try Analyzer.analyze(a)
        let input = ReportInput(runName: "mem", analysisInput: a, result: result, metadata: [("k", "v")])
        try input.validate()
        XCTAssertEqual(input.steps, (0..<a.count).map { $0 })
        XCTAssertEqual(input.lambda2!, (0..<a.count).map { a.eigenvalues[$0 * 2 + 1] })
        XCTAssertEqual(input.lambda1, a.sharpness)
        for i in 0..<a.count {
            let d = Array(a.residual[(i * 3)..<(i * 3 + 3)])
            XCTAssertEqual(input.c1![i], d[0], accuracy: 1e-12 * max(1, abs(d[0])))
            XCTAssertEqual(input.rNormSqPerN![i], (d[1] * d[1] + d[2] * d[2]) / 3, accuracy: 1e-12)
        }
        XCTAssertEqual(input.phase!, result.perStep.phase.map { Int($0) })
        XCTAssertEqual(input.anomaly!.filter { $0 }.count, result.anomalies.count)
        // Phases in the report agree with the default phase rule written independently in the tests.
        XCTAssertEqual(input.phase!, referencePhases(sharpness: a.sharpness, loss: a.loss, eta: 0.02))
        XCTAssertTrue(input.checks.contains { $0.name == "Gram M(t) used" })
        XCTAssertTrue(input.checks.contains { $0.name.hasPrefix("Assumption 3.7: λ2 < 1/η") })
        let html = try RunReport.html(input)
        XCTAssertEqual(svgBlocks(in: html).count, 6)
        let cmp = CompareInput(label: "mem", analysisInput: a, result: result)
        XCTAssertEqual(RunComparison.metrics(cmp).cycles, result.phases.cycleCount)
    }
}
