import XCTest
@testable import EOSAnalysis

final class OutputTests: XCTestCase {
    func sampleResult(options: AnalysisOptions = .init()) throws -> AnalysisResult {
        let sharp: [Double] = [1, 1.5, 2.1, 2.5, 2.3, 2.2, 1.9, 1.8, 1.7, 1.6, 1.5, 2.5, 2.6, 1.0, 1.0]
        let loss: [Double] = [10, 9, 8, 7, 9, 12, 11, 8, 6.9, 6, 5, 4, 3.5, 3, 2]
        var input = scalarInput(sharpness: sharp, loss: loss, outputNormSq: sharp.map { $0 * 2 + 1 })
        input.targets = [0.5, 0.5]
        return try Analyzer.analyze(input, options: options)
    }

    func testJSONIsDeterministicSortedAndRoundTrips() throws {
        let a = try sampleResult().jsonData()
        let b = try sampleResult().jsonData()
        XCTAssertEqual(a, b)
        let text = String(decoding: a, as: UTF8.self)
        XCTAssertTrue(text.contains("\"phase_rule\" : \"loss\""))
        XCTAssertTrue(text.contains("\"r_prime_error\""))
        XCTAssertTrue(text.contains(": null"))            // undefined ratios are null, not invalid JSON
        XCTAssertFalse(text.contains("nan,") || text.contains("\"NaN\"") || text.contains("Infinity"))
        // Keys at the top level are sorted.
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: a) as? [String: Any])
        XCTAssertEqual(Set(obj.keys), ["analysis_version", "anomalies", "checks", "decomposition", "gram", "options",
                                       "per_step", "phases", "r_prime", "run", "story"])
        let topKeys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: "\"")[1]) }
        XCTAssertEqual(topKeys, topKeys.sorted())
        // Decoding and re-encoding gives the same bytes.
        let decoded: AnalysisResult = try AnalysisResult.decode(json: a)
        XCTAssertEqual(try decoded.jsonData(), a)
        // Older summaries wrote non-finite numbers as strings: still read.
        let old = try AnalysisResult.encoder().encode(decoded)
        XCTAssertTrue(String(decoding: old, as: UTF8.self).contains("\"NaN\""))
        XCTAssertEqual(try (AnalysisResult.decode(json: old) as AnalysisResult).jsonData(), a)
        XCTAssertEqual(decoded.phases.cycles.first?.stepsPhase3, 2)
    }

    func testOptionsAreRecorded() throws {
        // The excursion and hover options are recorded too (added with the hover-proof phase options).
        let r = try sampleResult(options: .init(phaseRule: .dtf, rPrimeRestarts: false, rPrimeWindow: 7, anomalyWindow: 3,
                                                excursions: .init(minSteps: 2, minMargin: 0.005, mergeGap: 3)))
        XCTAssertEqual(try r.optionsJSON(),
                       #"{"anomaly_window":3,"c1_floor":1e-10,"excursions":{"merge_gap":3,"min_margin":0.005,"min_steps":2},"hover_margin":0.03,"hover_min_steps":20,"m_sources":{"first_order_residual":"top_k_approximation","r_prime":"top_k_approximation","r_prime_from_start":"top_k_approximation"},"phase_rule":"dtf","r_prime_restarts":false,"r_prime_window":7,"replay_verified":false}"#)
        // Options written before these existed still decode, with the defaults.
        let old = try AnalysisResult.decoder().decode(AnalysisOptions.self, from: Data(
            #"{"anomaly_window":3,"c1_floor":1e-10,"phase_rule":"dtf","r_prime_restarts":false,"r_prime_window":7}"#.utf8))
        XCTAssertEqual(old, AnalysisOptions(phaseRule: .dtf, rPrimeRestarts: false, rPrimeWindow: 7, anomalyWindow: 3))
        XCTAssertFalse(try r.summaryJSON().contains("per_step\":{\"anomaly\":[0"))
    }

    func testCSV() throws {
        let r = try sampleResult()
        let csv = r.csv()
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 15 + 2)   // header, 15 rows, trailing empty
        XCTAssertEqual(String(lines[0]), AnalysisResult.csvColumns.joined(separator: ","))
        XCTAssertTrue(lines[0].hasPrefix("step,phase,loss,sharpness,output_norm_sq,dtf,c1,r_norm_sq,r_prime_error,r_prime_rel_error"))
        let row3 = lines[4].split(separator: ",")
        XCTAssertEqual(row3.count, AnalysisResult.csvColumns.count)
        XCTAssertEqual(row3[0], "3")
        XCTAssertEqual(row3[1], "2")
        XCTAssertEqual(row3[2], "7.0")
        // Last row: pair quantities undefined; then the three exactness flags (top-k: the first-order
        // error is not exact, nor is R′ after an M step).
        XCTAssertTrue(lines[15].split(separator: ",").dropLast(3).joined(separator: ",").hasSuffix(",nan,nan,nan,nan,nan"))
        XCTAssertEqual(lines[15].split(separator: ",").suffix(3), ["0", "0", "0"])
        XCTAssertEqual(csv, try sampleResult().csv())
    }

    func testSummaryText() throws {
        let s = try sampleResult().summaryText()
        XCTAssertTrue(s.contains("Cycles: 2"))
        XCTAssertTrue(s.contains("Anomaly points:"))
        XCTAssertTrue(s.contains("Assumption 3.1: co-movement"))
        XCTAssertTrue(s.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .contains("verdict from the rate: supported ≥ 0.9, mostly ≥ 0.7, partly ≥ 0.4"))
        XCTAssertLessThanOrEqual(s.split(separator: "\n").map(\.count).max() ?? 0, AnalysisResult.summaryWidth)
        XCTAssertTrue(s.contains("How much of the paper's story"))
        XCTAssertTrue(s.contains("APPROXIMATE"))
    }
}
