import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat

final class ValidatorTests: TemporaryDirectoryTestCase {
    var base: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        base = path("base.h5")
        try writeSynthetic(base, steps: 30)
    }

    /// A copy of the valid file, changed by `body`, then validated.
    func problems(after body: (HDF5File) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws -> [ValidationProblem] {
        let copy = path("damaged-\(UUID().uuidString).h5")
        try FileManager.default.copyItem(atPath: base, toPath: copy)
        let f = try HDF5File.open(copy, mode: .readWrite)
        try body(f)
        try f.close()
        return try Validator().validate(path: copy)
    }

    func assertProblem(_ problems: [ValidationProblem], _ object: String, _ fragment: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(problems.contains { $0.object == object && $0.message.contains(fragment) },
                      "expected '\(object): …\(fragment)…' in \(problems.map(\.description))", file: file, line: line)
    }

    func testValidFileHasNoProblems() throws {
        XCTAssertEqual(try Validator().validate(path: base), [])
        let minimal = path("minimal.h5")
        try writeSynthetic(minimal, options: WriterOptions(swmr: false))
        XCTAssertEqual(try Validator().validate(path: minimal), [])
    }

    func testMissingRequiredObjectsAndAttributes() throws {
        let p = try problems { f in
            try f.group("/trajectory").removeLink("dtf")
            try f.group("/run").removeAttribute("k")
            try f.root().removeAttribute("software")
        }
        assertProblem(p, "/trajectory/dtf", "missing required dataset")
        assertProblem(p, "/run@k", "missing required attribute")
        assertProblem(p, "/@software", "missing required attribute")
        let q = try problems { f in try f.group("/data").removeLink("X") }
        assertProblem(q, "/data/X", "missing required dataset")
    }

    func testWrongDtypeRankAndDims() throws {
        let p = try problems { f in
            let t = try f.group("/trajectory")
            try t.removeLink("dtf")
            try t.createDataset("dtf", type: .float32, shape: [30])
            try t.removeLink("eigenvalues")
            try t.createDataset("eigenvalues", type: .float64, shape: [30, 4])
            try t.removeLink("output_norm_sq")
            try t.createDataset("output_norm_sq", type: .float64, shape: [30, 1])
            try f.group("/run").setAttribute("loss", "cross-entropy")
            try f.group("/run").setAttribute("learning_rate", Int64(1))
        }
        assertProblem(p, "/trajectory/dtf", "has dtype float32, expected float64")
        assertProblem(p, "/trajectory/eigenvalues", "axis 1 (eig) has size 4, expected k = 3")
        assertProblem(p, "/trajectory/eigenvalues", "axis 0 (step) has no dimension scale")
        assertProblem(p, "/trajectory/output_norm_sq", "has rank 2")
        assertProblem(p, "/run@loss", "expected 'mse'")
        assertProblem(p, "/run@learning_rate", "has type int64, expected float64")
    }

    func testInconsistentLengthsAndNonMonotonicSteps() throws {
        let p = try problems { f in
            try f.dataset("/trajectory/loss").setRowCount(29)
            try f.dataset("/trajectory/step").writeRows([Int64(2)], at: 5)
            try f.dataset("/trajectory/spectrum_step").writeRows([Int64(0)], at: 1)
        }
        assertProblem(p, "/trajectory/loss", "has 29 rows but /trajectory/step has 30")
        assertProblem(p, "/trajectory/step", "not strictly increasing at 1 rows, first at row 5 (4 then 2)")
        assertProblem(p, "/trajectory/spectrum_step", "not strictly increasing")
    }

    func testRunningRecordingMayHaveUnequalLengths() throws {
        let p = try problems { f in
            try f.dataset("/trajectory/loss").setRowCount(29)
            try f.dataset("/run/status").writeString("running")
        }
        XCTAssertEqual(p, [])
    }

    func testNonFiniteValuesAndNumericalChecks() throws {
        let syn = SyntheticRecording(n: 32, k: 3, d: 5, p: 50, learningRate: 0.05, seed: 7)
        let p = try problems { f in
            var res = syn.row(step: 3).residual
            res[4] = .nan
            try f.dataset("/trajectory/residual").writeRows(res, at: 3)
            try f.dataset("/trajectory/grad_norm").writeRows([Double.infinity], at: 8)
            var ev = syn.row(step: 4).eigenvalues
            ev.swapAt(1, 2)
            try f.dataset("/trajectory/eigenvalues").writeRows(ev, at: 4)
            try f.dataset("/trajectory/sharpness").writeRows([syn.row(step: 2).sharpness * (1 + 1e-9)], at: 2)
            try f.dataset("/trajectory/loss").writeRows([syn.row(step: 7).loss * (1 + 1e-7)], at: 7)
            try f.dataset("/trajectory/eigenvectors").writeRows(syn.row(step: 9).eigenvectors.map { $0 * 1.001 }, at: 9)
            var g = syn.gram(step: 20)
            g[1] += 1
            try f.dataset("/trajectory/gram").writeRows(g, at: 1)
        }
        assertProblem(p, "/trajectory/residual", "1 non-finite values (NaN or Inf) where all must be finite, first in row 3 (step 3)")
        assertProblem(p, "/trajectory/grad_norm", "first in row 8 (step 8)")
        assertProblem(p, "/trajectory/eigenvalues", "not descending along the last axis in 1 rows, first row 4")
        assertProblem(p, "/trajectory/sharpness", "differs from /trajectory/eigenvalues[:, 0] in 1 rows, first row 2")
        assertProblem(p, "/trajectory/loss", "first row 7")
        assertProblem(p, "/trajectory/eigenvectors", "3 vectors without unit norm, first in row 9 (step 9) index 0")
        assertProblem(p, "/trajectory/gram", "not symmetric in 1 rows, first row 1")
        // The NaN row's loss is not also reported as a mismatch (NaN is reported once, where it is).
        XCTAssertFalse(p.contains { $0.object == "/trajectory/loss" && $0.message.contains("row 3") })
    }

    func testLossWithinToleranceIsAccepted() throws {
        let syn = SyntheticRecording(n: 32, k: 3, d: 5, p: 50, learningRate: 0.05, seed: 7)
        let p = try problems { f in
            try f.dataset("/trajectory/loss").writeRows([syn.row(step: 7).loss * (1 + 1e-11)], at: 7)
        }
        XCTAssertEqual(p, [])
    }

    func testMissingDimensionScaleAndBadStatus() throws {
        let p = try problems { f in
            try f.dataset("/trajectory/residual").detachScale(try f.dataset("/sample"), axis: 1)
            try f.dataset("/run/status").writeString("exploded")
        }
        assertProblem(p, "/trajectory/residual", "axis 1 (sample) has no dimension scale")
        assertProblem(p, "/run/status", "bad value 'exploded'")
        XCTAssertEqual(p.count, 2, "\(p)")
    }

    func testNewerMajorVersionAndOtherFormatAreRefused() throws {
        let copy = path("v3.h5")
        try FileManager.default.copyItem(atPath: base, toPath: copy)
        do {   // 2.0 (several outputs) is read since format 2.0: the newer major is 3.
            let f = try HDF5File.open(copy, mode: .readWrite)
            try f.root().setAttribute("format_version", [Int64(3), 0])
            try f.close()
        }
        XCTAssertThrowsError(try Validator().validate(path: copy)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .unsupportedVersion)
            XCTAssertTrue("\(e)".contains("newer"), "\(e)")
        }
        XCTAssertThrowsError(try TrajectoryReader(path: copy)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .unsupportedVersion)
        }
        // A newer minor version is read.
        do {
            let f = try HDF5File.open(copy, mode: .readWrite)
            try f.root().setAttribute("format_version", [Int64(1), 7])
            try f.close()
        }
        XCTAssertEqual(try TrajectoryReader(path: copy).formatVersion, [1, 7])
        XCTAssertEqual(try Validator().validate(path: copy), [])
        do {
            let f = try HDF5File.open(copy, mode: .readWrite)
            try f.root().setAttribute("format", "something-else")
            try f.close()
        }
        XCTAssertThrowsError(try Validator().validate(path: copy)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .notATrajectory)
        }
    }

    func testUnreadableFilesThrowHDF5Errors() throws {
        let junk = path("junk.h5")
        try Data(repeating: 7, count: 3000).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try Validator().validate(path: junk)) { e in
            XCTAssertEqual((e as? HDF5Error)?.kind, .notHDF5)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: base))
        let cut = path("cut.h5")
        try data.prefix(data.count * 2 / 3).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try Validator().validate(path: cut)) { e in
            XCTAssertEqual((e as? HDF5Error)?.kind, .notHDF5, "\(e)")
        }
    }
}
