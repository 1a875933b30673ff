import CHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open HDF5 file. Owns its `hid_t`; close it explicitly with `close()`, which reports errors
/// (deinit and `release()` close too, without reporting). Files are opened with close degree STRONG: closing the file closes
/// every object opened from it.
public final class HDF5File {
    /// How a file is opened.
    public enum Mode: String, Sendable {
        /// Read only; fails on a file marked open by a (possibly killed) SWMR writer.
        case readOnly
        /// Read only, as a single-writer/multiple-reader reader (follows a live writer; also opens
        /// a file left marked open by a killed SWMR writer).
        case swmrRead
        /// Read and write.
        case readWrite
        /// Read and write, as the SWMR writer (file must use the 1.10 format).
        case swmrWrite
    }

    /// Which file-format versions a new file may use.
    public enum FormatBounds: Sendable {
        /// Lowest = earliest, highest = v110: maximal compatibility (no SWMR).
        case earliestToV110
        /// Lowest = highest = v110: required for SWMR writing; readable by HDF5 ≥ 1.10.
        case v110
    }

    /// Path on disk as given.
    public let path: String
    /// How it was opened.
    public let mode: Mode
    var id: hid_t
    private(set) public var isSWMRWriting: Bool
    /// The private mapping a file opened by `openReadOnlyPaddedToAllocation` is read from;
    /// unmapped after the file is closed.
    var image: (UnsafeMutableRawPointer, Int)?

    var site: CallSite { CallSite(file: path, object: "/") }

    init(path: String, id: hid_t, mode: Mode) {
        self.path = path
        self.id = id
        self.mode = mode
        self.isSWMRWriting = mode == .swmrWrite
    }

    deinit {
        if id >= 0 {
            let fid = id
            _ = site.quiet { H5Fclose(fid) }
        }
        unmapImage()
    }

    /// Whether the file is read from an in-memory image padded to its end of allocation.
    public var isPaddedImage: Bool { image != nil }

    func unmapImage() {
        if let (p, n) = image { munmap(p, n) }
        image = nil
    }

    /// Whether the file handle is still open.
    public var isOpen: Bool { id >= 0 }

    // MARK: - Create and open

    /// Creates a new file (replacing an existing one when `overwrite`).
    public static func create(_ path: String, bounds: FormatBounds = .earliestToV110,
                              overwrite: Bool = true) throws -> HDF5File {
        let site = CallSite(file: path, object: "/")
        let fapl = try makeFileAccessList(site: site, bounds: bounds, clearStatusFlags: false, writable: true)
        defer { closeIfValid(fapl) }
        let flags = overwrite ? eos_H5F_ACC_TRUNC() : eos_H5F_ACC_EXCL()
        let id = try site.id("create file") {
            path.withCString { H5Fcreate($0, flags, hid_t(eos_H5P_DEFAULT()), fapl) }
        }
        return HDF5File(path: path, id: id, mode: .readWrite)
    }

    /// Opens an existing file.
    ///
    /// - Parameter clearStatusFlags: for `.readWrite` and `.swmrWrite` only: clear the "open for writing" marks a
    ///   killed SWMR writer left in the superblock (what `h5clear -s` does). Only use it when no
    ///   other process writes the file.
    public static func open(_ path: String, mode: Mode = .readOnly,
                            clearStatusFlags: Bool = false) throws -> HDF5File {
        let site = CallSite(file: path, object: "/")
        // A missing file gets a plain message instead of HDF5's stack.
        if !fileExists(path) {
            throw site.fail(.fileNotFound, "open", "no such file")
        }
        try preCheck(path, site: site)
        let fapl = try makeFileAccessList(site: site, bounds: nil,
                                          clearStatusFlags: clearStatusFlags && (mode == .readWrite || mode == .swmrWrite),
                                          writable: mode == .readWrite || mode == .swmrWrite)
        defer { closeIfValid(fapl) }
        if mode == .swmrRead {
            try site.check("H5Pset_metadata_read_attempts") {
                H5Pset_metadata_read_attempts(fapl, swmrMetadataReadAttempts)
            }
        }
        let flags: UInt32
        switch mode {
        case .readOnly: flags = eos_H5F_ACC_RDONLY()
        case .swmrRead: flags = eos_H5F_ACC_RDONLY() | eos_H5F_ACC_SWMR_READ()
        case .readWrite: flags = eos_H5F_ACC_RDWR()
        case .swmrWrite: flags = eos_H5F_ACC_RDWR() | eos_H5F_ACC_SWMR_WRITE()
        }
        let id = try site.id("open (\(mode.rawValue))") {
            path.withCString { H5Fopen($0, flags, fapl) }
        }
        return HDF5File(path: path, id: id, mode: mode)
    }

