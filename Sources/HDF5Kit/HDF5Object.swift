import CHDF5

/// A group or dataset in an open file. Owns its `hid_t` (closed in deinit or by `close()`),
/// keeps its file alive.
public class HDF5Object {
    /// The file this object lives in.
    public let file: HDF5File
    /// Absolute path inside the file.
    public let path: String
    var id: hid_t

    init(file: HDF5File, id: hid_t, path: String) {
        self.file = file
        self.id = id
        self.path = path
    }

    // Once the file is closed, its objects must not touch their ids: a successful close (degree
    // STRONG) closed them all, and after a failed H5Fclose (its final flush hit a full disk or the
    // file size limit) the ids can still look valid while libhdf5 has freed what they point to —
    // decrementing them then segfaulted in H5D_close. Leaking is the safe choice there.
    deinit { if file.isOpen { closeIfValid(id) } }

    /// Releases the handle now. Idempotent.
    public func close() {
        if file.isOpen { closeIfValid(id) }
        id = -1
    }

    var site: CallSite { CallSite(file: file.path, object: path) }

    func openID() throws -> hid_t {
        guard id >= 0, file.isOpen, site.quiet({ H5Iis_valid(id) }) > 0 else {
            throw site.fail(.library, "use", "object is closed")
        }
        return id
    }

    func childPath(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return path == "/" ? "/" + name : path + "/" + name
    }
}

// MARK: - Attributes

extension HDF5Object {
    /// Whether the object has an attribute called `name`.
    public func hasAttribute(_ name: String) -> Bool {
        guard id >= 0 else { return false }
        let oid = id
        return site.quiet { name.withCString { H5Aexists(oid, $0) } } > 0
    }

