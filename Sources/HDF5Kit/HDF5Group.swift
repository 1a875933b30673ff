import CHDF5

/// An open group.
public final class HDF5Group: HDF5Object {
    /// Opens a child group (relative name or absolute path).
    public func group(_ name: String) throws -> HDF5Group {
        try file.group(childPath(name))
    }

    /// Creates a child group.
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        try file.createGroup(childPath(name))
    }

    /// Opens a child dataset.
    public func dataset(_ name: String, chunkCacheBytes: Int? = nil) throws -> HDF5Dataset {
        try file.dataset(childPath(name), chunkCacheBytes: chunkCacheBytes)
    }

    /// Whether a child object exists.
    public func exists(_ name: String) -> Bool { file.exists(childPath(name)) }

    /// Removes the link `name` (the object's space is not reclaimed in the file).
    public func removeLink(_ name: String) throws {
        let gid = try openID()
        try CallSite(file: file.path, object: childPath(name)).check("delete link") {
            name.withCString { H5Ldelete(gid, $0, hid_t(eos_H5P_DEFAULT())) }
        }
    }

    /// Names of the direct children (links), sorted by name.
    public func childNames() throws -> [String] {
        let gid = try openID()
        var names: [String] = []
        var idx: hsize_t = 0
        try withUnsafeMutablePointer(to: &names) { list in
            try site.check("list children") {
                H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, data in
                    guard let name, let data else { return 0 }
                    data.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    return 0
                }, list)
            }
        }
        return names
    }

    /// The hard links of this group with the object addresses they point at, in name order
    /// (one level: nothing is visited recursively).
    func hardLinkAddresses() throws -> [(String, haddr_t)] {
        let gid = try openID()
        var links: [(String, haddr_t)] = []
        var idx: hsize_t = 0
        try withUnsafeMutablePointer(to: &links) { list in
            try site.check("list links") {
                H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, info, data in
                    var a: haddr_t = 0
                    guard let name, let data, eos_hard_link_address(info, &a) == 1 else { return 0 }
                    data.assumingMemoryBound(to: [(String, haddr_t)].self).pointee.append((String(cString: name), a))
                    return 0
                }, list)
            }
        }
        return links
    }

    /// Options for a new dataset.
    public struct DatasetOptions: Sendable {
        /// Maximum shape; nil entries are unlimited. nil: fixed at `shape`.
        public var maxShape: [Int?]?
        /// Chunk shape; required when any axis is unlimited or a filter is used.
        public var chunk: [Int]?
        /// Deflate level 1–9, nil for none.
        public var deflate: Int?
        /// Byte shuffle before deflate.
        public var shuffle: Bool
        /// Chunk cache of the returned handle (not stored in the file). nil: HDF5's default.
        public var chunkCacheBytes: Int?

        public init(maxShape: [Int?]? = nil, chunk: [Int]? = nil, deflate: Int? = nil, shuffle: Bool = false,
                    chunkCacheBytes: Int? = nil) {
            self.maxShape = maxShape
            self.chunk = chunk
            self.deflate = deflate
            self.shuffle = shuffle
            self.chunkCacheBytes = chunkCacheBytes
        }

        /// An extendable dataset: first axis unlimited, chunked.
        public static func extendable(chunk: [Int], deflate: Int? = nil, shuffle: Bool = false,
                                      chunkCacheBytes: Int? = nil, trailing: [Int]) -> DatasetOptions {
            DatasetOptions(maxShape: [nil] + trailing.map { Optional($0) }, chunk: chunk, deflate: deflate,
                           shuffle: shuffle, chunkCacheBytes: chunkCacheBytes)
        }
    }

    /// Creates a numeric dataset of `type` and `shape` (shape [] is a scalar).
    ///
    /// - Precondition: `options.chunk`, when given, has the rank of `shape` and positive entries.
    @discardableResult
    public func createDataset(_ name: String, type: HDF5ElementType, shape: [Int],
                              options: DatasetOptions = DatasetOptions()) throws -> HDF5Dataset {
        try createDataset(name, fileType: type.fileType, shape: shape, options: options)
    }

    func createDataset(_ name: String, fileType: hid_t, shape: [Int], options: DatasetOptions) throws -> HDF5Dataset {
        let gid = try openID()
        let full = childPath(name)
        let s = CallSite(file: file.path, object: full)
        if let chunk = options.chunk {
            precondition(chunk.count == shape.count && chunk.allSatisfy { $0 > 0 }, "chunk rank/entries")
        }
        let space = try Dataspace.create(shape: shape.isEmpty ? nil : shape, maxShape: options.maxShape, site: s)
        defer { closeIfValid(space) }
        let dcpl = try s.id("H5Pcreate(dataset create)") { H5Pcreate(eos_H5P_DATASET_CREATE()) }
        defer { closeIfValid(dcpl) }
        if var chunk = options.chunk?.map({ hsize_t($0) }) {
            try s.check("H5Pset_chunk") { H5Pset_chunk(dcpl, Int32(chunk.count), &chunk) }
            if options.shuffle { try s.check("H5Pset_shuffle") { H5Pset_shuffle(dcpl) } }
            if let level = options.deflate { try s.check("H5Pset_deflate") { H5Pset_deflate(dcpl, UInt32(level)) } }
        }
        let dapl = try HDF5Dataset.accessList(site: s, chunkCacheBytes: options.chunkCacheBytes)
        defer { closeIfValid(dapl) }
        let did = try s.id("create dataset") {
            name.withCString { H5Dcreate2(gid, $0, fileType, space, hid_t(eos_H5P_DEFAULT()), dcpl, dapl) }
        }
        return HDF5Dataset(file: file, id: did, path: full)
    }

    /// Creates a scalar fixed-length UTF-8 string dataset of `size` bytes (null-terminated, so at
    /// most `size - 1` bytes of text) holding `value`. It can be rewritten while SWMR writing.
    @discardableResult
    public func createStringDataset(_ name: String, value: String, size: Int) throws -> HDF5Dataset {
        let s = CallSite(file: file.path, object: childPath(name))
        let t = try StringType.make(site: s, variableLength: false, fixedSize: size)
        defer { closeIfValid(t) }
        let ds = try createDataset(name, fileType: t, shape: [], options: DatasetOptions())
        try ds.writeString(value)
        return ds
    }
}