    /// What `open` checks before libhdf5 sees the file.
    static func preCheck(_ path: String, site: CallSite) throws {
        // A FIFO would block the open (and libhdf5 would wait forever for its writer); a
        // directory or device is no recording either.
        if let kind = nonRegularKind(path) {
            throw site.fail(.notHDF5, "open", "is a \(kind), not a regular file")
        }
        // libhdf5 1.10 loops forever or reads out of bounds on some corrupted global heaps.
        if let problem = GlobalHeapCheck.problem(path: path) {
            throw site.fail(.notHDF5, "open", "corrupt HDF5 file: \(problem)")
        }
        // ... and overflows its buffers on attribute, vlen and chunk sizes it trusts.
        if let problem = ObjectHeaderCheck.problem(path: path) {
            throw site.fail(.notHDF5, "open", "corrupt HDF5 file: \(problem)")
        }
    }

    /// Metadata read attempts of an SWMR reader. HDF5's default (100) retries a metadata block
    /// whose checksum fails with exponential backoff from 1 ns, capped at one hour per wait: on a
    /// corrupted file, opening or reading as SWMR reader then sleeps for hours. 24 attempts wait
    /// at most about 2^24 ns ≈ 17 ms in total per metadata block, ample for a live writer's torn metadata writes.
    public static let swmrMetadataReadAttempts: UInt32 = 24

    /// Whether the file at `path` starts with the HDF5 signature (at offset 0, 512, 1024, ...).
    public static func isHDF5(_ path: String) -> Bool {
        CallSite(file: path, object: "/").quiet { path.withCString { H5Fis_hdf5($0) } } > 0
    }

