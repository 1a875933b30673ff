import CHDF5

/// An open dataset. Row operations select along the first axis and take every element of the
/// remaining axes ("row" = one index of axis 0; a row of a [T, k, n] dataset has k·n elements).
public final class HDF5Dataset: HDF5Object {
    static func accessList(site: CallSite, chunkCacheBytes: Int?) throws -> hid_t {
        let dapl = try site.id("H5Pcreate(dataset access)") { H5Pcreate(eos_H5P_DATASET_ACCESS()) }
        if let bytes = chunkCacheBytes {
            // Slots: a prime well above the number of chunks the cache can hold.
            do {
                try site.check("H5Pset_chunk_cache") { H5Pset_chunk_cache(dapl, 12_421, max(bytes, 1 << 20), 1.0) }
            } catch {
                closeIfValid(dapl)
                throw error
            }
        }
        return dapl
    }

    // MARK: - Introspection

    /// The stored datatype.
    public func typeInfo() throws -> HDF5TypeInfo {
        let did = try openID()
        let t = try site.id("H5Dget_type") { H5Dget_type(did) }
        defer { closeIfValid(t) }
        return HDF5TypeInfo.of(type: t)
    }

    /// Current shape ([] for a scalar).
    public func shape() throws -> [Int] { try extent().dims }

    /// Maximum shape; nil entries are unlimited.
    public func maxShape() throws -> [Int?] { try extent().max }

    func extent() throws -> (dims: [Int], max: [Int?]) {
        let did = try openID()
        let sp = try site.id("H5Dget_space") { H5Dget_space(did) }
        defer { closeIfValid(sp) }
        return try Dataspace.dimsAndMax(sp, site: site)
    }

    /// Chunk shape, or nil when the dataset is not chunked.
    public func chunkShape() throws -> [Int]? {
        let did = try openID()
        let plist = try site.id("H5Dget_create_plist") { H5Dget_create_plist(did) }
        defer { closeIfValid(plist) }
        guard site.quiet({ H5Pget_layout(plist) }) == H5D_CHUNKED else { return nil }
        let rank = try shape().count
        var c = [hsize_t](repeating: 0, count: max(rank, 1))
        _ = try site.count("H5Pget_chunk") { H5Pget_chunk(plist, Int32(c.count), &c) }
        return c.prefix(rank).map { Int($0) }
    }

    /// Number of rows (size of axis 0; 1 for a scalar).
    public func rowCount() throws -> Int { try shape().first ?? 1 }

    // MARK: - Reading

    /// Reads the whole dataset, converted to `T`.
    public func read<T: HDF5Element>(_: T.Type = T.self) throws -> [T] {
        let s = try shape()
        if s.isEmpty { return try readSelection(start: nil, count: nil, rowSize: 1, rows: 1) }
        return try readRows(0..<s[0], as: T.self)
    }

    /// Reads rows `range` of axis 0, every element of the other axes, row-major.
    /// Throws `.typeMismatch` when the range is outside the current extent.
    public func readRows<T: HDF5Element>(_ range: Range<Int>, as: T.Type = T.self) throws -> [T] {
        let s = try shape()
        guard !s.isEmpty else { throw site.fail(.typeMismatch, "read rows", "dataset is scalar") }
        guard range.lowerBound >= 0, range.upperBound <= s[0] else {
            throw site.fail(.typeMismatch, "read rows \(range.lowerBound)..<\(range.upperBound)",
                            "dataset has \(s[0]) rows")
        }
        let rowSize = s.dropFirst().reduce(1, *)
        if range.isEmpty { return [] }
        var start = [Int](repeating: 0, count: s.count)
        start[0] = range.lowerBound
        var count = s
        count[0] = range.count
        return try readSelection(start: start, count: count, rowSize: rowSize, rows: range.count)
    }

