import EOSSystem
import EOSTestSupport
import Foundation
import XCTest

final class EOSSystemTests: XCTestCase {
    private var temporary: TemporaryDirectory!

    override func setUpWithError() throws { temporary = try TemporaryDirectory(prefix: "eossystem") }
    override func tearDownWithError() throws { temporary?.remove() }

    private func file(_ name: String) -> String {
        let p = temporary.path(name)
        XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data("x".utf8)))
        return p
    }

    func testFileLockIsExclusivePerOpenFileDescriptionAndReleased() throws {
        let p = file("lock.bin")
        XCTAssertFalse(FileLock.isHeld(path: p, offset: 1 << 62))
        guard case .acquired(let lock) = try FileLock.acquire(path: p, offset: 1 << 62) else { return XCTFail("not acquired") }
        XCTAssertTrue(FileLock.isHeld(path: p, offset: 1 << 62))
        #if os(Linux)
        // Open-file-description locks conflict within one process too.
        guard case .busy = try FileLock.acquire(path: p, offset: 1 << 62) else { return XCTFail("second lock not refused") }
        #endif
        lock.release()
        lock.release()
        XCTAssertFalse(FileLock.isHeld(path: p, offset: 1 << 62))
        XCTAssertThrowsError(try FileLock.acquire(path: temporary.path("missing"), offset: 0)) { e in
            XCTAssertEqual((e as? SystemError)?.isNoSuchFile, true, "\(e)")
            XCTAssertEqual((e as? SystemError)?.message, "No such file or directory")
        }
        XCTAssertFalse(FileLock.isHeld(path: temporary.path("missing"), offset: 0))
    }

    func testFlockProbe() throws {
        let p = file("flock.bin")
        XCTAssertFalse(FileLock.isFlockHeldElsewhere(path: p))
        let fd = open(p, O_RDONLY)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_SH), 0)
        XCTAssertTrue(FileLock.isFlockHeldElsewhere(path: p))
        XCTAssertEqual(flock(fd, LOCK_UN), 0)
        XCTAssertFalse(FileLock.isFlockHeldElsewhere(path: p))
        XCTAssertFalse(FileLock.isFlockHeldElsewhere(path: temporary.path("missing")))
    }

    func testSameFile() throws {
        let a = file("a"), b = file("b")
        let link = temporary.path("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: a)
        XCTAssertTrue(FileIdentity.isSameFile(a, link))
        XCTAssertTrue(FileIdentity.isSameFile(a, temporary.url.path + "/./a"))
        XCTAssertFalse(FileIdentity.isSameFile(a, b))
        XCTAssertFalse(FileIdentity.isSameFile(a, temporary.path("missing")))
        FileIdentity.removeIgnoringErrors(b)
        FileIdentity.removeIgnoringErrors(b)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b))
    }

    func testChildProcessExitCodesSignalsAndLimits() throws {
        let err = temporary.path("child.err")
        StandardStreams.flushAll()
        XCTAssertEqual(ChildProcess.run(limits: .init(), body: { 3 }), .exited(3))
        let limits = ChildProcess.Limits(standardErrorPath: err, discardStandardOutput: true, addressSpaceMiB: 4096,
                                         cpuSeconds: 20, alarmSeconds: 1)
        let hang = ChildProcess.run(limits: limits, prepare: { FatalSignalGuard.uninstall() }, body: {
            FileHandle.standardError.write(Data("child says\n".utf8))
            while true { pause() }
        })
        XCTAssertEqual(hang, .signaled(ChildProcess.alarmSignal))
        XCTAssertEqual(try String(contentsOfFile: err, encoding: .utf8), "child says\n")
        // The test runner has its own SIGSEGV handler; uninstall restores the default action.
        XCTAssertEqual(ChildProcess.run(limits: .init(), prepare: { FatalSignalGuard.uninstall() },
                                        body: { raise(SIGSEGV); return 0 }), .signaled(SIGSEGV))
    }

    func testFatalSignalGuardWritesOneLineAndExitsTwo() throws {
        let err = temporary.path("guard.err")
        StandardStreams.flushAll()
        let t = ChildProcess.run(limits: .init(standardErrorPath: err), body: {
            FatalSignalGuard.install { name in "eostrace: x.h5: failed fatally (\(name))\n" }
            raise(SIGSEGV)
            return 0
        })
        XCTAssertEqual(t, .exited(2))
        XCTAssertEqual(try String(contentsOfFile: err, encoding: .utf8), "eostrace: x.h5: failed fatally (Segmentation fault)\n")
        XCTAssertEqual(FatalSignalGuard.signalName(SIGBUS), "Bus error")
    }

    /// In-process (dispatch does not survive fork) and on SIGUSR2, so that the test runner keeps
    /// its SIGINT/SIGTERM.
    func testStopRequestIsSetByItsSignal() throws {
        let stop = StopRequest.install(signals: [SIGUSR2])
        XCTAssertFalse(stop.isSet)
        usleep(300_000)  // the sources register asynchronously; a signal before that is ignored
        kill(getpid(), SIGUSR2)
        for _ in 0..<500 where !stop.isSet { usleep(10_000) }
        XCTAssertTrue(stop.isSet)
    }
}
