#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pre-check of object headers, attribute messages, variable-length attribute data and chunk
/// indexes, run (after `GlobalHeapCheck`) before libhdf5 opens a file.
///
/// libhdf5 1.10.8 trusts sizes inside metadata it has already read: libFuzzer found heap
/// overflows (memcpy) in
/// - `H5O__msg_iterate_real` / `H5O_attr_decode`: an attribute message whose name, datatype,
///   dataspace or data (elements × element size) runs past the message, and so past its
///   object-header chunk;
/// - `H5HG_read`: a variable-length attribute element (e.g. a `DIMENSION_LIST` entry) whose global
///   heap object is larger than the sequence it is read into (libhdf5 copies the whole object into
///   a buffer of sequence length × base size), or names the collection's free space (index 0);
/// - `H5D__select_read` on chunked datasets: a layout whose element dimension differs from the
///   datatype's size or whose rank differs from the dataspace's, or an unfiltered chunk whose
///   stored size differs from its declared dimensions × element size;
/// - `H5MM_xstrdup` (from `H5O_attr_decode`): an attribute name without its NUL inside the stored
///   name length, copied with strdup past the chunk;
/// - `H5MM_xstrdup` (from the datatype decoder): enum or compound member names, or other parts of
///   an encoded datatype, running past the bytes stored for the datatype
///   (`ObjectHeaderCheck+Datatype.swift`);
/// - `H5A__read`: a variable-length attribute datatype declaring another element size than the
///   16 bytes a stored element takes (the data buffer is sized by the declared size, then read
///   16 bytes per element);
/// and an out-of-memory in `H5C_protect`: metadata whose declared length libhdf5 allocates before
/// comparing it with the end of allocation (an object-header continuation chunk; likewise a local
/// heap's data segment and a stored chunk), refused here when it runs past the end of the file
/// (or past the superblock's end of allocation when that is larger: a write cut short); the
/// same for a version-0/1 superblock's driver information block (`H5F__super_read`), and a
/// driver info message in the superblock extension must hold the length it declares.
///
/// The walk starts at the superblock (versions 0–3, 8-byte offsets and lengths) and its
/// extension, follows old-style groups (symbol table: v1 B-tree of "SNOD" nodes, local heap) and
/// compact links (link messages), reads version-1 and version-2 ("OHDR"/"OCHK") object headers with their
/// continuation chunks and checks each attribute message, the vlen elements of attributes and, for
/// layout-version-3 chunked datasets, every key of their v1 B-tree chunk index. What it cannot
/// reach (dense link or attribute storage in fractal heaps, layout-v4 chunk indexes, shared
/// datatypes) is left to libhdf5, whose version-2 metadata has checksums. It reads with `pread`
/// and stops checking (returns nil) after a fixed budget of reads, so a large file costs little.
enum ObjectHeaderCheck {
    static let maxReads = 200_000
    static let maxHeaders = 20_000

    /// nil when nothing wrong was found; otherwise a one-line problem naming the object.
    static func problem(path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 64 else { return nil }
        var w = Walker(fd: fd, size: UInt64(st.st_size))
        return w.run()
    }

    struct Found: Error { let message: String }
    struct Budget: Error {}

    struct Walker {
        let fd: Int32
        let size: UInt64
        var reads = 0
        var base: UInt64 = 0
        /// The largest absolute address metadata may reach: the file size, or the superblock's end
        /// of allocation when that lies beyond it (a write cut short, read padded with zeros).
        var limit: UInt64 = 0
        var seen = Set<UInt64>()
        var todo: [(UInt64, String)] = []
        var collections: [UInt64: [Int: UInt64]] = [:]  // global heap: object index -> size

        init(fd: Int32, size: UInt64) { self.fd = fd; self.size = size; self.limit = size }

        /// `count` bytes at absolute file offset `at`; nil past the end of the file.
        mutating func read(_ at: UInt64, _ count: Int) throws -> [UInt8]? {
            reads += 1
            if reads > ObjectHeaderCheck.maxReads { throw Budget() }
            guard count >= 0, count <= 1 << 26, at < size, size - at >= UInt64(count) else { return nil }
            var buf = [UInt8](repeating: 0, count: count)
            var got = 0
            let ok = buf.withUnsafeMutableBytes { p -> Bool in
                while got < count {
                    let r = pread(fd, p.baseAddress! + got, count - got, off_t(at) + off_t(got))
                    if r <= 0 { return false }
                    got += r
                }
                return true
            }
            return ok ? buf : nil
        }

