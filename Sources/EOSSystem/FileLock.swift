#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory write lock on one byte of a file, held on a descriptor of our own for as long as
/// the `FileLock` lives (or until `release()`).
///
/// Linux: an open-file-description lock (`F_OFD_SETLK`), so two locks of one process conflict
/// and the kernel drops the lock when the descriptor is closed or the process dies (SIGKILL
/// included). Other platforms: a classic `F_SETLK` record lock (per process). It does not
/// interact with `flock(2)` locks (which libhdf5 takes) nor with reads.
public final class FileLock {
    /// What `acquire` found.
    public enum Outcome {
        /// The lock is ours.
        case acquired(FileLock)
        /// Another open file description (any process) holds a conflicting lock.
        case busy
        /// The file could be opened but the filesystem does not support the lock.
        case unsupported(SystemError)
    }

    #if os(Linux)
    static let setLock: Int32 = 37   // F_OFD_SETLK
    static let getLock: Int32 = 36   // F_OFD_GETLK
    #else
    static let setLock: Int32 = F_SETLK
    static let getLock: Int32 = F_GETLK
    #endif

    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    private static func record(_ type: Int32, offset: Int64) -> flock {
        var l = flock()
        l.l_type = Int16(type)
        l.l_whence = Int16(SEEK_SET)
        l.l_start = off_t(offset)
        l.l_len = 1
        l.l_pid = 0
        return l
    }

    /// Opens `path` read-write (it must exist) and takes a write lock on the byte at `offset`.
    /// Throws `SystemError` when the file cannot be opened.
    public static func acquire(path: String, offset: Int64) throws -> Outcome {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { throw SystemError.last }
        var l = record(Int32(F_WRLCK), offset: offset)
        if fcntl(fd, setLock, &l) != 0 {
            let e = errno
            close(fd)
            return e == EAGAIN || e == EACCES ? .busy : .unsupported(SystemError(code: e))
        }
        return .acquired(FileLock(fd: fd))
    }

    /// Whether some open file description (any process, this one included) holds a write lock on
    /// the byte at `offset` of `path`. false when the file does not exist or cannot be probed.
    public static func isHeld(path: String, offset: Int64) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var l = record(Int32(F_WRLCK), offset: offset)
        guard fcntl(fd, getLock, &l) == 0 else { return false }
        return l.l_type != Int16(F_UNLCK)
    }

    /// Whether another program holds a `flock(2)` lock on the existing file at `path` (HDF5's
    /// file lock: writers exclusive, readers shared): probes with a non-blocking exclusive
    /// `flock` and releases it at once. false when the file cannot be opened or flock fails for
    /// another reason than EWOULDBLOCK/EAGAIN.
    public static func isFlockHeldElsewhere(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            return e == EWOULDBLOCK || e == EAGAIN
        }
        _ = flock(fd, LOCK_UN)
        return false
    }

    /// Releases the lock (idempotent).
    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
