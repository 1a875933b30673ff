import EOSSystem
import HDF5Kit

/// "A live writer has this recording open": an advisory lock that a `TrajectoryWriter` holds for
/// as long as it is open, so that other processes can tell a live recording from one whose writer
/// died (both keep `/run/status` = "running" and HDF5's SWMR marks), and so that a second writer
/// (`resume`, or a new recording at the same path) is refused instead of corrupting the file.
///
/// Mechanism: `EOSSystem.FileLock`, a write lock on one byte at offset 2^62, far beyond any data
/// (Linux: open-file-description lock; the kernel drops it when the writer closes or its process
/// dies, SIGKILL included). It does not interact with the `flock` locks HDF5 itself takes, nor
/// with reads. Only eostrace's writer takes it: a file written live by another program (e.g.
/// h5py) looks "not held".
final class WriterLock {
    static let offset: Int64 = 1 << 62

    private var lock: FileLock?

    /// Takes the lock on `path` (which must exist). Throws `HDF5Error` kind `.fileLocked` when
    /// another writer holds it.
    init(path: String) throws {
        let outcome: FileLock.Outcome
        do {
            outcome = try FileLock.acquire(path: path, offset: WriterLock.offset)
        } catch let e as SystemError {
            throw HDF5Error(kind: e.isNoSuchFile ? .fileNotFound : .library, file: path, object: "/",
                            operation: "open for writing", message: e.message)
        }
        switch outcome {
        case .acquired(let l): lock = l
        case .busy: throw WriterLock.busy(path)
        case .unsupported: lock = nil  // filesystems without lock support: carry on without the liveness mark
        }
    }

    static func busy(_ path: String) -> HDF5Error {
        HDF5Error(kind: .fileLocked, file: path, object: "/", operation: "open for writing",
                  message: "already open for writing by another live eostrace process")
    }

    /// Releases the lock (idempotent).
    func release() {
        lock?.release()
        lock = nil
    }

    deinit { release() }

    /// Throws `.fileLocked` when another program has the existing file at `path` open through
    /// HDF5 with its file lock (`flock`; h5py and every HDF5 writer hold an exclusive one,
    /// readers a shared one). Creating the file then would truncate it under that program:
    /// libhdf5 opens with O_TRUNC before it checks the lock.
    static func checkNotOpenElsewhere(path: String) throws {
        if FileLock.isFlockHeldElsewhere(path: path) {
            throw HDF5Error(kind: .fileLocked, file: path, object: "/", operation: "create",
                            message: "the file is open in another program (HDF5 file lock held); not replacing it")
        }
    }

    /// Whether some writer (another open file description, in any process) holds the lock.
    /// false when the file does not exist or the lock cannot be probed.
    static func isHeld(path: String) -> Bool { FileLock.isHeld(path: path, offset: offset) }
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
