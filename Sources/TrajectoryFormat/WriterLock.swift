#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HDF5Kit

/// "A live writer has this recording open": an advisory lock that a `TrajectoryWriter` holds for
/// as long as it is open, so that other processes can tell a live recording from one whose writer
/// died (both keep `/run/status` = "running" and HDF5's SWMR marks), and so that a second writer
/// (`resume`, or a new recording at the same path) is refused instead of corrupting the file.
///
/// Mechanism: a Linux open-file-description lock (`F_OFD_SETLK`, write lock) on one byte at offset
/// 2^62, far beyond any data, taken on a descriptor of our own. The kernel drops it when the
/// writer closes or its process dies (SIGKILL included). It does not interact with the `flock`
/// locks HDF5 itself takes, nor with reads. Other platforms: classic `F_SETLK` (per process).
/// Only eostrace's writer takes it: a file written live by another program (e.g. h5py) looks
/// "not held".
final class WriterLock {
    static let offset: off_t = 1 << 62
    #if os(Linux)
    static let setLock: Int32 = 37   // F_OFD_SETLK
    static let getLock: Int32 = 36   // F_OFD_GETLK
    #else
    static let setLock: Int32 = F_SETLK
    static let getLock: Int32 = F_GETLK
    #endif

    private var fd: Int32

    private static func lockRecord(_ type: Int32) -> flock {
        var l = flock()
        l.l_type = Int16(type)
        l.l_whence = Int16(SEEK_SET)
        l.l_start = offset
        l.l_len = 1
        l.l_pid = 0
        return l
    }

    /// Takes the lock on `path` (which must exist). Throws `HDF5Error` kind `.fileLocked` when
    /// another writer holds it.
    init(path: String) throws {
        fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw HDF5Error(kind: e == ENOENT ? .fileNotFound : .library, file: path, object: "/",
                            operation: "open for writing", message: String(cString: strerror(e)))
        }
        var l = WriterLock.lockRecord(Int32(F_WRLCK))
        if fcntl(fd, WriterLock.setLock, &l) != 0 {
            let e = errno
            close(fd)
            fd = -1
            if e == EAGAIN || e == EACCES {
                throw WriterLock.busy(path)
            }
            // Filesystems without lock support: carry on without the liveness mark.
        }
    }

    static func busy(_ path: String) -> HDF5Error {
        HDF5Error(kind: .fileLocked, file: path, object: "/", operation: "open for writing",
                  message: "already open for writing by another live eostrace process")
    }

    /// Releases the lock (idempotent).
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }

    /// Throws `.fileLocked` when another program has the existing file at `path` open through
    /// HDF5 with its file lock (`flock`; h5py and every HDF5 writer hold an exclusive one,
    /// readers a shared one). Creating the file then would truncate it under that program:
    /// libhdf5 opens with O_TRUNC before it checks the lock.
    static func checkNotOpenElsewhere(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EWOULDBLOCK || e == EAGAIN {
                throw HDF5Error(kind: .fileLocked, file: path, object: "/", operation: "create",
                                message: "the file is open in another program (HDF5 file lock held); not replacing it")
            }
            return
        }
        _ = flock(fd, LOCK_UN)
    }

    /// Whether some writer (another open file description, in any process) holds the lock.
    /// false when the file does not exist or the lock cannot be probed.
    static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var l = lockRecord(Int32(F_WRLCK))
        guard fcntl(fd, getLock, &l) == 0 else { return false }
        return l.l_type != Int16(F_UNLCK)
    }
}

/// How to read `/run/status` of a file that may be live or left by a killed writer.
public struct StatusReport: Sendable, Equatable, CustomStringConvertible {
    /// The value stored in `/run/status`.
    public var stored: RunStatus
    /// Whether a live eostrace writer holds the file now.
    public var writerAlive: Bool
    /// `stored`, except that a stored "running" without a live writer is `.interrupted`.
    public var effective: RunStatus { stored == .running && !writerAlive ? .interrupted : stored }
    /// True for a stored "running" whose writer is gone (killed, crashed, disk full, ...).
    public var writerDied: Bool { stored == .running && !writerAlive }

    public init(stored: RunStatus, writerAlive: Bool) {
        self.stored = stored
        self.writerAlive = writerAlive
    }

    /// "running", "completed", ..., or "interrupted (writer died)".
    public var description: String { writerDied ? "interrupted (writer died)" : stored.rawValue }
}

extension TrajectoryReader {
    /// Whether a live eostrace `TrajectoryWriter` (any process) has this file open.
    public var hasLiveWriter: Bool { WriterLock.isHeld(path: path) }

    /// The stored status together with writer liveness (see `StatusReport`).
    public func statusReport() throws -> StatusReport {
        StatusReport(stored: try status(), writerAlive: hasLiveWriter)
    }
}

extension TrajectoryWriter {
    /// Whether a live eostrace writer (any process) has the file at `path` open.
    public static func isBeingWritten(path: String) -> Bool { WriterLock.isHeld(path: path) }
}
