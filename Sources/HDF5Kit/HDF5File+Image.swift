import CHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only opening of a file that is shorter than the end of allocation its superblock records.
///
/// A write that failed for lack of space (or past `ulimit -f`) can leave a superblock whose end
/// of allocation (EOA) lies beyond the bytes on disk; libhdf5 1.10.8 then refuses every open
/// ("truncated file", H5F__super_read) unless the file is marked open by an SWMR writer. The
/// writer extends such a file sparsely to the EOA itself; a reader must not change its input. So
/// the file is mapped privately (`mmap` MAP_PRIVATE: pages are read lazily from the file and
/// never written back) into an anonymous zero-filled region of EOA bytes — what libhdf5 reads past
/// the end of a file — and opened from that memory with the core driver and a file image whose
/// callbacks never copy it. Nothing is written to the file; memory is only what is read.
extension HDF5File {
    /// The superblock's end-of-allocation address (absolute) when it lies beyond the file's size,
    /// with the size; nil otherwise (or when there is no superblock at byte 0 with 8-byte
    /// addresses).
    public static func truncation(_ path: String) -> (size: Int, endOfAllocation: Int)? {
        let fd = openReadOnlyFD(path)
        guard fd >= 0 else { return nil }
        defer { closeFD(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        var b = [UInt8](repeating: 0, count: 64)
        guard pread(fd, &b, 64, 0) == 64, b[0..<8] == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func le(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        let base: UInt64, eoa: UInt64
        switch b[8] {
        case 0, 1:
            guard b[13] == 8 else { return nil }
            let p = 24 + (b[8] == 1 ? 4 : 0)
            base = le(p); eoa = le(p + 16)
        case 2, 3:
            guard b[9] == 8 else { return nil }
            base = le(12); eoa = le(28)
        default:
            return nil
        }
        let (end, o) = base.addingReportingOverflow(eoa)
        guard !o, end < 1 << 50, end > UInt64(st.st_size) else { return nil }
        return (Int(st.st_size), Int(end))
    }

    /// Opens read-only a file whose recorded end of allocation lies beyond its end of file (see
    /// the type's comment), from a private in-memory mapping padded with zeros to the EOA.
    /// Refuses when the EOA exceeds twice the file size plus 64 MiB (a forged superblock, not a
    /// write cut short). The same pre-checks as `open` run first.
    public static func openReadOnlyPaddedToAllocation(_ path: String) throws -> HDF5File {
        let site = CallSite(file: path, object: "/")
        try preCheck(path, site: site)
        guard let (size, eoa) = truncation(path) else {
            return try open(path, mode: .readOnly)
        }
        guard eoa <= 2 * size + (64 << 20) else {
            throw site.fail(.notHDF5, "open (readOnly)",
                            "the file is truncated (\(size) bytes; its HDF5 superblock says \(eoa))")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = (eoa + page - 1) / page * page
        guard let region = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              region != MAP_FAILED else {
            throw site.fail(.library, "open (readOnly)", "cannot map \(eoa) bytes: \(String(cString: strerror(errno)))")
        }
        let fd = openReadOnlyFD(path)
        let mapped = fd >= 0 ? mmap(region, (size + page - 1) / page * page, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_FIXED, fd, 0) : MAP_FAILED
        let err = errno
        if fd >= 0 { closeFD(fd) }
        guard mapped == region else {
            munmap(region, length)
            throw site.fail(.library, "open (readOnly)", "cannot map the file: \(String(cString: strerror(err)))")
        }
        do {
            let fapl = try site.id("H5Pcreate(file access)") { H5Pcreate(eos_H5P_FILE_ACCESS()) }
            defer { closeIfValid(fapl) }
            try site.check("H5Pset_fclose_degree") { H5Pset_fclose_degree(fapl, eos_H5F_CLOSE_STRONG()) }
            try site.check("H5Pset_fapl_core") { H5Pset_fapl_core(fapl, 1 << 16, false) }
            var callbacks = H5FD_file_image_callbacks_t(
                image_malloc: { _, _, udata in udata },
                image_memcpy: { dest, _, _, _, _ in dest },
                image_realloc: { _, _, _, _ in nil },
                image_free: { _, _, _ in 0 },
                udata_copy: { udata in udata },
                udata_free: { _ in 0 },
                udata: region)
            try site.check("H5Pset_file_image_callbacks") { H5Pset_file_image_callbacks(fapl, &callbacks) }
            try site.check("H5Pset_file_image") { H5Pset_file_image(fapl, region, eoa) }
            // The core driver opens no file when given an image; the name only identifies it.
            let name = path + " (read-only image)"
            let id = try site.id("open (readOnly)") {
                name.withCString { H5Fopen($0, eos_H5F_ACC_RDONLY(), fapl) }
            }
            let f = HDF5File(path: path, id: id, mode: .readOnly)
            f.image = (region, length)
            return f
        } catch {
            munmap(region, length)
            throw error
        }
    }
}

/// O_NONBLOCK: a FIFO opens at once (and is then refused as not a regular file) instead of waiting for a writer.
private func openReadOnlyFD(_ path: String) -> Int32 { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
private func closeFD(_ fd: Int32) { _ = close(fd) }
