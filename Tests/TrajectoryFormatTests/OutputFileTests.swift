import EOSSystem
import Foundation
import HDF5Kit
import XCTest
@testable import TrajectoryFormat

/// The output rule (`OutputFile`) and the crash-safe `--in-place` (`AnalysisResults.writeInPlace`):
/// answers from the file system (bytes, inodes, modes, directory listings), not from the code under test.
final class OutputFileTests: TemporaryDirectoryTestCase {
    private func bytes(_ p: String) -> Data { FileManager.default.contents(atPath: p) ?? Data() }
    private func inode(_ p: String) -> UInt64 { (try? FileManager.default.attributesOfItem(atPath: p)[.systemFileNumber] as? UInt64) ?? 0 }
    private func mode(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? Int) ?? -1 }
    private func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(AtomicFile.temporaryMarker) }
    }
    private func failure(_ body: () throws -> Void) -> OutputFile.Failure? {
        do { try body() } catch let f as OutputFile.Failure { return f } catch { XCTFail("\(error)") }
        return nil
    }

    func testNewFileIsWrittenAndAnExistingOneOnlyWithForce() throws {
        let p = path("out.txt")
        try OutputFile.write("one\n", to: p, force: false)
        XCTAssertEqual(bytes(p), Data("one\n".utf8))
        let refused = failure { try OutputFile.write("two\n", to: p, force: false) }
        XCTAssertEqual(refused, OutputFile.Failure(.refused, path: p, problem: "exists; use --force to replace it"))
        XCTAssertEqual(bytes(p), Data("one\n".utf8))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: p)
        let before = inode(p)
        try OutputFile.write("two\n", to: p, force: true)
        XCTAssertEqual(bytes(p), Data("two\n".utf8))
        XCTAssertNotEqual(inode(p), before, "replaced by a rename, not rewritten in place")
        XCTAssertEqual(mode(p), 0o640, "the replaced file's permissions are kept")
        XCTAssertEqual(leftovers(), [])
    }

    func testFailedBodyLeavesTargetAndNoTemporaryFile() throws {
        let p = path("keep.bin")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: p))
        struct Boom: Error {}
        XCTAssertThrowsError(try OutputFile.produce(p, force: true) { tmp in
            try Data(repeating: 9, count: 100).write(to: URL(fileURLWithPath: tmp))
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(bytes(p), Data([1, 2, 3]))
        XCTAssertEqual(leftovers(), [])
    }

    func testNoReplaceRenameRefusesATargetCreatedMeanwhile() throws {
        let p = path("race.txt")
        let f = failure {
            try OutputFile.produce(p, force: false) { tmp in
                try Data("new".utf8).write(to: URL(fileURLWithPath: tmp))
                try Data("someone else".utf8).write(to: URL(fileURLWithPath: p))  // appears after the check
            }
        }
        XCTAssertEqual(f?.problem, "exists; use --force to replace it")
        XCTAssertEqual(bytes(p), Data("someone else".utf8))
        XCTAssertEqual(leftovers(), [])
    }

    func testLiveWriterAndOpenHDF5FilesAreRefusedEvenWithForce() throws {
        let live = path("live.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 4, p: 20, learningRate: 0.05, seed: 3)
        let w = try TrajectoryWriter(path: live, metadata: syn.metadata(), X: .stored(values: syn.X, d: 4), Y: syn.Y)
        try w.append(syn.row(step: 0, optional: false))
        try w.flush()
        let before = bytes(live)
        let f = failure { try OutputFile.write("x", to: live, force: true) }
        XCTAssertEqual(f?.kind, .refused)
        XCTAssertEqual(f?.problem, "is a recording that a live eostrace process is writing; not replacing it")
        XCTAssertEqual(bytes(live), before)
        let g = failure { try AnalysisResults(steps: [0], phase: [1], c1: [0], rNormSq: [0], rPrimeError: [0], anomaly: [0],
                                              options: "{}", summary: "{}", sourceFile: nil, softwareVersion: "t").writeInPlace(recording: live) }
        XCTAssertEqual(g?.kind, .refused)
        try w.close(status: .completed)
        XCTAssertNil(OutputFile.liveWriterProblem(live))

        // Another HDF5 handle open for writing (its lock and its superblock marks).
        let other = path("open.h5")
        let h = try HDF5File.create(other)
        XCTAssertNotNil(OutputFile.liveWriterProblem(other))
        XCTAssertTrue(OutputFile.superblockMarkedOpenForWrite(other))
        try h.close()
        XCTAssertNil(OutputFile.liveWriterProblem(other))
        XCTAssertFalse(OutputFile.superblockMarkedOpenForWrite(other))
    }

    func testDirectoriesAndMissingDirectoriesAreRefused() throws {
        XCTAssertEqual(failure { try OutputFile.check(dir.path, force: true) }?.problem, "is a directory; give a file name")
        XCTAssertEqual(failure { try OutputFile.check(path("no/such/out.h5"), force: true) }?.problem,
                       "the directory \(path("no/such")) does not exist")
    }

    func testInPlaceReplacesByRenameKeepingModeAndContents() throws {
        let rec = path("rec.h5")
        try writeSynthetic(rec, steps: 12)
        try FileManager.default.setAttributes([.posixPermissions: 0o604], ofItemAtPath: rec)
        let before = inode(rec)
        let trajectory = try TrajectoryReader(path: rec).read("loss")
        let r = AnalysisResults(steps: (0..<12).map { Int64($0) }, phase: Array(repeating: 2, count: 12),
                                c1: (0..<12).map { Double($0) }, rNormSq: Array(repeating: 0.5, count: 12),
                                rPrimeError: Array(repeating: .nan, count: 12), anomaly: Array(repeating: 0, count: 12),
                                options: "{}", summary: "{\"n\":1}", sourceFile: rec, softwareVersion: "t")
        try r.writeInPlace(recording: rec)
        XCTAssertNotEqual(inode(rec), before)
        XCTAssertEqual(mode(rec), 0o604)
        XCTAssertEqual(leftovers(), [])
        XCTAssertTrue(try AnalysisResults.read(path: rec).hasSameBits(as: r))
        XCTAssertEqual(try TrajectoryReader(path: rec).read("loss"), trajectory)
        XCTAssertEqual(try Validator().validate(path: rec), [])
        // A read-only recording is refused and left alone.
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: rec)
        let kept = bytes(rec)
        XCTAssertEqual(failure { try r.writeInPlace(recording: rec) }?.kind, .refused)
        XCTAssertEqual(bytes(rec), kept)
    }
}
