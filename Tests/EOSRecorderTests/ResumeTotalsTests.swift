import Foundation
import XCTest
@testable import EOSRecorder

/// `/run@eigensolver_check` as resume state (issue 11): exact counts and the step they run
/// through, with the fallback of an interrupt checkpoint.
final class ResumeTotalsTests: XCTestCase {
    func testTotalsRoundTripThroughJSON() throws {
        var t = EigensolverTotals(step: 250, tolerance: 1e-10)
        t.checks = 3; t.lapackFallbacks = 1; t.maxDiscrepancy = 2.163019e-16; t.solves = 251; t.iterations = 1004
        let back = try XCTUnwrap(EigensolverTotals(json: t.json))
        XCTAssertEqual(back, t)
        XCTAssertEqual(back.meanIterations, 4.0)
        // The keys of before issue 11 are all still there.
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(t.json.utf8)) as? [String: Any])
        for key in ["checks", "lapack_fallbacks", "max_relative_discrepancy", "mean_iterations", "tolerance"] {
            XCTAssertNotNil(o[key], key)
        }
    }

    func testInterruptTotalsCarryTheirFallback() throws {
        var regular = EigensolverTotals(step: 250, tolerance: 1e-10)
        regular.solves = 251
        var stop = EigensolverTotals(step: 263, tolerance: 1e-10)
        stop.solves = 264
        stop.fallbackJSON = regular.json
        let back = try XCTUnwrap(EigensolverTotals(json: stop.json))
        XCTAssertEqual(back.step, 263)
        XCTAssertEqual(try XCTUnwrap(back.fallbackJSON.flatMap { EigensolverTotals(json: $0) }), regular)
        XCTAssertLessThan(stop.json.utf8.count, 512, "fits the reserved fixed-length attribute")
    }

    func testFilesBeforeIssue11AreNotResumeState() {
        XCTAssertNil(EigensolverTotals(json: #"{"checks":1,"lapack_fallbacks":0,"max_relative_discrepancy":1e-16,"mean_iterations":3.0,"tolerance":1e-10}"#))
        XCTAssertNil(EigensolverTotals(json: ""))
        XCTAssertNil(EigensolverTotals(json: "{\"step\":\"x\"}"))
    }
}