    /// Names of all attributes, in creation/name order.
    public func attributeNames() throws -> [String] {
        let oid = try openID()
        let n = try site.count("H5Aget_num_attrs") { H5Aget_num_attrs(oid) }
        var names: [String] = []
        for i in 0..<Int(n) {
            let len = try site.count("H5Aget_name_by_idx") {
                H5Aget_name_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), nil, 0, hid_t(eos_H5P_DEFAULT()))
            }
            var buf = [CChar](repeating: 0, count: Int(len) + 1)
            _ = try buf.withUnsafeMutableBufferPointer { p in
                try site.count("H5Aget_name_by_idx") {
                    H5Aget_name_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), p.baseAddress, p.count,
                                       hid_t(eos_H5P_DEFAULT()))
                }
            }
            names.append(buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return names
    }

    func attrSite(_ name: String) -> CallSite {
        CallSite(file: file.path, object: "\(path)@\(name)")
    }

    /// Runs `body` with the attribute open.
    func withAttribute<R>(_ name: String, _ body: (hid_t, CallSite) throws -> R) throws -> R {
        let oid = try openID()
        let s = attrSite(name)
        guard hasAttribute(name) else { throw s.fail(.objectNotFound, "open attribute", "no such attribute") }
        let aid = try s.id("open attribute") { name.withCString { H5Aopen(oid, $0, hid_t(eos_H5P_DEFAULT())) } }
        defer { closeIfValid(aid) }
        return try body(aid, s)
    }

    /// Datatype and shape of an attribute (shape [] for scalars).
    public func attributeInfo(_ name: String) throws -> (type: HDF5TypeInfo, shape: [Int]) {
        try withAttribute(name) { aid, s in
            let t = try s.id("H5Aget_type") { H5Aget_type(aid) }
            defer { closeIfValid(t) }
            let sp = try s.id("H5Aget_space") { H5Aget_space(aid) }
            defer { closeIfValid(sp) }
            return (HDF5TypeInfo.of(type: t), try Dataspace.dims(sp, site: s))
        }
    }

    /// Deletes an attribute if it exists.
    public func removeAttribute(_ name: String) throws { try deleteAttributeIfPresent(name) }

    func deleteAttributeIfPresent(_ name: String) throws {
        guard hasAttribute(name) else { return }
        let oid = try openID()
        try attrSite(name).check("delete attribute") { name.withCString { H5Adelete(oid, $0) } }
    }

    /// Writes (replacing) a string attribute, UTF-8, variable length by default or fixed length
    /// (null-terminated, exactly as long as the value needs).
    public func setAttribute(_ name: String, _ value: String, variableLength: Bool = true) throws {
        try deleteAttributeIfPresent(name)
        let oid = try openID()
        let s = attrSite(name)
        let t = try StringType.make(site: s, variableLength: variableLength, fixedSize: value.utf8.count + 1)
        defer { closeIfValid(t) }
        let sp = try s.id("H5Screate(scalar)") { H5Screate(H5S_SCALAR) }
        defer { closeIfValid(sp) }
        let aid = try s.id("create attribute") {
            name.withCString { H5Acreate2(oid, $0, t, sp, hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT())) }
        }
        defer { closeIfValid(aid) }
        try value.withCString { cstr in
            if variableLength {
                var ptr: UnsafePointer<CChar>? = cstr
                try s.check("write attribute") { withUnsafePointer(to: &ptr) { H5Awrite(aid, t, $0) } }
            } else {
                try s.check("write attribute") { H5Awrite(aid, t, cstr) }
            }
        }
    }

    /// Writes a fixed-length string attribute of exactly `capacity` bytes (UTF-8, NUL-padded;
    /// `value` must be shorter). When it already exists with that type it is overwritten in place
    /// (no object-header message is removed or added, so an SWMR writer killed during the flush
    /// leaves the old or the new value); otherwise it is (re)created.
    public func setFixedStringAttribute(_ name: String, _ value: String, capacity: Int) throws {
        let s = attrSite(name)
        var bytes = Array(value.utf8)
        guard bytes.count < capacity else {
            throw s.fail(.typeMismatch, "write attribute", "value of \(bytes.count) bytes does not fit \(capacity)")
        }
        bytes += [UInt8](repeating: 0, count: capacity - bytes.count)
        let t = try StringType.make(site: s, variableLength: false, fixedSize: capacity)
        defer { closeIfValid(t) }
        if hasAttribute(name), let info = try? attributeInfo(name), info.type.typeClass == .string,
           !info.type.isVariableLengthString, info.type.size == capacity, info.shape.isEmpty {
            try withAttribute(name) { aid, s in
                try s.check("write attribute") { H5Awrite(aid, t, bytes) }
            }
            return
        }
        try deleteAttributeIfPresent(name)
        let oid = try openID()
        let sp = try s.id("H5Screate(scalar)") { H5Screate(H5S_SCALAR) }
        defer { closeIfValid(sp) }
        let aid = try s.id("create attribute") {
            name.withCString { H5Acreate2(oid, $0, t, sp, hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT())) }
        }
        defer { closeIfValid(aid) }
        try s.check("write attribute") { H5Awrite(aid, t, bytes) }
    }

    /// Writes (replacing) a numeric scalar attribute.
    public func setAttribute<T: HDF5Element>(_ name: String, _ value: T) throws {
        try writeNumericAttribute(name, [value], shape: nil)
    }

    /// Writes (replacing) a 1-D numeric array attribute.
    public func setAttribute<T: HDF5Element>(_ name: String, _ values: [T]) throws {
        try writeNumericAttribute(name, values, shape: [values.count])
    }

    func writeNumericAttribute<T: HDF5Element>(_ name: String, _ values: [T], shape: [Int]?) throws {
        try deleteAttributeIfPresent(name)
        let oid = try openID()
        let s = attrSite(name)
        let sp = try Dataspace.create(shape: shape, site: s)
        defer { closeIfValid(sp) }
        let aid = try s.id("create attribute") {
            name.withCString {
                H5Acreate2(oid, $0, T.hdf5Type.fileType, sp, hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT()))
            }
        }
        defer { closeIfValid(aid) }
        try values.withUnsafeBytes { buf in
            try s.check("write attribute") { H5Awrite(aid, T.hdf5Type.memoryType, buf.baseAddress) }
        }
    }

    /// Reads a string attribute (fixed or variable length; trailing NULs and pad spaces removed
    /// for fixed-length strings). Throws `.typeMismatch` when it is not a scalar string.
    public func stringAttribute(_ name: String) throws -> String {
        try withAttribute(name) { aid, s in
            let t = try s.id("H5Aget_type") { H5Aget_type(aid) }
            defer { closeIfValid(t) }
            let info = HDF5TypeInfo.of(type: t)
            guard info.typeClass == .string else {
                throw s.fail(.typeMismatch, "read string attribute", "attribute is \(info), not a string")
            }
            let sp = try s.id("H5Aget_space") { H5Aget_space(aid) }
            defer { closeIfValid(sp) }
            let count = try Dataspace.elementCount(sp, site: s)
            guard count == 1 else {
                throw s.fail(.typeMismatch, "read string attribute", "attribute holds \(count) strings, not one")
            }
            if info.isVariableLengthString {
                return try StringType.readVariable(site: s, space: sp) { mt, buf in H5Aread(aid, mt, buf) }
            } else {
                var buf = [UInt8](repeating: 0, count: info.size + 1)
                try buf.withUnsafeMutableBytes { p in
                    try s.check("read attribute") { H5Aread(aid, t, p.baseAddress) }
                }
                return StringType.decodeFixed(buf[0..<info.size])
            }
        }
    }

    /// Reads a numeric attribute of any shape, converted to `T` (HDF5 converts numerically).
    /// Throws `.typeMismatch` for non-numeric attributes.
    public func attribute<T: HDF5Element>(_ name: String, as: T.Type = T.self) throws -> [T] {
        try withAttribute(name) { aid, s in
            let t = try s.id("H5Aget_type") { H5Aget_type(aid) }
            defer { closeIfValid(t) }
            let info = HDF5TypeInfo.of(type: t)
            guard info.typeClass == .integer || info.typeClass == .float else {
                throw s.fail(.typeMismatch, "read numeric attribute", "attribute is \(info), not numeric")
            }
            let sp = try s.id("H5Aget_space") { H5Aget_space(aid) }
            defer { closeIfValid(sp) }
            let count = try Dataspace.elementCount(sp, site: s)
            var out = [T](repeating: T(), count: count)
            if count > 0 {
                try out.withUnsafeMutableBytes { p in
                    try s.check("read attribute") { H5Aread(aid, T.hdf5Type.memoryType, p.baseAddress) }
                }
            }
            return out
        }
    }

    /// Reads a numeric scalar (or single-element) attribute.
    public func scalarAttribute<T: HDF5Element>(_ name: String, as: T.Type = T.self) throws -> T {
        let v: [T] = try attribute(name)
        guard v.count == 1 else {
            throw attrSite(name).fail(.typeMismatch, "read scalar attribute", "attribute holds \(v.count) values, not one")
        }
        return v[0]
    }
}