        mutating func run() -> String? {
            do {
                try superblock()
                var headers = 0
                while let (addr, name) = todo.popLast() {
                    guard !seen.contains(addr) else { continue }
                    seen.insert(addr)
                    headers += 1
                    if headers > ObjectHeaderCheck.maxHeaders { return nil }
                    try objectHeader(addr, name)
                }
                return nil
            } catch let f as Found {
                return f.message
            } catch {
                return nil  // budget exhausted: what was checked was fine
            }
        }

        mutating func superblock() throws {
            // The signature may be at 0, 512, 1024, ...
            var at: UInt64 = 0
            var sb: [UInt8]? = nil
            while at < min(size, 1 << 20) {
                if let b = try read(at, 8), b == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] {
                    sb = try read(at, 96) ?? read(at, Int(min(size - at, 96)))
                    break
                }
                at = at == 0 ? 512 : at * 2
            }
            guard let b = sb, b.count >= 48 else { return }
            let version = b[8]
            if version <= 1 {
                guard b[13] == 8, b[14] == 8 else { return }
                let p = 24 + (version == 1 ? 4 : 0)
                guard b.count >= p + 32 + 40 else { return }
                setBase(superblockAt: at, stored: le(b, p, 8), endOfAllocation: le(b, p + 16, 8))
                try driverInfoBlock(le(b, p + 24, 8))
                let root = le(b, p + 32 + 8, 8)
                todo.append((root, "/"))
            } else if version <= 3 {
                guard b[9] == 8, b[10] == 8 else { return }
                setBase(superblockAt: at, stored: le(b, 12, 8), endOfAllocation: le(b, 28, 8))
                todo.append((le(b, 36, 8), "/"))
                // The superblock extension is an object header libhdf5 reads on open (its driver
                // info, file-space and B-tree 'K' messages): checked like any other.
                todo.append((le(b, 20, 8), "superblock extension"))
            }
        }

        /// A version-0/1 superblock's driver information block: 16 bytes of header (version,
        /// reserved, 4-byte size, 8-byte driver name), then `size` bytes. libhdf5 1.10.8 allocates
        /// 16 + size bytes before it compares them with the end of allocation (a size of 2^32 − 1
        /// in a 361-byte file: a 4 GiB malloc in H5C_protect from H5F__super_read; found by
        /// libFuzzer).
        mutating func driverInfoBlock(_ rel: UInt64) throws {
            guard let a = abs(rel) else { return }
            // past the end of the file but inside the end of allocation, libhdf5 reads zeros
            var h = a < size ? try read(a, Int(min(16, size - a))) ?? [] : []
            h += [UInt8](repeating: 0, count: 16 - h.count)
            if let why = pastEnd("driver information block", at: a, length: 16 + le(h, 4, 4)) {
                throw Found(message: "superblock: \(why)")
            }
        }

        func fail(_ object: String, _ what: String) -> Found { Found(message: "object \(object): \(what)") }

        /// Addresses are relative to where libhdf5 found the superblock, whatever base address is
        /// stored (H5F__super_read replaces it, and moves the end of allocation by the difference).
        /// Taking the stored one let a forged base address hide every object from this walk while
        /// libhdf5 read them (a heap overflow in H5HG_read behind it; found by libFuzzer).
        mutating func setBase(superblockAt at: UInt64, stored: UInt64, endOfAllocation eoa: UInt64) {
            base = at
            let relative = eoa &- (stored &- at)
            let (end, o) = at.addingReportingOverflow(relative)
            if !o && end > size { limit = end }
        }

        /// What is wrong when `length` bytes of metadata at absolute address `at` run past
        /// `limit`; nil when they fit. libhdf5 1.10.8 allocates a buffer of the declared length
        /// for some metadata (object-header continuation chunks, local heap data segments, chunks)
        /// before it compares the length with the end of allocation (a 2.3 GB forged continuation
        /// length in a 37 KB file: 4.6 GB resident, 6 s, then "addr overflow"; found by libFuzzer).
        func pastEnd(_ what: String, at: UInt64, length: UInt64) -> String? {
            let (end, o) = at.addingReportingOverflow(length)
            guard o || end > limit else { return nil }
            let bound = limit > size ? "the end of allocation (\(limit) bytes; the file has \(size))" : "the end of the file (\(size) bytes)"
            return "\(what) of \(length) bytes at \(at) runs past \(bound)"
        }

