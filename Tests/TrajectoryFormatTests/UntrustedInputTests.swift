import Foundation
import HDF5Kit
import TrajectoryFormat
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Readers that trust nothing: forged extents, non-regular files, overflow-checked sizes and the
/// shared series invariants (the CLI-level cases are in Tests/python/test_untrusted_input.py).
final class UntrustedInputTests: XCTestCase {
    func testSeriesInvariants() {
        XCTAssertNil(SeriesInvariants.firstNonIncreasingIndex([Int64]()))
        XCTAssertNil(SeriesInvariants.firstNonIncreasingIndex([Int64(0), 1, 5]))
        XCTAssertEqual(SeriesInvariants.firstNonIncreasingIndex([0, 1, 1, 0]), 2)
        XCTAssertEqual(SeriesInvariants.firstNonIncreasingIndex([3, 2]), 1)
        XCTAssertTrue(SeriesInvariants.isIncreasing(nil, then: -5))
        XCTAssertFalse(SeriesInvariants.isIncreasing(4, then: 4))
        XCTAssertTrue(SeriesInvariants.isValidLearningRate(1e-3))
        for bad in [0, -1, .nan, .infinity] as [Double] { XCTAssertFalse(SeriesInvariants.isValidLearningRate(bad)) }
        XCTAssertTrue(SeriesInvariants.haveEqualLengths([3, 3, 3]))
        XCTAssertFalse(SeriesInvariants.haveEqualLengths([3, 2]))
        XCTAssertEqual(SeriesInvariants.checkedProduct([1 << 20, 1 << 20]), 1 << 40)
        XCTAssertNil(SeriesInvariants.checkedProduct([1 << 32, 1 << 32]))
        XCTAssertNil(SeriesInvariants.checkedProduct([-1, 3]))
        XCTAssertNil(HDF5Dataset.checkedBytes([1 << 31, 1 << 31, 4], elementSize: 8))
        XCTAssertEqual(HDF5Dataset.checkedBytes([1 << 31], elementSize: 8), 1 << 34)
    }

    /// A chunked dataset extended to 2^31 rows without data: reading it is refused before any
    /// allocation, and the error names the object and the extent.
    func testForgedExtentRefusedBeforeAllocation() throws {
        let dir = try TemporaryDirectory(prefix: "untrusted")
        defer { dir.remove() }
        let path = dir.path("sparse.h5")
        let f = try HDF5File.create(path)
        let ds = try f.root().createDataset("x", type: .float64, shape: [4],
                                            options: .init(maxShape: [nil], chunk: [1024]))
        try ds.write([1.0, 2, 3, 4])
        XCTAssertNil(ds.extentProblem())
        try ds.setRowCount(1 << 31)
        let problem = try XCTUnwrap(ds.extentProblem())
        XCTAssertTrue(problem.contains("[2147483648]") && problem.contains("17179869184 bytes"), problem)
        XCTAssertThrowsError(try ds.read(Double.self)) { e in
            let h = e as? HDF5Error
            XCTAssertEqual(h?.kind, .notHDF5)
            XCTAssertEqual(h?.object, "/x")
        }
        XCTAssertThrowsError(try ds.checkExtent())
        // a dataset whose extent is forged is refused as a whole, even for rows the file holds
        XCTAssertThrowsError(try ds.readRows(0..<4, as: Double.self))
        try ds.setRowCount(4)
        XCTAssertEqual(try ds.readRows(0..<4, as: Double.self), [1, 2, 3, 4])
        try f.close()
    }

    func testFIFOAndDirectoryRefusedWithoutBlocking() throws {
        let dir = try TemporaryDirectory(prefix: "untrusted")
        defer { dir.remove() }
        let fifo = dir.path("pipe.h5")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for p in [fifo, dir.url.path] {
            XCTAssertThrowsError(try TrajectoryReader(path: p)) { e in
                XCTAssertTrue("\(e)".contains("not a regular file"), "\(e)")
            }
            XCTAssertThrowsError(try Validator().validate(path: p))
        }
        XCTAssertEqual(HDF5File.nonRegularKind(fifo), "FIFO")
        XCTAssertEqual(HDF5File.nonRegularKind(dir.url.path), "directory")
        XCTAssertNil(HDF5File.nonRegularKind(dir.path("missing")))
    }
}
