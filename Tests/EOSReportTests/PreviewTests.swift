import XCTest
@testable import EOSReport

/// Writes the synthetic report ($EOSREPORT_PREVIEW_STEPS steps, default 3000) to $EOSREPORT_PREVIEW and a synthetic comparison to
/// $EOSREPORT_COMPARE_PREVIEW when set (for looking at them); no-op otherwise.
final class PreviewTests: XCTestCase {
    func testWritePreviewWhenAsked() throws {
        let env = ProcessInfo.processInfo.environment
        if let path = env["EOSREPORT_PREVIEW"] {
            let count = env["EOSREPORT_PREVIEW_STEPS"].flatMap { Int($0) } ?? 3000
            let input = syntheticInput(count: count)
            let t0 = Date()
            let html = try RunReport.html(input)
            print("preview: \(count) steps -> \(html.utf8.count) bytes in \(Date().timeIntervalSince(t0)) s")
            try html.write(toFile: path, atomically: true, encoding: .utf8)
        }
        if let path = env["EOSREPORT_COMPARE_PREVIEW"] {
            let runs = [(0.02, 1), (0.01, 2), (0.005, 3)].map { eta, seed -> CompareInput in
                let r = syntheticInput(count: 2000, eta: eta, seed: UInt64(seed))
                return CompareInput(label: "η = \(eta)", steps: r.steps, sharpness: r.sharpness, eta: eta, phase: r.phase, anomalyRate: 0.1)
            }
            try RunComparison.html(runs).write(toFile: path, atomically: true, encoding: .utf8)
            print(try RunComparison.text(runs))
        }
    }
}
