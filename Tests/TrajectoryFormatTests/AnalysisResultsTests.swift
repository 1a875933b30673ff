import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat

final class AnalysisResultsTests: TemporaryDirectoryTestCase {
    func results(steps: Int) -> AnalysisResults {
        AnalysisResults(steps: (0..<Int64(steps)).map { $0 }, phase: (0..<steps).map { Int8($0 % 4 + 1) },
                        c1: (0..<steps).map { Double($0) * 0.25 }, rNormSq: (0..<steps).map { 1 / Double($0 + 1) },
                        rPrimeError: (0..<steps).map { $0 == 0 ? .nan : Double($0) },
                        anomaly: (0..<steps).map { UInt8($0 % 7 == 0 ? 1 : 0) },
                        longNames: ["phase": "Phase 1-4", "c1": "c1(t)"], options: "{\"phase_rule\":\"loss\"}", summary: "{\"cycles\":0}", sourceFile: "rec.h5",
                        softwareVersion: "0.1.0")
    }

    func assertSame(_ a: AnalysisResults, _ b: AnalysisResults, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.steps, b.steps, file: file, line: line)
        XCTAssertEqual(a.phase, b.phase, file: file, line: line)
        XCTAssertEqual(a.c1, b.c1, file: file, line: line)
        XCTAssertEqual(a.rNormSq, b.rNormSq, file: file, line: line)
        XCTAssertEqual(a.rPrimeError.map(\.bitPattern), b.rPrimeError.map(\.bitPattern), file: file, line: line)
        XCTAssertEqual(a.anomaly, b.anomaly, file: file, line: line)
        XCTAssertEqual(a.options, b.options, file: file, line: line)
        XCTAssertEqual(a.summary, b.summary, file: file, line: line)
        XCTAssertEqual(a.sourceFile, b.sourceFile, file: file, line: line)
        XCTAssertEqual(a.longNames, b.longNames, file: file, line: line)
    }

    func testSeparateFileRoundTrip() throws {
        let p = path("analysis.h5")
        let r = results(steps: 25)
        try r.write(to: p)
        assertSame(try AnalysisResults.read(path: p), r)
        keep(p)
        let f = try HDF5File.open(p)
        XCTAssertEqual(try f.dataset("/analysis/phase").typeInfo().elementType, .int8)
        XCTAssertEqual(try f.dataset("/analysis/anomaly").typeInfo().elementType, .uint8)
        XCTAssertEqual(try f.dataset("/analysis/c1").attachedScales(axis: 0), ["/analysis/step"])
        XCTAssertEqual(try f.root().stringAttribute("format"), AnalysisResults.separateFormatName)
        XCTAssertEqual(try f.root().stringAttribute("software_version"), "0.1.0")
        XCTAssertFalse(try f.root().hasAttribute("format_version"))
        XCTAssertEqual(try f.dataset("/analysis/step").scalarAttribute("_Netcdf4Dimid", as: Int32.self), 0)
    }

    func testInPlaceRoundTripValidatesAndReplaces() throws {
        let rec = path("rec.h5")
        try writeSynthetic(rec, steps: 25)
        let r = results(steps: 25)
        try r.writeInPlace(recording: rec)
        try r.writeInPlace(recording: rec) // overwrites in place
        assertSame(try AnalysisResults.read(path: rec), r)
        keep(rec)
        XCTAssertEqual(try Validator().validate(path: rec), [])
        XCTAssertEqual(try HDF5File.open(rec).dataset("/analysis/phase").attachedScales(axis: 0), ["/analysis/step"])
        XCTAssertThrowsError(try results(steps: 24).writeInPlace(recording: rec)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .invalidData)
        }
        var bad = r
        bad.c1.removeLast()
        XCTAssertThrowsError(try bad.write(to: path("bad.h5")))
    }
}