        // MARK: object headers

        mutating func objectHeader(_ rel: UInt64, _ name: String) throws {
            current = Current()
            try messages(rel, name)
            if let l = current.layout, let s = current.dataspace, let t = current.datatype {
                try chunked(name, layout: l, dataspace: s, datatype: t)
            }
        }

        mutating func messages(_ rel: UInt64, _ name: String) throws {
            guard let addr = abs(rel) else { return }
            guard let pre = try read(addr, 16) else { return }
            if pre[0] == 1 {
                let chunkSize = le(pre, 8, 4)
                if let why = pastEnd("object header chunk", at: addr + 16, length: chunkSize) { throw fail(name, why) }
                var chunks: [(UInt64, UInt64)] = [(addr + 16, chunkSize)]
                var i = 0
                while i < chunks.count && i < 4096 {
                    let (start, length) = chunks[i]; i += 1
                    guard let c = try read(start, Int(min(length, 1 << 24))) else { continue }
                    var p = 0
                    while p + 8 <= c.count {
                        let type = Int(le(c, p, 2)), msize = Int(le(c, p + 2, 2)), flags = c[p + 4]
                        let d = p + 8
                        guard d + msize <= c.count else { break }  // libhdf5 refuses this itself
                        try message(type, flags, Array(c[d..<d + msize]), version: 1, name, &chunks)
                        p = d + msize
                    }
                }
            } else if pre[0..<4] == [0x4F, 0x48, 0x44, 0x52] /* OHDR */, pre[4] == 2 {
                let flags = pre[5]
                var p = 6
                if flags & 0x20 != 0 { p += 16 }
                if flags & 0x10 != 0 { p += 4 }
                let width = 1 << Int(flags & 3)
                guard let h = try read(addr, p + width) else { return }
                let chunk0 = le(h, p, width)
                var chunks: [(UInt64, UInt64)] = [(addr + UInt64(p + width), chunk0)]
                var i = 0
                while i < chunks.count && i < 4096 {
                    let (start, length) = chunks[i]
                    let isFirst = i == 0
                    i += 1
                    var s = start, l = length
                    if !isFirst {  // "OCHK" + messages + checksum
                        guard l >= 8 else { continue }
                        s += 4; l -= 8
                    }
                    guard let c = try read(s, Int(min(l, 1 << 24))) else { continue }
                    let mh = 4 + (flags & 0x04 != 0 ? 2 : 0)
                    var q = 0
                    while q + mh <= c.count {
                        let type = Int(c[q]), msize = Int(le(c, q + 1, 2)), mflags = c[q + 3]
                        let d = q + mh
                        guard d + msize <= c.count else { break }
                        try message(type, mflags, Array(c[d..<d + msize]), version: 2, name, &chunks)
                        q = d + msize
                    }
                }
            }
        }

        /// An absolute file offset from an address relative to the base; nil when undefined.
        func abs(_ rel: UInt64) -> UInt64? {
            guard rel != UInt64.max else { return nil }
            let (a, o) = base.addingReportingOverflow(rel)
            return o ? nil : a
        }

