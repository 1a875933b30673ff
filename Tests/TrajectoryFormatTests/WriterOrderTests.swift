import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat
#if canImport(Glibc)
import Glibc
#endif

/// The writer's commit order (issue 11): a new file appears only complete (created beside and
/// renamed), "completed" is refused after a failed write, the eigensolver check of a checkpoint is
/// committed only after the flush that has its rows on disk, and an overwriting resume shrinks
/// nothing. (The kill-at-every-write proof is Tests/python/test_crash_record.py.)
final class WriterOrderTests: TemporaryDirectoryTestCase {
    func testNewFileIsCreatedBesideAndRenamedIntoPlace() throws {
        let file = path("new.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
        XCTAssertFalse(FileManager.default.fileExists(atPath: TrajectoryWriter.creatingPath(file)))
        XCTAssertTrue(TrajectoryWriter.isBeingWritten(path: file), "the lock follows the renamed file")
        // Already SWMR-writing when it appears: a reader opens it at once.
        XCTAssertEqual(try TrajectoryReader(path: file, swmr: true).status(), .running)
        try w.close()
    }

    func testFailedCreateLeavesNothing() throws {
        let file = path("missing-dir/new.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        XCTAssertThrowsError(try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y)) { e in
            XCTAssertTrue("\(e)".contains(file) && !"\(e)".contains(".creating"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: TrajectoryWriter.creatingPath(file)))
    }

    func testCompletedIsRefusedAfterAFailedWrite() throws {
        let file = path("failed.h5")
        let syn = SyntheticRecording(n: 64, k: 4, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                     options: WriterOptions(batchSteps: 1000, flushIntervalSeconds: nil))
        for s in 0..<200 { try w.append(syn.row(step: Int64(s), optional: false)) } // buffered, not written
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var lim = old
        lim.rlim_cur = rlim_t(size + 4096)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &lim)
        XCTAssertThrowsError(try w.close(status: .completed), "the rows do not fit")
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, oldHandler)
        // The rows are lost: a second "completed" is refused even with space; "interrupted" is written.
        XCTAssertThrowsError(try w.close(status: .completed))
        try w.close(status: .interrupted)
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.status(), .interrupted)
        XCTAssertEqual(try r.stepCount(), 0)
    }

    func testCheckpointCheckIsCommittedOnlyOnceItsRowsAreFlushed() throws {
        let file = path("check.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        var o = WriterOptions(batchSteps: 4, flushIntervalSeconds: nil)
        o.reserveEigensolverCheck = true
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y, options: o)
        func stored() throws -> String? { try TrajectoryReader(path: file, swmr: true).eigensolverCheckJSON() }
        for s in 0..<3 { try w.append(syn.row(step: Int64(s), optional: false)) }
        try w.setEigensolverCheck("{\"step\":2}", whenDurableThrough: 2)
        XCTAssertNil(try stored(), "reserved, empty until step 2 is on disk")
        try w.append(syn.row(step: 3, optional: false))  // fills the batch: flush, then the check
        XCTAssertEqual(try stored(), "{\"step\":2}")
        try w.close(status: .interrupted)
        XCTAssertEqual(try TrajectoryReader(path: file).eigensolverCheckJSON(), "{\"step\":2}")
    }

    func testOverwritingResumeShrinksNothingAndEndsLikeTheOriginal() throws {
        let a = path("a.h5"), b = path("b.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        for f in [a, b] {
            let w = try TrajectoryWriter(path: f, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                         options: WriterOptions(batchSteps: 4, flushIntervalSeconds: nil))
            for s in 0..<(f == a ? 12 : 10) { try w.append(syn.row(step: Int64(s), optional: false)) }
            try w.close(status: f == a ? .completed : .interrupted)
        }
        let w = try TrajectoryWriter.resume(path: b, truncatingAfter: 5, batchSteps: 4, overwriting: true)
        XCTAssertEqual(w.stepCount, 6)
        XCTAssertEqual(try TrajectoryReader(path: b, swmr: true).stepCount(), 10, "rows beyond step 5 stay until overwritten")
        for s in 6..<12 { try w.append(syn.row(step: Int64(s), optional: false)) }
        try w.close()
        XCTAssertEqual(try RecordingDiff().compare(a, b).filter { !$0.object.hasPrefix("/run/status") }, [])
        XCTAssertEqual(try TrajectoryReader(path: b).status(), .completed)
    }
}
