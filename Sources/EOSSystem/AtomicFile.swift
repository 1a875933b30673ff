#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed step of an atomic write: the file concerned, what was being done and why it failed.
public struct AtomicFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The target exists and replacing it was not allowed.
        case exists
        /// A POSIX call failed (`errno` in `system`).
        case system
    }

    public var kind: Kind
    /// The file the error is about (the target, not the temporary file).
    public var path: String
    /// What failed, e.g. "cannot create a temporary file beside it".
    public var problem: String
    /// The `errno` of a `.system` failure.
    public var system: SystemError?

    public init(kind: Kind, path: String, problem: String, system: SystemError? = nil) {
        self.kind = kind
        self.path = path
        self.problem = problem
        self.system = system
    }

    /// `PATH: problem[: strerror]`, one line.
    public var description: String {
        "\(path): \(problem)" + (system.map { ": \($0.message)" } ?? "")
    }
}

/// Finished outputs written so that a reader (or a crash) only ever sees the old file or the
/// complete new one: the bytes go to a temporary file beside the target (same directory, so the
/// rename stays on one filesystem), which is fsynced, renamed into place, and the directory is
/// fsynced. A failure at any step before the rename leaves the target untouched; the handled
/// failures remove the temporary file (a killed process can leave one behind, named
/// `.NAME.eostrace-tmp-XXXXXX`: safe to delete).
public enum AtomicFile {
    /// The marker in temporary file names.
    public static let temporaryMarker = ".eostrace-tmp-"

    /// Directory part of `path` ("." when it has none).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    /// File-name part of `path`.
    public static func fileName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Creates a new empty file `.NAME.eostrace-tmp-XXXXXX` beside `target` (`mkstemp`, mode
    /// 0600, or `mode` when given) and returns its path.
    public static func createTemporary(beside target: String, mode: UInt32? = nil) throws -> String {
        let dir = directory(of: target)
        var name = Array("\(dir)/.\(fileName(of: target))\(temporaryMarker)XXXXXX".utf8CString)
        let fd = name.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 {
            throw AtomicFileError(kind: .system, path: target,
                                  problem: "cannot create a temporary file in \(dir)", system: .last)
        }
        let path = String(cString: name)
        if let mode, fchmod(fd, mode_t(mode)) != 0 {
            let e = SystemError.last
            close(fd)
            _ = unlink(path)
            throw AtomicFileError(kind: .system, path: target, problem: "cannot set the permissions of the new file", system: e)
        }
        close(fd)
        return path
    }

    /// Removes a temporary file (errors ignored).
    public static func discard(_ temporary: String) { _ = unlink(temporary) }

    /// `fsync(2)` of the file at `path`; `target` names it in errors.
    public static func sync(_ path: String, target: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw AtomicFileError(kind: .system, path: target, problem: "cannot reopen the new file", system: .last) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw AtomicFileError(kind: .system, path: target, problem: "cannot sync the new file to disk", system: .last) }
    }

    /// `fsync(2)` of the directory holding `path` (makes a rename durable). Filesystems that do not
    /// support syncing a directory (EINVAL) are accepted.
    public static func syncDirectory(of path: String) throws {
        let dir = directory(of: path)
        let fd = open(dir, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw AtomicFileError(kind: .system, path: path, problem: "cannot open the directory \(dir)", system: .last) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL {
            throw AtomicFileError(kind: .system, path: path, problem: "cannot sync the directory \(dir)", system: .last)
        }
    }

    /// Syncs `temporary`, moves it to `target` and syncs the directory. With `replace` false an
    /// existing target is never replaced, even one created after the caller checked
    /// (`renameat2(RENAME_NOREPLACE)`, else `link` + `unlink`): `AtomicFileError(.exists)`.
    /// On any error the temporary file is removed and the target is as it was.
    public static func commit(_ temporary: String, to target: String, replace: Bool) throws {
        do {
            try sync(temporary, target: target)
            if replace {
                if rename(temporary, target) != 0 {
                    throw AtomicFileError(kind: .system, path: target, problem: "cannot rename the new file into place", system: .last)
                }
            } else {
                try moveNoReplace(temporary, to: target)
            }
        } catch {
            discard(temporary)
            throw error
        }
        try syncDirectory(of: target)
    }

    private typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc's `renameat2` (2.28+), looked up at run time: the Swift Glibc module does not export it.
    nonisolated(unsafe) private static let renameat2: Renameat2? = {
        #if os(Linux)
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(sym, to: Renameat2.self)
        #else
        return nil
        #endif
    }()

    private typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int

    /// glibc's `copy_file_range` (2.27+), looked up at run time like `renameat2`.
    nonisolated(unsafe) private static let copyFileRange: CopyFileRange? = {
        #if os(Linux)
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(sym, to: CopyFileRange.self)
        #else
        return nil
        #endif
    }()

    private static func moveNoReplace(_ temporary: String, to target: String) throws {
        let noReplace: UInt32 = 1  // RENAME_NOREPLACE
        if let renameat2 {
            if renameat2(AT_FDCWD, temporary, AT_FDCWD, target, noReplace) == 0 { return }
            let e = errno
            if e == EEXIST { throw AtomicFileError(kind: .exists, path: target, problem: "exists") }
            if e != EINVAL && e != ENOSYS && e != ENOTSUP {
                throw AtomicFileError(kind: .system, path: target, problem: "cannot rename the new file into place", system: SystemError(code: e))
            }
        }
        // Filesystems without RENAME_NOREPLACE: a hard link also fails when the name exists.
        if link(temporary, target) == 0 {
            _ = unlink(temporary)
            return
        }
        let e = errno
        if e == EEXIST { throw AtomicFileError(kind: .exists, path: target, problem: "exists") }
        // No hard links either (some FUSE/network filesystems): check, then rename.
        var st = stat()
        if lstat(target, &st) == 0 { throw AtomicFileError(kind: .exists, path: target, problem: "exists") }
        if rename(temporary, target) != 0 {
            throw AtomicFileError(kind: .system, path: target, problem: "cannot rename the new file into place", system: .last)
        }
    }

    /// Permission bits of a new file: 0666 minus the process's umask.
    public static var newFileMode: UInt32 {
        let mask = umask(0o022)
        umask(mask)
        return 0o666 & ~UInt32(mask)
    }

    /// Writes `bytes` to `target` atomically (temporary file, fsync, rename, directory fsync),
    /// mode `newFileMode`. With `replace` false an existing target is refused (`.exists`).
    public static func write(_ bytes: [UInt8], to target: String, replace: Bool) throws {
        let temporary = try createTemporary(beside: target, mode: newFileMode)
        do {
            try writeContents(bytes, into: temporary, target: target)
        } catch {
            discard(temporary)
            throw error
        }
        try commit(temporary, to: target, replace: replace)
    }

    /// Writes `bytes` into the existing file `path` (truncated first); `target` names it in errors.
    public static func writeContents(_ bytes: [UInt8], into path: String, target: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        if fd < 0 { throw AtomicFileError(kind: .system, path: target, problem: "cannot open the new file", system: .last) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = posixWrite(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError(kind: .system, path: target, problem: "cannot write", system: .last)
                }
                done += n
            }
        }
    }

