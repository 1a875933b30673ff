#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pre-check of HDF5 global heap collections ("GCOL" blocks: the storage of variable-length
/// strings and of dimension-scale lists) and of local heaps ("HEAP": link names of old-style
/// groups), run before libhdf5 opens a file.
///
/// libhdf5 1.10.8 decodes a collection (H5HG__cache_heap_deserialize) by walking its objects
/// without bounds or progress checks: a free-space object of size 0 makes it loop forever, and
/// an object size beyond the collection makes later reads run off the buffer. The fuzzer found
/// both in corrupted recordings. This walk is the same as libhdf5's, with the checks: every
/// object must advance and end inside the collection. It scans the first `scanLimit` bytes of
/// the file (collections are written when objects are created, before the bulk data) for
/// blocks that start with "GCOL" and version 1 — the only ones libhdf5 would decode.
enum GlobalHeapCheck {
    static let scanLimit = 64 << 20

    /// nil when every collection found is well formed; otherwise a one-line problem.
    static func problem(path: String, sizeOfLengths: Int = 8) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }  // libhdf5 will report it
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(min(Int64(st.st_size), Int64(scanLimit)))
        guard size >= 16 else { return nil }
        var buf = [UInt8](repeating: 0, count: size)
        var got = 0
        let ok = buf.withUnsafeMutableBytes { p -> Bool in
            while got < size {
                let r = pread(fd, p.baseAddress! + got, size - got, off_t(got))
                if r <= 0 { return r == 0 }
                got += r
            }
            return true
        }
        guard ok else { return nil }
        return buf.withUnsafeBufferPointer { b -> String? in
            let n = got
            let atEOF = Int64(n) == Int64(st.st_size)
            // Signatures are found with memchr/memcmp (libc: fast, and not instrumented under
            // -sanitize=fuzzer, where a byte loop dominated every execution).
            for i in occurrences(of: [0x47, 0x43, 0x4F, 0x4C, 1], in: b, count: n) where i + 16 <= n {
                // "GCOL", version 1
                if let why = walk(b, at: i, available: n, atEOF: atEOF) {
                    return "global heap collection at byte \(i): \(why)"
                }
            }
            // "HEAP", version 0, reserved zeros: a local heap (the link names of old-style groups)
            for i in occurrences(of: [0x48, 0x45, 0x41, 0x50, 0, 0, 0, 0], in: b, count: n) where i + 32 <= n {
                if let why = localHeapProblem(b, at: i, available: n) {
                    return "local heap at byte \(i): \(why)"
                }
            }
            return nil
        }
    }

    /// Offsets of every occurrence of `pattern` in the first `count` bytes of `b`.
    private static func occurrences(of pattern: [UInt8], in b: UnsafeBufferPointer<UInt8>, count: Int) -> [Int] {
        guard let base = b.baseAddress, count >= pattern.count else { return [] }
        var found: [Int] = []
        var i = 0
        pattern.withUnsafeBytes { pat in
            while i + pattern.count <= count {
                guard let hit = memchr(base + i, Int32(pattern[0]), count - i - pattern.count + 1) else { break }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + at, pat.baseAddress!, pattern.count) == 0 { found.append(at) }
                i = at + 1
            }
        }
        return found
    }

    /// Byte `at`, or 0 past the bytes read (libhdf5's sec2 driver reads zeros past end of file).
    private static func byte(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64 { at < b.count ? UInt64(b[at]) : 0 }
    private static func u16(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> Int { Int(byte(b, at) | byte(b, at + 1) << 8) }
    private static func u64(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for j in 0..<8 { v |= byte(b, at + j) << (8 * UInt64(j)) }
        return v
    }

    /// A local heap's data segment holds NUL-terminated link names; libhdf5 1.10.8 copies a
    /// name with strdup (H5G__ent_to_link), which reads past the segment's buffer when no NUL
    /// follows the name inside it (libFuzzer found that heap overflow). Every well-formed data
    /// segment ends in a 0 byte (names are NUL-padded to 8 bytes; a free block there ends with
    /// the high byte of its size), so a segment whose last byte is not 0 is refused. Segments
    /// outside the scanned bytes are left to libhdf5.
    private static func localHeapProblem(_ b: UnsafeBufferPointer<UInt8>, at start: Int, available: Int) -> String? {
        let size = u64(b, start + 8), freeList = u64(b, start + 16), address = u64(b, start + 24)
        guard size > 0, size < UInt64(1 << 40), address < UInt64(1 << 40) else { return nil }
        guard freeList == UInt64.max || freeList < size else { return nil }  // not a heap header
        let end = address + size
        guard end <= UInt64(available) else { return nil }
        if b[Int(end) - 1] != 0 {
            return "data segment of \(size) bytes at \(address) does not end in a NUL (a link name would run past it)"
        }
        return nil
    }

    /// Walks one collection the way libhdf5 does; returns what is wrong, or nil.
    private static func walk(_ b: UnsafeBufferPointer<UInt8>, at start: Int, available: Int, atEOF: Bool) -> String? {
        let headerSize = 16, objectHeader = 16
        let declared = u64(b, start + 8)
        guard declared >= UInt64(headerSize) else { return "collection size \(declared) is smaller than its header" }
        // A collection running past the end of the file is read with zeros there by libhdf5
        // (and a zero object header loops forever): walk it that way. Past the scanned window of
        // a larger file the bytes are unknown: check what we have.
        let limit = atEOF ? UInt64(1 << 40) : UInt64(available - start)
        guard declared <= limit else { return "collection size \(declared) is absurd" }
        let end = start + Int(min(declared, limit))
        var p = start + headerSize
        while p < end {
            if p + objectHeader > end { break }  // tail too small for an object: free space
            let idx = u16(b, p)
            let objSize = u64(b, p + 8)
            let need: UInt64
            if idx > 0 {
                guard objSize <= UInt64(Int.max / 2) else { return "object \(idx) has size \(objSize)" }
                need = UInt64(objectHeader) + (objSize + 7) / 8 * 8
            } else {
                need = objSize
            }
            guard need > 0 else { return "free-space object of size 0 (libhdf5 would loop forever)" }
            guard need <= UInt64(end - p) else {
                return "object \(idx) of \(objSize) bytes runs past the end of the collection"
            }
            p += Int(need)
        }
        return nil
    }
}