        mutating func message(_ type: Int, _ flags: UInt8, _ m: [UInt8], version: Int, _ name: String,
                              _ chunks: inout [(UInt64, UInt64)]) throws {
            let shared = flags & 0x02 != 0
            switch type {
            case 0x10 where m.count < 16, 0x11 where m.count < 16 && !shared:
                // libhdf5 decodes both from 16 bytes whatever size the message declares (a forged
                // 0-byte continuation took its address and length from the next messages: a 4 GiB
                // read at 2^51; found by libFuzzer)
                throw fail(name, "\(type == 0x10 ? "continuation" : "symbol table") message of \(m.count) bytes (it takes 16)")
            case 0x10:  // continuation
                if let a = abs(le(m, 0, 8)) {
                    let length = le(m, 8, 8)
                    if let why = pastEnd("object header continuation chunk", at: a, length: length) { throw fail(name, why) }
                    chunks.append((a, length))
                }
            case 0x11 where !shared:  // symbol table (old-style group)
                try symbolTable(btree: le(m, 0, 8), heap: le(m, 8, 8), name)
            case 0x06 where !shared:  // link message (compact new-style group)
                link(m, name)
            case 0x0C where !shared:  // attribute
                try attribute(m, name)
            case 0x08 where !shared:  // layout, checked with the dataspace and datatype after the header
                current.layout = m
            case 0x01 where !shared:
                current.dataspace = m
            case 0x03 where !shared:
                do { _ = try ObjectHeaderCheck.datatypeEnd(m, at: 0) } catch { throw fail(name, error.what) }
                current.datatype = m
            case 0x0B:
                current.filtered = true
            case 0x14 where !shared && (m.count < 11 || 11 + Int(le(m, 9, 2)) > m.count):
                // driver info (superblock extension): libhdf5 1.10.8 copies the declared length
                // from the message whatever its stored size
                throw fail(name, "driver info message of \(m.count) bytes declares \(m.count < 11 ? "no length" : "\(le(m, 9, 2)) bytes of driver information") (it holds \(max(m.count - 11, 0)))")
            default:
                break
            }
        }

        /// The messages of the object header being read that the chunk check needs.
        struct Current { var layout, dataspace, datatype: [UInt8]?; var filtered = false }
        var current = Current()

        mutating func link(_ m: [UInt8], _ group: String) {
            guard m.count >= 2, m[0] == 1 else { return }
            let f = m[1]
            var p = 2
            var linkType: UInt8 = 0
            if f & 0x08 != 0 { guard p < m.count else { return }; linkType = m[p]; p += 1 }
            if f & 0x04 != 0 { p += 8 }
            if f & 0x10 != 0 { p += 1 }
            let w = 1 << Int(f & 3)
            guard p + w <= m.count else { return }
            let n = Int(le(m, p, w)); p += w
            guard n >= 0, p + n + 8 <= m.count, linkType == 0 else { return }
            let child = printable(m[p..<p + n])
            todo.append((le(m, p + n, 8), path(group, child)))
        }

        func path(_ g: String, _ c: String) -> String { g == "/" ? "/" + c : g + "/" + c }

        // MARK: old-style groups

        mutating func symbolTable(btree: UInt64, heap: UInt64, _ group: String) throws {
            // An undefined or outside address makes libhdf5 1.10.8 allocate from garbage and copy
            // into the failed allocation (SIGSEGV in H5F__accum_read; found by libFuzzer).
            for (what, rel) in [("B-tree", btree), ("local heap", heap)] {
                guard let a = abs(rel), a < limit else {
                    throw fail(group, "symbol table names its \(what) at \(rel == UInt64.max ? "an undefined address" : "address \(rel)"), outside the file (\(limit) bytes)")
                }
            }
            guard let ha = abs(heap), let h = try read(ha, 32), h[0..<4] == [0x48, 0x45, 0x41, 0x50] else { return }
            let segSize = le(h, 8, 8)
            // libhdf5 allocates the segment, then reads it from its address: an undefined one fails
            // the read after the allocation (the same memcpy to NULL when the size is garbage).
            guard let sa = abs(le(h, 24, 8)) else {
                throw fail(group, "local heap at \(ha) names its data segment at an undefined address")
            }
            if let why = pastEnd("local heap data segment", at: sa, length: segSize) { throw fail(group, why) }
            guard segSize < 1 << 24, let seg = try read(sa, Int(segSize)) else { return }
            try freeList(of: seg, head: le(h, 16, 8), heap: ha, group)
            var stack: [(UInt64, Int)] = [(btree, 0)]
            var nodes = 0
            while let (rel, depth) = stack.popLast() {
                nodes += 1
                guard nodes < 65536, depth < 64, let a = abs(rel) else { return }
                guard let n = try read(a, 24), n[0..<4] == [0x54, 0x52, 0x45, 0x45] /* TREE */, n[4] == 0 else { continue }
                let level = n[5], entries = Int(le(n, 6, 2))
                // keys (8 bytes) and children (8 bytes) alternate after the 24-byte header
                guard entries <= 4096, let kc = try read(a + 24, entries * 16 + 8) else { continue }
                for e in 0..<entries {
                    let child = le(kc, 8 + e * 16, 8)
                    if level > 0 { stack.append((child, depth + 1)); continue }
                    guard let ca = abs(child), let s = try read(ca, 8), s[0..<4] == [0x53, 0x4E, 0x4F, 0x44] /* SNOD */ else { continue }
                    let symbols = Int(le(s, 6, 2))
                    guard symbols <= 4096, let ents = try read(ca + 8, symbols * 40) else { continue }
                    for k in 0..<symbols {
                        let nameOffset = Int(clamping: le(ents, k * 40, 8)), header = le(ents, k * 40 + 8, 8)
                        var child = "?"
                        if nameOffset < seg.count, let z = seg[nameOffset...].firstIndex(of: 0) {
                            child = printable(seg[nameOffset..<z])
                        }
                        todo.append((header, path(group, child)))
                    }
                }
            }
        }