    /// "FIFO", "directory", "character device", ... when `path` exists and is not a regular file
    /// (symbolic links followed); nil for a regular file or when `stat` fails.
    public static func nonRegularKind(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: return "FIFO"
        case S_IFDIR: return "directory"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFSOCK: return "socket"
        default: return "special file"
        }
    }

    static func fileExists(_ path: String) -> Bool {
        path.withCString { access($0, F_OK) } == 0
    }

    /// With `writable`, the data sieve buffer is off: a contiguous dataset's values are written by
    /// `H5Dwrite` itself, whose errors are reported where they happen. With it on (the default,
    /// 64 KiB), they reach the disk only when the dataset is flushed or closed, and libhdf5 1.10.8
    /// does not survive a failed write there: `H5Dclose` returns an error but leaves the
    /// identifier registered with its dataset freed, so the next call that visits every open
    /// object (`H5Fstart_swmr_write`, `H5Fclose`) crashes in `H5D_close` (SIGSEGV; found with
    /// ENOSPC injected at the write of /data/X while `record` creates its file). Chunked datasets
    /// do not use the sieve buffer; for the small contiguous ones the cost is nil.
    private static func makeFileAccessList(site: CallSite, bounds: FormatBounds?,
                                           clearStatusFlags: Bool, writable: Bool = false) throws -> hid_t {
        let fapl = try site.id("H5Pcreate(file access)") { H5Pcreate(eos_H5P_FILE_ACCESS()) }
        do {
            try site.check("H5Pset_fclose_degree") { H5Pset_fclose_degree(fapl, eos_H5F_CLOSE_STRONG()) }
            if writable {
                try site.check("H5Pset_sieve_buf_size") { H5Pset_sieve_buf_size(fapl, 0) }
            }
            switch bounds {
            case .earliestToV110?:
                try site.check("H5Pset_libver_bounds") {
                    H5Pset_libver_bounds(fapl, eos_H5F_LIBVER_EARLIEST(), eos_H5F_LIBVER_V110())
                }
            case .v110?:
                try site.check("H5Pset_libver_bounds") {
                    H5Pset_libver_bounds(fapl, eos_H5F_LIBVER_V110(), eos_H5F_LIBVER_V110())
                }
            case nil:
                break
            }
            if clearStatusFlags {
                try site.check("set clear_status_flags") { eos_set_clear_status_flags(fapl) }
            }
        } catch {
            closeIfValid(fapl)
            throw error
        }
        return fapl
    }

    // MARK: - File operations

    /// Switches an open read-write file to SWMR writing. Afterwards SWMR allows no new group or
    /// dataset; datasets can be extended and written. (libhdf5 1.10.8 and 2.0 still accept
    /// creating or replacing an attribute; TrajectoryWriter does that once, right before close.)
    public func startSWMRWrite() throws {
        let fid = try openID()
        try site.check("start SWMR write") { H5Fstart_swmr_write(fid) }
        isSWMRWriting = true
    }

    /// Flushes all buffers of the file to disk.
    public func flush() throws {
        let fid = try openID()
        try site.check("flush") { H5Fflush(fid, H5F_SCOPE_GLOBAL) }
    }

    /// Closes the file (and, degree STRONG, every object opened from it). Idempotent.
    public func close() throws {
        guard id >= 0 else { return }
        let fid = id
        id = -1
        defer { unmapImage() }
        try site.check("close") { H5Fclose(fid) }
    }

    /// Closes the file handle without reporting an error (for deinit paths: the error that left a
    /// file half-written was reported already, and HDF5's own final flush may fail again).
    /// Idempotent; prefer `close()`.
    public func release() {
        guard id >= 0 else { return }
        let fid = id
        id = -1
        _ = site.quiet { H5Fclose(fid) }
        unmapImage()
    }

    /// The end-of-allocation address: how long HDF5 believes the file is (nil when unknown).
    public func endOfAllocation() -> Int? {
        guard id >= 0 else { return nil }
        var eoa: haddr_t = 0
        let fid = id
        return site.quiet { H5Fget_eoa(fid, &eoa) } >= 0 ? Int(eoa) : nil
    }

    /// Raises the end-of-allocation address to the end of the file when it is below it
    /// (`H5Fincrement_filesize(0)`, what `h5clear --increment` does). A killed SWMR writer leaves a
    /// superblock whose EOA predates its last allocations; a read-write reopen would otherwise
    /// fail reading those objects ("addr overflow") or, worse, allocate over them.
    public func raiseAllocationToFileSize() throws {
        let fid = try openID()
        try site.check("H5Fincrement_filesize") { H5Fincrement_filesize(fid, 0) }
    }

    /// Extends the file on disk (sparsely) to `length` bytes when it is shorter. After a write
    /// failed for lack of space, the superblock may record an end of file beyond the bytes that
    /// reached the disk, and HDF5 1.10 then refuses to open the file ("truncated file"); the
    /// extension needs no disk blocks. Returns whether the file now has at least `length` bytes.
    @discardableResult
    public static func extend(_ path: String, to length: Int) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        if Int(st.st_size) >= length { return true }
        return truncate(path, off_t(length)) == 0
    }

    /// Size of the file in bytes as HDF5 sees it.
    public func size() throws -> Int {
        let fid = try openID()
        var s: hsize_t = 0
        try site.check("H5Fget_filesize") { H5Fget_filesize(fid, &s) }
        return Int(s)
    }

    func openID() throws -> hid_t {
        guard id >= 0 else { throw site.fail(.library, "use", "file is closed") }
        return id
    }

    // MARK: - Objects

    /// The root group.
    public func root() throws -> HDF5Group { try group("/") }

    /// Opens the group at an absolute path.
    public func group(_ path: String) throws -> HDF5Group {
        let fid = try openID()
        let s = CallSite(file: self.path, object: path)
        guard path == "/" || exists(path) else { throw s.fail(.objectNotFound, "open group", "no such object") }
        let gid = try s.id("open group") { path.withCString { H5Gopen2(fid, $0, hid_t(eos_H5P_DEFAULT())) } }
        return HDF5Group(file: self, id: gid, path: path)
    }

    /// Creates a group at an absolute path (parents must exist).
    @discardableResult
    public func createGroup(_ path: String) throws -> HDF5Group {
        let fid = try openID()
        let s = CallSite(file: self.path, object: path)
        let gid = try s.id("create group") {
            path.withCString {
                H5Gcreate2(fid, $0, hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT()))
            }
        }
        return HDF5Group(file: self, id: gid, path: path)
    }

    /// Opens the dataset at an absolute path.
    ///
    /// - Parameter chunkCacheBytes: raw-data chunk cache for this dataset (not stored in the file);
    ///   nil keeps HDF5's default (1 MiB).
    public func dataset(_ path: String, chunkCacheBytes: Int? = nil) throws -> HDF5Dataset {
        let fid = try openID()
        let s = CallSite(file: self.path, object: path)
        guard exists(path) else { throw s.fail(.objectNotFound, "open dataset", "no such object") }
        let dapl = try HDF5Dataset.accessList(site: s, chunkCacheBytes: chunkCacheBytes)
        defer { closeIfValid(dapl) }
        let did = try s.id("open dataset") { path.withCString { H5Dopen2(fid, $0, dapl) } }
        return HDF5Dataset(file: self, id: did, path: path)
    }

    /// Kind of object at a path.
    public enum ObjectKind: Sendable { case group, dataset, other }

    /// Whether an object exists at the absolute path (every intermediate link is checked; never throws).
    public func exists(_ path: String) -> Bool {
        guard id >= 0 else { return false }
        if path == "/" { return true }
        let parts = path.split(separator: "/").map(String.init)
        var prefix = ""
        let fid = id
        for part in parts {
            prefix += "/" + part
            let p = prefix
            let r = site.quiet { p.withCString { H5Lexists(fid, $0, hid_t(eos_H5P_DEFAULT())) } }
            if r <= 0 { return false }
        }
        let r = site.quiet { path.withCString { H5Oexists_by_name(fid, $0, hid_t(eos_H5P_DEFAULT())) } }
        return r > 0
    }

    /// The kind of the object at `path`, or nil when there is none.
    public func kind(of path: String) -> ObjectKind? {
        guard exists(path) else { return nil }
        let fid = id
        let oid = site.quiet { path.withCString { H5Oopen(fid, $0, hid_t(eos_H5P_DEFAULT())) } }
        guard oid >= 0 else { return nil }
        defer { closeIfValid(oid) }
        let t = eos_object_type(oid)
        if t == eos_H5I_GROUP() { return .group }
        if t == eos_H5I_DATASET() { return .dataset }
        return .other
    }
}