    /// Reads a hyperslab `start`/`count` (full rank), row-major.
    public func readBlock<T: HDF5Element>(start: [Int], count: [Int], as: T.Type = T.self) throws -> [T] {
        let s = try shape()
        guard start.count == s.count, count.count == s.count,
              zip(zip(start, count), s).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= $1 }) else {
            throw site.fail(.typeMismatch, "read block \(start)+\(count)", "outside shape \(s)")
        }
        return try readSelection(start: start, count: count, rowSize: count.dropFirst().reduce(1, *),
                                 rows: count.first ?? 1)
    }

    private func readSelection<T: HDF5Element>(start: [Int]?, count: [Int]?, rowSize: Int, rows: Int) throws -> [T] {
        let did = try openID()
        // Nothing is allocated for a selection the file cannot hold (a forged extent).
        let stored = (try? typeInfo().size) ?? MemoryLayout<T>.stride
        guard let n = Self.checkedBytes([rowSize, rows], elementSize: 1),
              let bytes = Self.checkedBytes([n], elementSize: max(stored, MemoryLayout<T>.stride)),
              bytes <= storageLimit(), extentProblem() == nil else {
            throw site.fail(.notHDF5, "read \(rows) rows of \(rowSize) elements",
                            extentProblem() ?? "selection larger than the file can hold (corrupt or forged extent)")
        }
        var out = [T](repeating: T(), count: n)
        if n == 0 { return out }
        let info = try typeInfo()
        guard info.typeClass == .integer || info.typeClass == .float else {
            throw site.fail(.typeMismatch, "read", "dataset is \(info), not numeric")
        }
        let op = start.map { "read rows \($0[0])..<\($0[0] + rows)" } ?? "read"
        try withSelection(start: start, count: count, op: op) { fileSpace, memSpace in
            try out.withUnsafeMutableBytes { p in
                try site.check(op) {
                    H5Dread(did, T.hdf5Type.memoryType, memSpace, fileSpace, hid_t(eos_H5P_DEFAULT()), p.baseAddress)
                }
            }
        }
        return out
    }

    /// Runs `body` with a file dataspace selecting the hyperslab and a matching memory dataspace
    /// (both H5S_ALL when `start` is nil).
    private func withSelection(start: [Int]?, count: [Int]?, op: String, _ body: (hid_t, hid_t) throws -> Void) throws {
        let did = try openID()
        guard let start, let count else {
            try body(eos_H5S_ALL(), eos_H5S_ALL())
            return
        }
        let fileSpace = try site.id("H5Dget_space") { H5Dget_space(did) }
        defer { closeIfValid(fileSpace) }
        var st = start.map { hsize_t($0) }
        var ct = count.map { hsize_t($0) }
        try site.check(op + " (select hyperslab)") {
            H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &st, nil, &ct, nil)
        }
        let memSpace = try site.id("H5Screate_simple") { H5Screate_simple(Int32(ct.count), &ct, nil) }
        defer { closeIfValid(memSpace) }
        try body(fileSpace, memSpace)
    }

    // MARK: - Writing

    /// Writes the whole dataset (`values.count` must equal the element count).
    public func write<T: HDF5Element>(_ values: [T]) throws {
        let s = try shape()
        let total = s.reduce(1, *)
        guard values.count == total else {
            throw site.fail(.typeMismatch, "write", "got \(values.count) values for shape \(s)")
        }
        if s.isEmpty {
            let did = try openID()
            try values.withUnsafeBytes { p in
                try site.check("write") {
                    H5Dwrite(did, T.hdf5Type.memoryType, eos_H5S_ALL(), eos_H5S_ALL(), hid_t(eos_H5P_DEFAULT()), p.baseAddress)
                }
            }
            return
        }
        try writeRows(values, at: 0)
    }

    /// Writes whole rows starting at row `start` (one hyperslab). `values.count` must be a
    /// multiple of the row size; the rows must lie inside the current extent.
    public func writeRows<T: HDF5Element>(_ values: [T], at start: Int) throws {
        let s = try shape()
        guard !s.isEmpty else { throw site.fail(.typeMismatch, "write rows", "dataset is scalar") }
        let rowSize = s.dropFirst().reduce(1, *)
        guard rowSize > 0, values.count % rowSize == 0 else {
            throw site.fail(.typeMismatch, "write rows", "\(values.count) values is not whole rows of \(rowSize)")
        }
        let rows = values.count / rowSize
        if rows == 0 { return }
        let op = "write rows \(start)..<\(start + rows)"
        guard start >= 0, start + rows <= s[0] else {
            throw site.fail(.typeMismatch, op, "dataset has \(s[0]) rows")
        }
        var st = [Int](repeating: 0, count: s.count)
        st[0] = start
        var ct = s
        ct[0] = rows
        let did = try openID()
        try withSelection(start: st, count: ct, op: op) { fileSpace, memSpace in
            try values.withUnsafeBytes { p in
                try site.check(op) {
                    H5Dwrite(did, T.hdf5Type.memoryType, memSpace, fileSpace, hid_t(eos_H5P_DEFAULT()), p.baseAddress)
                }
            }
        }
    }

    /// Extends (or shrinks) the dataset to `shape` (within its max shape).
    public func setExtent(_ shape: [Int]) throws {
        let did = try openID()
        var d = shape.map { hsize_t($0) }
        try site.check("set extent to \(shape)") { H5Dset_extent(did, &d) }
    }

    /// Sets the number of rows (axis 0), keeping the other axes.
    public func setRowCount(_ rows: Int) throws {
        var s = try shape()
        guard !s.isEmpty else { throw site.fail(.typeMismatch, "set extent", "dataset is scalar") }
        s[0] = rows
        try setExtent(s)
    }

    /// Extends axis 0 by the rows in `values` and writes them: one extent change, one hyperslab.
    /// Returns the index of the first appended row.
    @discardableResult
    public func appendRows<T: HDF5Element>(_ values: [T]) throws -> Int {
        let s = try shape()
        guard !s.isEmpty else { throw site.fail(.typeMismatch, "append rows", "dataset is scalar") }
        let rowSize = s.dropFirst().reduce(1, *)
        guard rowSize > 0, values.count % rowSize == 0 else {
            throw site.fail(.typeMismatch, "append rows", "\(values.count) values is not whole rows of \(rowSize)")
        }
        let start = s[0]
        let rows = values.count / rowSize
        if rows == 0 { return start }
        var newShape = s
        newShape[0] = start + rows
        try setExtent(newShape)
        try writeRows(values, at: start)
        return start
    }

    /// Flushes this dataset's buffers (SWMR writers).
    public func flush() throws {
        let did = try openID()
        try site.check("flush") { H5Dflush(did) }
    }

    /// Re-reads metadata written by an SWMR writer (extent changes). SWMR readers only.
    public func refresh() throws {
        let did = try openID()
        try site.check("refresh") { H5Drefresh(did) }
    }

    // MARK: - Strings

    /// Reads a scalar string dataset (fixed or variable length).
    public func readString() throws -> String {
        let did = try openID()
        let t = try site.id("H5Dget_type") { H5Dget_type(did) }
        defer { closeIfValid(t) }
        let info = HDF5TypeInfo.of(type: t)
        guard info.typeClass == .string else {
            throw site.fail(.typeMismatch, "read string", "dataset is \(info), not a string")
        }
        let shape = try self.shape()
        guard shape.reduce(1, *) == 1 else {
            throw site.fail(.typeMismatch, "read string", "dataset has shape \(shape), not a single string")
        }
        if info.isVariableLengthString {
            let sp = try site.id("H5Dget_space") { H5Dget_space(did) }
            defer { closeIfValid(sp) }
            return try StringType.readVariable(site: site, space: sp) { mt, buf in
                H5Dread(did, mt, eos_H5S_ALL(), eos_H5S_ALL(), hid_t(eos_H5P_DEFAULT()), buf)
            }
        }
        var buf = [UInt8](repeating: 0, count: info.size + 1)
        try buf.withUnsafeMutableBytes { p in
            try site.check("read string") {
                H5Dread(did, t, eos_H5S_ALL(), eos_H5S_ALL(), hid_t(eos_H5P_DEFAULT()), p.baseAddress)
            }
        }
        return StringType.decodeFixed(buf[0..<info.size])
    }

    /// Overwrites a scalar fixed-length string dataset. Throws when the value does not fit.
    public func writeString(_ value: String) throws {
        let did = try openID()
        let t = try site.id("H5Dget_type") { H5Dget_type(did) }
        defer { closeIfValid(t) }
        let info = HDF5TypeInfo.of(type: t)
        guard info.typeClass == .string, !info.isVariableLengthString else {
            throw site.fail(.typeMismatch, "write string", "dataset is \(info), not a fixed-length string")
        }
        let bytes = Array(value.utf8)
        guard bytes.count < info.size else {
            throw site.fail(.typeMismatch, "write string", "'\(value)' does not fit in \(info.size) bytes")
        }
        var buf = [UInt8](repeating: 0, count: info.size)
        buf.replaceSubrange(0..<bytes.count, with: bytes)
        try buf.withUnsafeBytes { p in
            try site.check("write string") {
                H5Dwrite(did, t, eos_H5S_ALL(), eos_H5S_ALL(), hid_t(eos_H5P_DEFAULT()), p.baseAddress)
            }
        }
    }

    // MARK: - Dimension scales

    /// Marks this dataset as a dimension scale named `name` (H5DSset_scale).
    public func makeDimensionScale(name: String) throws {
        let did = try openID()
        try site.check("set dimension scale '\(name)'") { name.withCString { H5DSset_scale(did, $0) } }
    }

    /// Whether this dataset is a dimension scale: its `CLASS` attribute is the string
    /// "DIMENSION_SCALE" (what H5DSis_scale checks).
    ///
    /// Not H5DSis_scale itself: libhdf5_hl 1.10 finds `CLASS` by iterating over *every*
    /// attribute (H5LT_find_attribute → H5Aiterate2), which decodes each one, and fails when any
    /// attribute of the object has a datatype newer than 1.10 — h5py with HDF5 ≥ 1.12 and
    /// `libver="latest"` writes `REFERENCE_LIST` with the new reference type. Opening `CLASS` by
    /// name decodes only the messages before it, so such files validate like the others.
    public func isDimensionScale() throws -> Bool {
        _ = try openID()
        guard hasAttribute("CLASS") else { return false }
        guard let info = try? attributeInfo("CLASS"), info.type.typeClass == .string else { return false }
        return try stringAttribute("CLASS") == "DIMENSION_SCALE"
    }

    /// Attaches `scale` to axis `axis` of this dataset (H5DSattach_scale).
    public func attachScale(_ scale: HDF5Dataset, axis: Int) throws {
        let did = try openID()
        let sid = try scale.openID()
        try site.check("attach scale \(scale.path) to axis \(axis)") { H5DSattach_scale(did, sid, UInt32(axis)) }
    }

    /// Detaches `scale` from axis `axis` (H5DSdetach_scale).
    public func detachScale(_ scale: HDF5Dataset, axis: Int) throws {
        let did = try openID()
        let sid = try scale.openID()
        try site.check("detach scale \(scale.path) from axis \(axis)") { H5DSdetach_scale(did, sid, UInt32(axis)) }
    }

    /// The H5DS functions read `DIMENSION_LIST` assuming it is a 1-D variable-length array of
    /// object references with one entry per axis; anything else (a corrupted or foreign file)
    /// makes libhdf5_hl read out of bounds and crash. Throws `.typeMismatch` for such a file.
    func checkDimensionList() throws {
        guard hasAttribute("DIMENSION_LIST") else { return }
        let rank = try shape().count
        try withAttribute("DIMENSION_LIST") { aid, s in
            let t = try s.id("H5Aget_type") { H5Aget_type(aid) }
            defer { closeIfValid(t) }
            var ok = H5Tget_class(t) == H5T_VLEN
            if ok {
                let base = s.quiet { H5Tget_super(t) }
                defer { closeIfValid(base) }
                ok = base >= 0 && H5Tget_class(base) == H5T_REFERENCE && H5Tget_size(base) == 8
            }
            let sp = try s.id("H5Aget_space") { H5Aget_space(aid) }
            defer { closeIfValid(sp) }
            let dims = try Dataspace.dims(sp, site: s)
            ok = ok && dims == [rank]
            if !ok {
                throw s.fail(.typeMismatch, "read dimension scales",
                             "DIMENSION_LIST is not a list of object references with one entry per axis")
            }
        }
    }

    /// Paths of the scales attached to axis `axis` (empty when none).
    ///
    /// A scale is found by its object address among the hard links of this dataset's group and
    /// of each group above it up to the root (where netCDF and eostrace keep dimensions), nearest
    /// group first. Not with `H5Iget_name`: for an object opened by reference it searches the
    /// whole file with a recursive visit that tracks only objects of reference count > 1, so a
    /// forged group cycle recursed until the stack overflowed (libFuzzer; `validate` died of
    /// SIGSEGV). A scale outside those groups is named "<object at address A>".
    public func attachedScales(axis: Int) throws -> [String] {
        let did = try openID()
        try checkDimensionList()
        let n = try site.count("H5DSget_num_scales") { H5DSget_num_scales(did, UInt32(axis)) }
        if n <= 0 { return [] }
        var addresses: [haddr_t] = []
        var idx: Int32 = 0
        try withUnsafeMutablePointer(to: &addresses) { list in
            try site.check("iterate scales of axis \(axis)") {
                H5DSiterate_scales(did, UInt32(axis), &idx, { _, _, scale, data in
                    guard let data else { return 0 }
                    var a: haddr_t = 0
                    guard eos_object_address(scale, &a) >= 0 else { return -1 }
                    data.assumingMemoryBound(to: [haddr_t].self).pointee.append(a)
                    return 0
                }, list)
            }
        }
        var names: [haddr_t: String] = [:]
        var group = path
        while group != "/", !addresses.allSatisfy({ names[$0] != nil }) {
            group = String(group[..<(group.lastIndex(of: "/") ?? group.startIndex)])
            if group.isEmpty { group = "/" }
            for (name, a) in try file.group(group).hardLinkAddresses() where names[a] == nil {
                names[a] = group == "/" ? "/" + name : group + "/" + name
            }
        }
        return addresses.map { names[$0] ?? "<object at address \($0)>" }
    }
}
