import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat
#if canImport(Glibc)
import Glibc
#endif

/// `close(status:)` reports every error; deinit only releases handles.
final class WriterCloseTests: TemporaryDirectoryTestCase {
    /// Runs `body` with the process's file size limit (RLIMIT_FSIZE, soft) set to `bytes`;
    /// SIGXFSZ is ignored meanwhile, so writes beyond the limit fail with EFBIG.
    func withFileSizeLimit<R>(_ bytes: Int, _ body: () throws -> R) rethrows -> R {
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var lim = old
        lim.rlim_cur = rlim_t(bytes)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &lim)
        defer {
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
            signal(SIGXFSZ, oldHandler)
        }
        return try body()
    }

    func fileSize(_ p: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: p)[.size] as? NSNumber)?.intValue ?? 0
    }

    func testCloseThrowsWhenTheFinalWriteFails() throws {
        let file = path("full.h5")
        let syn = SyntheticRecording(n: 64, k: 4, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                     options: WriterOptions(batchSteps: 1000, flushIntervalSeconds: nil))
        for s in 0..<200 { try w.append(syn.row(step: Int64(s), optional: false)) } // buffered, not written
        let size = try fileSize(file)
        let error: Error? = withFileSizeLimit(size + 4096) {
            do { try w.close(status: .completed); return nil } catch { return error }
        }
        let e = try XCTUnwrap(error, "close must report the failed final write")
        XCTAssertTrue(String(describing: e).contains(file), "\(e)")
        // A second close (e.g. with .interrupted) tries the status again instead of succeeding silently.
        try? w.close(status: .interrupted)
    }

    func testCloseThrowsWhenTheEigensolverCheckCannotBeWritten() throws {
        let file = path("check.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y)
        try w.append(syn.row(step: 0, optional: false))
        try w.flush()
        // Status fits in its dataset; a ~1 MiB attribute needs new file space beyond the limit.
        try w.setEigensolverCheck("{\"checks\":" + String(repeating: "1", count: 1 << 20) + "}")
        let size = try fileSize(file)
        let error: Error? = withFileSizeLimit(size + 4096) {
            do { try w.close(status: .completed); return nil } catch { return error }
        }
        XCTAssertNotNil(error, "close must report the failed attribute write")
    }

    func testDeinitWritesNothing() throws {
        let file = path("dropped.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        do {
            let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                         options: WriterOptions(batchSteps: 8, flushIntervalSeconds: nil))
            for s in 0..<12 { try w.append(syn.row(step: Int64(s), optional: false)) } // 8 flushed, 4 buffered
            try w.setEigensolverCheck("{}")
        }
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.stepCount(), 8, "rows buffered at deinit are not written")
        XCTAssertEqual(try r.status(), .running, "deinit writes no status")
        r.close()
        XCTAssertFalse(TrajectoryWriter.isBeingWritten(path: file), "deinit releases the writer lock")
        let f = try HDF5File.open(file, mode: .swmrRead)
        XCTAssertFalse(try f.group("/run").hasAttribute("eigensolver_check"))
        try f.close()
    }

    func testEigensolverCheckIsWrittenAtCloseAndReadAfterResume() throws {
        let file = path("resume-check.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y)
        for s in 0..<5 { try w.append(syn.row(step: Int64(s), optional: false)) }
        XCTAssertNil(try w.storedEigensolverCheck())
        try w.setEigensolverCheck("{\"checks\":1}")
        try w.close(status: .interrupted)
        let f = try HDF5File.open(file)
        XCTAssertEqual(try f.group("/run").stringAttribute("eigensolver_check"), "{\"checks\":1}")
        // Fixed length (512 bytes) since issue 11: later values overwrite it in place.
        let info = try f.group("/run").attributeInfo("eigensolver_check").type
        XCTAssertFalse(info.isVariableLengthString)
        XCTAssertEqual(info.size, 512)
        try f.close()
        let w2 = try TrajectoryWriter.resume(path: file, truncatingAfter: nil)
        XCTAssertEqual(try w2.storedEigensolverCheck(), "{\"checks\":1}")
        try w2.append(syn.row(step: 5, optional: false))
        try w2.setEigensolverCheck("{\"checks\":2}")
        try w2.close()
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.stepCount(), 6)
        XCTAssertEqual(try r.status(), .completed)
        r.close()
        let g = try HDF5File.open(file)
        XCTAssertEqual(try g.group("/run").stringAttribute("eigensolver_check"), "{\"checks\":2}")
        try g.close()
        XCTAssertEqual(try Validator().validate(path: file), [])
    }
}