        /// A local heap's free list, as libhdf5 1.10.8 decodes it (`H5HL__fl_deserialize`): from
        /// the head offset, each free block holds the offset of the next (1 ends the list) and its
        /// own size, 8 bytes each. libhdf5 refuses an offset outside the segment, a next offset of
        /// 0 and a block running past the segment, but reads the 16 bytes of a block before any
        /// check of them and never notices a list that returns to a block it has seen: it
        /// allocates a node per step until memory runs out (libFuzzer, validator: a block whose
        /// next offset is itself; `validate` reached 24 GB). Free blocks are never shorter than
        /// those 16 bytes (libhdf5 drops smaller remnants), so both are refused here.
        func freeList(of seg: [UInt8], head: UInt64, heap: UInt64, _ group: String) throws {
            let size = UInt64(seg.count)
            var at = head
            var seen = Set<UInt64>()
            while at != 1, at < size {  // 1: the end of the list (H5HL_FREE_NULL)
                guard at + 16 <= size else {
                    throw fail(group, "local heap at \(heap): free block at offset \(at) runs past its \(size)-byte data segment")
                }
                guard seen.insert(at).inserted else {
                    throw fail(group, "local heap at \(heap): free list returns to the block at offset \(at) (libhdf5 would follow it until memory runs out)")
                }
                let next = le(seg, Int(at), 8), length = le(seg, Int(at) + 8, 8)
                if next == 0 || length > size - at { return }  // refused by libhdf5 itself
                at = next
            }
        }

        // MARK: attributes

        mutating func attribute(_ m: [UInt8], _ object: String) throws {
            guard m.count >= 8 else { throw fail(object, "attribute message of \(m.count) bytes is shorter than its header") }
            let version = m[0]
            guard version >= 1 && version <= 3 else { return }  // libhdf5 refuses other versions
            let nameSize = Int(le(m, 2, 2)), dtSize = Int(le(m, 4, 2)), dsSize = Int(le(m, 6, 2))
            let pad: (Int) -> Int = version == 1 ? { ($0 + 7) / 8 * 8 } : { $0 }
            var p = 8 + (version == 3 ? 1 : 0)
            let nameAt = p
            p += pad(nameSize)
            let label: String
            if nameSize > 0 && nameAt + nameSize <= m.count {
                label = "attribute \"" + printable(m[nameAt..<nameAt + nameSize - 1]) + "\""
            } else {
                label = "an attribute"
            }
            let dtAt = p; p += pad(dtSize)
            let dsAt = p; p += pad(dsSize)
            guard p <= m.count else {
                throw fail(object, "\(label): name, datatype and dataspace (\(p) bytes) run past the attribute message (\(m.count) bytes)")
            }
            // libhdf5 copies the name with strdup before it compares its length with the stored
            // one: a name without its NUL inside the stored length is read past the object-header
            // chunk (heap overflow in H5MM_xstrdup; found by libFuzzer). libhdf5 then refuses any
            // name whose first NUL is not its last byte, so nothing it can read is refused here.
            guard nameSize > 0, m[nameAt..<nameAt + nameSize].firstIndex(of: 0) == nameAt + nameSize - 1 else {
                throw fail(object, "\(label): name of \(nameSize) stored bytes is not one NUL-terminated string of that length")
            }
            let dtShared = version >= 2 && m[1] & 0x01 != 0, dsShared = version >= 2 && m[1] & 0x02 != 0
            if !dtShared {
                do { _ = try ObjectHeaderCheck.datatypeEnd(Array(m[dtAt..<dtAt + dtSize]), at: 0) } catch {
                    throw fail(object, "\(label): \(error.what)")
                }
            }
            guard !dtShared, !dsShared, dtSize >= 8, dsSize >= 4 else { return }
            let dt = Array(m[dtAt..<dtAt + dtSize])
            let ds = Array(m[dsAt..<dsAt + dsSize])
            let elementSize = le(dt, 4, 4)
            // A variable-length element is stored as length (4), collection address (8) and object
            // index (4). libhdf5 sizes the attribute's data buffer by the size the datatype declares
            // and then copies 16 bytes per element from it (heap overflow in H5A__read).
            if dt[0] & 0x0F == 9 && elementSize != 16 {
                throw fail(object, "\(label): variable-length datatype declares \(elementSize)-byte elements (stored ones take 16)")
            }
            guard let count = elements(ds) else {
                throw fail(object, "\(label): dataspace cannot be decoded inside its \(dsSize) bytes")
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: elementSize)
            guard !o, bytes <= UInt64(m.count - p) else {
                throw fail(object, "\(label): \(count) elements of \(elementSize) bytes run past the attribute message (\(m.count - p) bytes of data)")
            }
            if dt[0] & 0x0F == 9, dtSize >= 16 {  // variable-length, base type follows
                let baseSize = le(dt, 12, 4)
                for e in 0..<Int(count) {
                    let q = p + e * 16
                    try vlenElement(Array(m[q..<q + 16]), baseSize: baseSize, label, object)
                }
            }
        }