    /// Sets the permission bits of `path` to `mode` (`chmod(2)`).
    public static func setMode(_ path: String, _ mode: UInt32, target: String) throws {
        if chmod(path, mode_t(mode)) != 0 {
            throw AtomicFileError(kind: .system, path: target, problem: "cannot set the permissions of the new file", system: .last)
        }
    }

    /// Copies the regular file `source` into the existing file `destination` (truncated first):
    /// `copy_file_range(2)` (in-kernel, reflinks where the filesystem can), falling back to
    /// read/write. `target` names the file in errors.
    public static func copyContents(of source: String, into destination: String, target: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        if input < 0 { throw AtomicFileError(kind: .system, path: source, problem: "cannot open for copying", system: .last) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_TRUNC | O_CLOEXEC)
        if output < 0 { throw AtomicFileError(kind: .system, path: target, problem: "cannot open the copy", system: .last) }
        defer { close(output) }
        func fail(_ what: String) -> AtomicFileError {
            AtomicFileError(kind: .system, path: target, problem: what, system: .last)
        }
        var useKernelCopy = copyFileRange != nil
        while useKernelCopy, let copyFileRange {
            let n = copyFileRange(input, nil, output, nil, 1 << 30, 0)
            if n > 0 { continue }
            if n == 0 { return }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF {
                // Only possible before the first byte was copied (same files throughout).
                useKernelCopy = false
            } else {
                throw fail("cannot copy the recording")
            }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("cannot read the recording for copying")
            }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { posixWrite(output, $0.baseAddress! + done, n - done) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw fail("cannot write the copy")
                }
                done += w
            }
        }
    }

    /// What `stat(2)` says about an existing path (nil when it does not exist).
    public struct Status: Sendable {
        /// Regular file (after following symlinks).
        public var isRegularFile: Bool
        /// Directory (after following symlinks).
        public var isDirectory: Bool
        /// Permission bits (`st_mode & 07777`).
        public var mode: UInt32
        public var size: Int64
        public var owner: UInt32
        public var group: UInt32
    }

    /// `stat(2)` of `path` (symlinks followed); nil when it does not exist (or a dangling symlink).
    public static func status(_ path: String) -> Status? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let type = st.st_mode & S_IFMT
        return Status(isRegularFile: type == S_IFREG, isDirectory: type == S_IFDIR, mode: UInt32(st.st_mode & 0o7777),
                      size: Int64(st.st_size), owner: UInt32(st.st_uid), group: UInt32(st.st_gid))
    }

    /// Whether `path` exists as a name (`lstat`: a dangling symlink counts).
    public static func nameExists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// `realpath(3)` of an existing path (nil when it cannot be resolved).
    public static func resolved(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// `access(path, W_OK)`.
    public static func isWritable(_ path: String) -> Bool { access(path, W_OK) == 0 }

    /// Gives the file at `path` the owner and group (best effort: only root may give files away;
    /// errors ignored).
    public static func setOwner(_ path: String, owner: UInt32, group: UInt32) {
        _ = chown(path, uid_t(owner), gid_t(group))
    }
}

/// libc `write(2)` (the name is shadowed by `AtomicFile.write` inside the enum).
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }

extension FileLock {
    /// Whether another open file description holds an exclusive `flock(2)` lock on `path` (an
    /// HDF5 writer of another program; readers hold shared locks, which this does not count):
    /// probes with a non-blocking shared `flock`. false when the file cannot be opened.
    public static func isExclusiveFlockHeldElsewhere(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 {
            let e = errno
            return e == EWOULDBLOCK || e == EAGAIN
        }
        _ = flock(fd, LOCK_UN)
        return false
    }
}
