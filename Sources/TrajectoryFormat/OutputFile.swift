import EOSSystem
import Foundation

/// The one rule for every finished output of every command (analysis files, CSV, HTML, SVG):
///
/// - an existing file is never replaced without `force` ("exists; use --force to replace it");
/// - a file another process is writing is never replaced, even with `force`: a live eostrace
///   recording (`WriterLock`), a file another program holds open for writing through HDF5
///   (exclusive `flock`), or an HDF5 file whose superblock is marked open for writing (SWMR or
///   plain write marks: a live SWMR writer holds no lock; a killed one leaves the marks too, and
///   its file is a recording to resume, not to overwrite);
/// - only regular files are replaced (a directory, device or FIFO is refused);
/// - the bytes go to a temporary file beside the target (`.NAME.eostrace-tmp-XXXXXX`), which is
///   fsynced and renamed into place only when complete (`EOSSystem.AtomicFile`); a failed write
///   leaves the target untouched and removes the temporary file. Without `force` the final
///   rename also refuses a target created meanwhile (`RENAME_NOREPLACE`).
///
/// A symlink to an existing file is followed: the file it points to is replaced, the link kept.
/// Standard output (`-`) is the caller's business: this type only handles files.
public enum OutputFile {
    /// A refused or failed output, one line: `PATH: problem`.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// The rule refused the target (exit 1 in the CLI): it exists, is live, is not a
            /// regular file, or its directory cannot take the temporary file.
            case refused
            /// Writing failed (exit 2 in the CLI: no space, I/O error, ...); the target is untouched.
            case failed
        }

        public var kind: Kind
        public var path: String
        public var problem: String

        public init(_ kind: Kind, path: String, problem: String) {
            self.kind = kind
            self.path = path
            self.problem = problem
        }

        public var description: String { String("\(path): \(problem)".map { $0.isNewline ? " " : $0 }) }
    }

    /// The problem line when `path` is an existing file that something is writing now (see the
    /// type's rule), else nil.
    ///
    /// - Parameter checkingWriterLock: false for a caller that holds the `WriterLock` itself
    ///   (the probe cannot tell its own lock from another process's).
    public static func liveWriterProblem(_ path: String, checkingWriterLock: Bool = true) -> String? {
        if checkingWriterLock && WriterLock.isHeld(path: path) {
            return "is a recording that a live eostrace process is writing; not replacing it"
        }
        if FileLock.isExclusiveFlockHeldElsewhere(path: path) {
            return "is open for writing in another program (HDF5 file lock held); not replacing it"
        }
        if superblockMarkedOpenForWrite(path) {
            return "is marked open for writing by an HDF5 writer (live, or killed: `eostrace record --resume` "
                + "continues an interrupted recording); not replacing it"
        }
        return nil
    }

    /// Whether the HDF5 superblock of `path` (at offset 0, 512, 1024, ... as HDF5 searches it)
    /// has its "open for write" or "open for SWMR write" consistency flag set. false for files
    /// that are not HDF5 or cannot be read.
    public static func superblockMarkedOpenForWrite(_ path: String) -> Bool {
        guard let b = superblockStart(path) else { return false }
        // Version 0/1: 4-byte flags at byte 20; version 2/3: 1-byte flags at byte 11.
        // Bit 0: open for write; bit 2: open for SWMR write.
        let flags = b[8] < 2 ? UInt32(b[20]) | UInt32(b[21]) << 8 | UInt32(b[22]) << 16 | UInt32(b[23]) << 24 : UInt32(b[11])
        return flags & 0x05 != 0
    }

    /// The version of the HDF5 superblock of `path` (SWMR writing needs 3), nil for files that
    /// are not HDF5 or cannot be read.
    public static func superblockVersion(_ path: String) -> UInt8? {
        superblockStart(path)?[8]
    }

    /// The first 24 bytes of the superblock of `path`, found where HDF5 searches for it.
    private static func superblockStart(_ path: String) -> [UInt8]? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var offset: UInt64 = 0
        while offset + 24 <= size && offset <= 1 << 24 {
            guard (try? h.seek(toOffset: offset)) != nil, let d = try? h.read(upToCount: 24), d.count == 24 else { return nil }
            let b = [UInt8](d)
            if Array(b[0..<8]) == signature { return b }
            offset = offset == 0 ? 512 : offset * 2
        }
        return nil
    }

    /// The file an output to `path` replaces: the target of a symlink to an existing file,
    /// else `path` itself.
    public static func resolvedTarget(_ path: String) -> String {
        if AtomicFile.status(path) != nil, let real = AtomicFile.resolved(path) { return real }
        return path
    }

    /// Checks `path` against the rule before any work starts (and again at commit).
    ///
    /// - Throws: `Failure(.refused)` when the rule forbids writing it.
    public static func check(_ path: String, force: Bool) throws {
        if let st = AtomicFile.status(path) {
            if st.isDirectory { throw Failure(.refused, path: path, problem: "is a directory; give a file name") }
            guard st.isRegularFile else {
                throw Failure(.refused, path: path, problem: "exists and is not a regular file; not replacing it")
            }
            if let live = liveWriterProblem(path) { throw Failure(.refused, path: path, problem: live) }
            if !force { throw Failure(.refused, path: path, problem: "exists; use --force to replace it") }
        } else if AtomicFile.nameExists(path) {
            if !force { throw Failure(.refused, path: path, problem: "exists (a dangling symlink); use --force to replace it") }
        } else {
            let dir = AtomicFile.directory(of: path)
            guard let d = AtomicFile.status(dir), d.isDirectory else {
                throw Failure(.refused, path: path, problem: "the directory \(dir) does not exist")
            }
        }
        let dir = AtomicFile.directory(of: resolvedTarget(path))
        if !AtomicFile.isWritable(dir) {
            throw Failure(.refused, path: path, problem: "the directory \(dir) is not writable (the output is written beside it and renamed)")
        }
    }

    /// Writes `bytes` to `path` under the rule (see the type).
    public static func write(_ bytes: [UInt8], to path: String, force: Bool) throws {
        try produce(path, force: force) { temporary in
            try AtomicFile.writeContents(bytes, into: temporary, target: path)
        }
    }

    /// Writes `text` (UTF-8) to `path` under the rule.
    public static func write(_ text: String, to path: String, force: Bool) throws {
        try write(Array(text.utf8), to: path, force: force)
    }

    /// Checks `path`, lets `body` fill a new temporary file beside it (given by path; it exists,
    /// empty), then fsyncs it and renames it into place. Errors `body` throws pass through with
    /// the temporary file removed; a `TrajectoryError` or `HDF5Error` about the temporary file is
    /// reported as being about `path`.
    public static func produce(_ path: String, force: Bool, _ body: (String) throws -> Void) throws {
        try check(path, force: force)
        let target = resolvedTarget(path)
        let mode = AtomicFile.status(target)?.mode ?? AtomicFile.newFileMode
        let temporary: String
        do {
            temporary = try AtomicFile.createTemporary(beside: target, mode: mode)
        } catch let e as AtomicFileError {
            throw Failure(.refused, path: path, problem: e.problem + (e.system.map { ": \($0.message)" } ?? ""))
        }
        do {
            try body(temporary)
            try AtomicFile.setMode(temporary, mode, target: path)  // HDF5 may have recreated it
            // The target may have become live while we worked.
            if let live = liveWriterProblem(target) { throw Failure(.refused, path: path, problem: live) }
        } catch {
            AtomicFile.discard(temporary)
            throw renamed(error, from: temporary, to: path)
        }
        do {
            try AtomicFile.commit(temporary, to: target, replace: force)
        } catch let e as AtomicFileError {
            if e.kind == .exists { throw Failure(.refused, path: path, problem: "exists; use --force to replace it") }
            throw Failure(.failed, path: path, problem: e.problem + (e.system.map { ": \($0.message)" } ?? ""))
        }
    }

    /// `error` with the temporary file's name replaced by the target's.
    static func renamed(_ error: Error, from temporary: String, to path: String) -> Error {
        switch error {
        case var e as TrajectoryError:
            if e.file == temporary { e.file = path }
            return e
        case let e as AtomicFileError:
            return Failure(.failed, path: path, problem: e.problem + (e.system.map { ": \($0.message)" } ?? ""))
        default:
            let text = String(describing: error)
            if text.contains(temporary) {
                return Failure(.failed, path: path, problem: text.replacingOccurrences(of: temporary + ": ", with: "")
                                                              .replacingOccurrences(of: temporary, with: path))
            }
            return error
        }
    }
}