        /// Element count of an encoded dataspace; nil when it does not fit.
        func elements(_ ds: [UInt8]) -> UInt64? {
            let v = ds[0], rank = Int(ds[1])
            let dimsAt: Int
            if v == 1 { dimsAt = 8 } else if v == 2 { dimsAt = 4 } else { return nil }
            if v == 2 && ds.count >= 4 && ds[3] == 2 { return 0 }  // null dataspace
            guard dimsAt + rank * 8 <= ds.count else { return nil }
            var n: UInt64 = 1
            for k in 0..<rank {
                let (r, o) = n.multipliedReportingOverflow(by: le(ds, dimsAt + 8 * k, 8))
                if o { return nil }
                n = r
            }
            return n
        }

        mutating func vlenElement(_ e: [UInt8], baseSize: UInt64, _ label: String, _ object: String) throws {
            let length = le(e, 0, 4), collection = le(e, 4, 8), index = Int(le(e, 12, 4))
            guard length > 0 else { return }
            // libhdf5 allocates the converted sequence from the stored length before it reads the
            // heap object (4 GiB in H5T__conv_vlen for a forged length; found by libFuzzer).
            let (total, o0) = length.multipliedReportingOverflow(by: max(baseSize, 1))
            guard !o0, total <= limit else {
                throw fail(object, "\(label): variable-length sequence of \(length) × \(baseSize) bytes is larger than the file (\(size) bytes)")
            }
            guard let objects = try heapCollection(collection) else { return }  // not a collection: libhdf5 refuses
            guard index > 0, let objectSize = objects[index] else {
                throw fail(object, "\(label): variable-length element names object \(index) of the global heap collection at \(collection), which has no such object")
            }
            let (need, o) = length.multipliedReportingOverflow(by: baseSize)
            guard !o, need == objectSize else {
                throw fail(object, "\(label): variable-length sequence of \(length) × \(baseSize) bytes does not match its global heap object (\(objectSize) bytes)")
            }
        }

        /// Object index -> size of the global heap collection at `rel`; nil when it is not one.
        mutating func heapCollection(_ rel: UInt64) throws -> [Int: UInt64]? {
            if let c = collections[rel] { return c }
            guard let a = abs(rel), let h = try read(a, 16), h[0..<5] == [0x47, 0x43, 0x4F, 0x4C, 1] else { return nil }
            let declared = le(h, 8, 8)
            guard declared >= 16, declared <= 1 << 26, let c = try read(a, Int(declared)) else { return nil }
            var objects: [Int: UInt64] = [:]
            var p = 16
            while p + 16 <= c.count {
                let idx = Int(le(c, p, 2)), s = le(c, p + 8, 8)
                if idx == 0 { break }  // free space: the rest of the collection
                guard s <= UInt64(c.count) else { break }  // GlobalHeapCheck refuses it
                objects[idx] = s
                p += 16 + Int((s + 7) / 8 * 8)
            }
            collections[rel] = objects
            return objects
        }

