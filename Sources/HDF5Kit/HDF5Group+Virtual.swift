import CHDF5

/// One source of a virtual dataset: `dataset` in `file` (a path relative to the directory of the
/// virtual dataset's file, or absolute), all of its `shape`, mapped to the block of the virtual
/// dataset that starts at `start` (same rank as the virtual dataset). A source of lower rank than
/// the virtual dataset fills a block whose leading extra axes have size 1, e.g. a `[steps, n]`
/// source at `start = [run, 0, 0]` of a `[runs, maxSteps, maxN]` virtual dataset.
public struct VirtualSource: Sendable, Equatable {
    public var file: String
    public var dataset: String
    public var shape: [Int]
    public var start: [Int]
    public init(file: String, dataset: String, shape: [Int], start: [Int]) {
        self.file = file; self.dataset = dataset; self.shape = shape; self.start = start
    }
}

extension HDF5Group {
    /// Creates a virtual dataset (HDF5 VDS, `H5Pset_virtual`) of `type` and fixed `shape` whose
    /// blocks are read from `sources` at read time (nothing is copied). Elements no source covers,
    /// and the blocks of sources whose file or dataset is missing, read as `fill` (NaN for a
    /// padded sweep; stored as the dataset's fill value, converted to `type`).
    ///
    /// Relative source file names are resolved by libhdf5 at read time: first under the
    /// `HDF5_VDS_PREFIX` environment variable or the access list's virtual prefix, then relative
    /// to the directory of the file holding the virtual dataset, then to the current directory
    /// (measured with libhdf5 1.10.8 and h5py's HDF5 2.0: a folder moved as a whole still reads;
    /// a source not found reads as `fill`, without an error), so a sweep folder can move.
    ///
    /// - Precondition: every source's `start` has the rank of `shape`, its block lies inside
    ///   `shape`, and `shape.count >= source.shape.count`.
    @discardableResult
    public func createVirtualDataset(_ name: String, type: HDF5ElementType, shape: [Int], fill: Double,
                                     sources: [VirtualSource]) throws -> HDF5Dataset {
        let gid = try openID()
        let full = childPath(name)
        let s = CallSite(file: file.path, object: full)
        let space = try Dataspace.create(shape: shape, site: s)
        defer { closeIfValid(space) }
        let dcpl = try s.id("H5Pcreate(dataset create)") { H5Pcreate(eos_H5P_DATASET_CREATE()) }
        defer { closeIfValid(dcpl) }
        var fillValue = fill
        try s.check("H5Pset_fill_value") { H5Pset_fill_value(dcpl, eos_H5T_NATIVE_DOUBLE(), &fillValue) }
        for src in sources {
            precondition(src.start.count == shape.count && src.shape.count <= shape.count, "virtual source rank")
            let lead = shape.count - src.shape.count
            let block = [Int](repeating: 1, count: lead) + src.shape
            for a in 0..<shape.count { precondition(src.start[a] >= 0 && src.start[a] + block[a] <= shape[a], "virtual block") }
            if block.contains(0) { continue }  // an empty source maps nothing
            let srcSpace = try Dataspace.create(shape: src.shape, site: s)
            defer { closeIfValid(srcSpace) }
            var start = src.start.map { hsize_t($0) }
            var count = block.map { hsize_t($0) }
            try s.check("select virtual block at \(src.start)") {
                H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nil, &count, nil)
            }
            try s.check("H5Pset_virtual(\(src.file):\(src.dataset))") {
                src.file.withCString { f in src.dataset.withCString { d in H5Pset_virtual(dcpl, space, f, d, srcSpace) } }
            }
        }
        try s.check("select all") { H5Sselect_all(space) }
        let did = try s.id("create virtual dataset") {
            name.withCString { H5Dcreate2(gid, $0, type.fileType, space, hid_t(eos_H5P_DEFAULT()), dcpl, hid_t(eos_H5P_DEFAULT())) }
        }
        return HDF5Dataset(file: file, id: did, path: full)
    }
}

extension HDF5Dataset {
    /// Whether this dataset's layout is virtual (VDS).
    public func isVirtual() throws -> Bool {
        guard let (layout, _) = layoutAndStorage() else { return false }
        return layout == H5D_VIRTUAL
    }
}

extension HDF5Group {
    /// Creates a 1-D dataset of variable-length UTF-8 strings holding `values` (what h5py and
    /// xarray read as `str` objects; used for the run ids and statuses of a sweep file).
    @discardableResult
    public func createStringArrayDataset(_ name: String, values: [String]) throws -> HDF5Dataset {
        let gid = try openID()
        let full = childPath(name)
        let s = CallSite(file: file.path, object: full)
        let t = try StringType.make(site: s, variableLength: true, fixedSize: 0)
        defer { closeIfValid(t) }
        let space = try Dataspace.create(shape: [values.count], site: s)
        defer { closeIfValid(space) }
        let did = try s.id("create string dataset") {
            name.withCString { H5Dcreate2(gid, $0, t, space, hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT()), hid_t(eos_H5P_DEFAULT())) }
        }
        let ds = HDF5Dataset(file: file, id: did, path: full)
        guard !values.isEmpty else { return ds }
        // All strings NUL-terminated in one buffer; the pointers into it live inside the closure only.
        var flat: [CChar] = []
        var offsets: [Int] = []
        for v in values { offsets.append(flat.count); flat += v.utf8CString }
        try flat.withUnsafeBufferPointer { buf in
            var pointers = offsets.map { Optional(buf.baseAddress! + $0) }
            try pointers.withUnsafeMutableBufferPointer { p in
                try s.check("write strings") {
                    H5Dwrite(did, t, eos_H5S_ALL(), eos_H5S_ALL(), hid_t(eos_H5P_DEFAULT()), UnsafeRawPointer(p.baseAddress!))
                }
            }
        }
        return ds
    }
}