// MARK: - Helpers for dataspaces and string types

enum Dataspace {
    /// A simple dataspace of `shape` (nil: scalar), optional max shape (nil entries: unlimited).
    static func create(shape: [Int]?, maxShape: [Int?]? = nil, site: CallSite) throws -> hid_t {
        guard let shape else { return try site.id("H5Screate(scalar)") { H5Screate(H5S_SCALAR) } }
        var dims = shape.map { hsize_t($0) }
        if let maxShape {
            var maxd = maxShape.map { $0.map { hsize_t($0) } ?? eos_H5S_UNLIMITED() }
            return try site.id("H5Screate_simple") {
                H5Screate_simple(Int32(dims.count), &dims, &maxd)
            }
        }
        return try site.id("H5Screate_simple") { H5Screate_simple(Int32(dims.count), &dims, nil) }
    }

    static func dims(_ space: hid_t, site: CallSite) throws -> [Int] {
        try dimsAndMax(space, site: site).dims
    }

    static func dimsAndMax(_ space: hid_t, site: CallSite) throws -> (dims: [Int], max: [Int?]) {
        let rank = try site.count("H5Sget_simple_extent_ndims") { H5Sget_simple_extent_ndims(space) }
        if rank == 0 { return ([], []) }
        var d = [hsize_t](repeating: 0, count: Int(rank))
        var m = [hsize_t](repeating: 0, count: Int(rank))
        _ = try site.count("H5Sget_simple_extent_dims") { H5Sget_simple_extent_dims(space, &d, &m) }
        // A corrupted dataspace can claim any extent: refuse those whose element count does not
        // fit in 2^62 (Int(hsize_t) and shape products would trap).
        var product: UInt64 = 1
        for x in d {
            let (p, overflow) = product.multipliedReportingOverflow(by: max(x, 1))
            guard !overflow, p <= 1 << 62 else {
                throw site.fail(.typeMismatch, "read extent", "impossible extent \(d) (corrupt file)")
            }
            product = p
        }
        return (d.map { Int($0) }, m.map { $0 == eos_H5S_UNLIMITED() || $0 > UInt64(Int.max) ? nil : Int($0) })
    }

    static func elementCount(_ space: hid_t, site: CallSite) throws -> Int {
        Int(try site.count("H5Sget_simple_extent_npoints") { H5Sget_simple_extent_npoints(space) })
    }
}

enum StringType {
    /// A UTF-8 string type, variable length or fixed length `fixedSize` bytes (null-terminated).
    static func make(site: CallSite, variableLength: Bool, fixedSize: Int) throws -> hid_t {
        let t = try site.id("H5Tcopy") { H5Tcopy(eos_H5T_C_S1()) }
        do {
            try site.check("H5Tset_size") {
                H5Tset_size(t, variableLength ? eos_H5T_VARIABLE() : max(1, fixedSize))
            }
            try site.check("H5Tset_cset") { H5Tset_cset(t, H5T_CSET_UTF8) }
            if !variableLength {
                try site.check("H5Tset_strpad") { H5Tset_strpad(t, H5T_STR_NULLTERM) }
            }
        } catch {
            closeIfValid(t)
            throw error
        }
        return t
    }

    /// Reads one variable-length string: `read(memoryType, buffer)` fills a one-pointer buffer;
    /// HDF5's memory is reclaimed before returning. The pointer never leaves this function.
    static func readVariable(site: CallSite, space: hid_t,
                             _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> String {
        let mt = try make(site: site, variableLength: true, fixedSize: 0)
        defer { closeIfValid(mt) }
        return try withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CChar>?.self, capacity: 1) { buf in
            buf.initialize(repeating: nil)
            let raw = UnsafeMutableRawPointer(buf.baseAddress!)
            try site.check("read string") { read(mt, raw) }
            defer { _ = site.quiet { H5Dvlen_reclaim(mt, space, hid_t(eos_H5P_DEFAULT()), raw) } }
            return buf[0].map { String(cString: $0) } ?? ""
        }
    }

    /// Decodes a fixed-length string: up to the first NUL, trailing spaces removed.
    static func decodeFixed<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var b = Array(bytes)
        if let z = b.firstIndex(of: 0) { b.removeSubrange(z...) }
        while let last = b.last, last == 0x20 { b.removeLast() }
        return String(decoding: b, as: UTF8.self)
    }
}