        // MARK: chunked datasets

        mutating func chunked(_ name: String, layout l: [UInt8], dataspace s: [UInt8], datatype t: [UInt8]) throws {
            // Layout message version 3: class (1), dimensionality (1), B-tree address (8), dimensions
            // (4 each). Versions 1 and 2: dimensionality (1), class (1), 5 reserved bytes, address (8),
            // dimensions (4 each). (A version-1 layout with a zero chunk dimension made
            // H5D__chunk_set_info divide by zero; found by libFuzzer.)
            guard l.count >= 3, t.count >= 8, s.count >= 2 else { return }
            let dimensionality: Int, addressAt: Int
            if l[0] == 3, l[1] == 2 {
                dimensionality = Int(l[2]); addressAt = 3
            } else if l[0] == 1 || l[0] == 2, l[2] == 2 {
                dimensionality = Int(l[1]); addressAt = 8
            } else {
                return
            }
            let dimsAt = addressAt + 8
            let rank = Int(s[1])
            guard dimensionality == rank + 1 else {
                throw fail(name, "chunk layout has \(dimensionality) dimensions for a dataspace of rank \(rank) (+1 for the element)")
            }
            guard l.count >= dimsAt + 4 * dimensionality else { throw fail(name, "chunk layout message is truncated") }
            let index = le(l, addressAt, 8)
            var dims: [UInt64] = []
            for k in 0..<dimensionality { dims.append(le(l, dimsAt + 4 * k, 4)) }
            let elementSize = le(t, 4, 4)
            guard dims.last == elementSize else {
                throw fail(name, "chunk layout element size \(dims.last ?? 0) differs from the datatype size \(elementSize)")
            }
            guard !dims.contains(0) else { throw fail(name, "chunk layout has a zero dimension \(dims)") }
            var chunkBytes: UInt64 = 1
            for d in dims {
                let (r, o) = chunkBytes.multipliedReportingOverflow(by: d)
                guard !o, r <= 1 << 32 else { throw fail(name, "chunk of dimensions \(dims) exceeds 4 GiB") }
                chunkBytes = r
            }
            guard let root = abs(index) else { return }
            // v1 B-tree of type 1: keys are chunk size (4), filter mask (4), offsets (dimensionality × 8)
            let keySize = 8 + 8 * dimensionality
            var stack: [(UInt64, Int)] = [(root, 0)]
            var nodes = 0
            while let (a, depth) = stack.popLast() {
                nodes += 1
                guard nodes < 65536, depth < 64 else { return }
                guard let n = try read(a, 24), n[0..<4] == [0x54, 0x52, 0x45, 0x45], n[4] == 1 else { continue }
                let level = n[5], entries = Int(le(n, 6, 2))
                guard entries <= 65536, let kc = try read(a + 24, entries * (keySize + 8) + keySize) else { continue }
                for e in 0..<entries {
                    let k = e * (keySize + 8)
                    let child = le(kc, k + keySize, 8)
                    if level > 0 {
                        if let c = abs(child) { stack.append((c, depth + 1)) }
                        continue
                    }
                    let stored = le(kc, k, 4)
                    if let a = abs(child), let why = pastEnd("chunk", at: a, length: stored) { throw fail(name, why) }
                    guard current.filtered || stored == chunkBytes else {
                        var offsets: [UInt64] = []
                        for j in 0..<rank { offsets.append(le(kc, k + 8 + 8 * j, 8)) }
                        throw fail(name, "unfiltered chunk at \(offsets) is stored with \(stored) bytes, its dimensions \(dims.dropLast()) × \(elementSize) bytes make \(chunkBytes)")
                    }
                }
            }
        }
    }
}

/// Little-endian unsigned integer of `width` bytes at `at` (0 past the end).
func le(_ b: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
    var v: UInt64 = 0
    for j in 0..<width where at + j < b.count && at + j >= 0 { v |= UInt64(b[at + j]) << (8 * UInt64(j)) }
    return v
}

/// A name from the file for a one-line message: at most 80 characters, control bytes and invalid
/// UTF-8 shown as "?".
private func printable(_ bytes: ArraySlice<UInt8>) -> String {
    let s = String(decoding: bytes.prefix(80), as: UTF8.self)
    return String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FFFD}" ? "?" : Character($0) })
}
