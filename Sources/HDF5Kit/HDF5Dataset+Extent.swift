import CHDF5

/// Plausibility of a dataset's declared extent, checked before anything is allocated for it.
///
/// A dataset's extent is a number in its object header: a forged or corrupted file can declare
/// 2³¹ rows of a chunked series without storing them (unallocated chunks read as the fill value),
/// and reading it then allocates gigabytes or scans for minutes. Every size here is computed with
/// overflow checks, and the extent's bytes are compared with what the file can hold:
///
///     bytes(extent) ≤ ratio · max(file size, allocated storage) + slack
///
/// where `ratio` is 1 for unfiltered data and `compressedRatio` when the dataset has filters
/// (deflate cannot compress more than ~1032:1), and `slack` covers a live writer that has
/// extended a series by one batch whose rows are not on disk yet.
extension HDF5Dataset {
    /// Allowed expansion of filtered (compressed) storage.
    public static let compressedRatio = 1_100
    /// Bytes an extent may exceed the file by (a live writer's pending batch).
    public static let extentSlack = 64 << 20

    /// Bytes of `elements` elements of `elementSize` bytes, or nil on overflow.
    public static func checkedBytes(_ dims: [Int], elementSize: Int) -> Int? {
        var total = max(elementSize, 1)
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, o) = total.multipliedReportingOverflow(by: d)
            if o { return nil }
            total = p
        }
        return total
    }

    /// nil when the current extent fits in what the file can hold; otherwise a one-line problem
    /// ("declares [2147483648] rows of 8 bytes (17179869184 bytes) but the file has 1815564 bytes").
    public func extentProblem() -> String? {
        guard let dims = try? shape() else { return nil }  // the read itself reports it
        let elementSize = (try? typeInfo().size) ?? 8
        guard let bytes = Self.checkedBytes(dims, elementSize: elementSize) else {
            return "declares extent \(dims) of \(elementSize)-byte elements, whose size overflows 64 bits (corrupt or forged file)"
        }
        // Compact data live in the object header and contiguous data in one allocated block of
        // exactly the extent's size: an extent larger than that block is forged (libhdf5 1.10.8
        // memcpy's past a compact dataset's buffer: a heap overflow libFuzzer found).
        if let (layout, stored) = layoutAndStorage(), layout != H5D_CHUNKED, stored > 0 || layout == H5D_COMPACT,
           bytes > stored {
            return "declares extent \(dims) (\(bytes) bytes) but its \(layout == H5D_COMPACT ? "compact" : "contiguous") storage holds \(stored) bytes (corrupt or forged extent)"
        }
        let limit = storageLimit()
        guard bytes <= limit else {
            return "declares extent \(dims) (\(bytes) bytes) but the file can hold at most \(limit) bytes of it (corrupt or forged extent)"
        }
        return chunkCountProblem(dims)
    }

    /// Chunks an extent may span beyond what the file's bytes can index: every allocated chunk
    /// takes at least `chunkIndexBytes` of the file (its chunk-index entry alone does), and
    /// `chunkSlack` more may be unallocated. libhdf5 1.10.8 builds bookkeeping for every chunk a
    /// read selects before it reads one: a forged extent over one-element chunks in a 40 KB file
    /// took `dump` 5 s and 2 GB to fail (found by libFuzzer as a slow unit).
    public static let chunkIndexBytes = 16
    public static let chunkSlack = 4_096

    /// nil unless the extent spans more chunks than the file can hold (see `chunkIndexBytes`).
    func chunkCountProblem(_ dims: [Int]) -> String? {
        guard let did = try? openID() else { return nil }
        let plist = site.quiet { H5Dget_create_plist(did) }
        guard plist >= 0 else { return nil }
        defer { closeIfValid(plist) }
        guard site.quiet({ H5Pget_layout(plist) }) == H5D_CHUNKED, !dims.isEmpty else { return nil }
        var chunk = [hsize_t](repeating: 0, count: dims.count)
        guard site.quiet({ H5Pget_chunk(plist, Int32(dims.count), &chunk) }) == Int32(dims.count) else { return nil }
        var count = 1
        for (d, c) in zip(dims, chunk) {
            guard c > 0, c <= hsize_t(Int.max) else { return nil }  // libhdf5 refuses a zero chunk dimension itself
            let (q, r) = d.quotientAndRemainder(dividingBy: Int(c))
            let (n, o) = count.multipliedReportingOverflow(by: q + (r > 0 ? 1 : 0))
            count = o ? Int.max : n
        }
        let fileBytes = (try? file.size()) ?? 0
        let most = fileBytes / Self.chunkIndexBytes + Self.chunkSlack
        guard count > most else { return nil }
        let shown = chunk.map { Int($0) }
        return "declares extent \(dims) in chunks of \(shown): \(count == Int.max ? "more than 2^63" : String(count)) chunks, more than a file of \(fileBytes) bytes can index (at most \(most)): corrupt or forged, or too sparse to read safely (if genuine, rewrite it with larger chunks: h5repack -l CHUNK=...)"
    }

    /// Throws `.notHDF5` (the file is corrupt) when `extentProblem()` finds one.
    public func checkExtent() throws {
        if let p = extentProblem() { throw site.fail(.notHDF5, "check extent", p) }
    }

    /// The storage layout and the allocated bytes (H5Dget_storage_size), or nil.
    func layoutAndStorage() -> (H5D_layout_t, Int)? {
        guard let did = try? openID() else { return nil }
        let plist = site.quiet { H5Dget_create_plist(did) }
        guard plist >= 0 else { return nil }
        defer { closeIfValid(plist) }
        let layout = site.quiet { H5Pget_layout(plist) }
        guard layout.rawValue >= 0 else { return nil }
        return (layout, Int(clamping: site.quiet { H5Dget_storage_size(did) }))
    }

    /// The most bytes this dataset's extent may take (see the type's documentation).
    func storageLimit() -> Int {
        let fileBytes = (try? file.size()) ?? 0
        var stored = 0
        var filtered = false
        if let did = try? openID() {
            stored = Int(clamping: site.quiet { H5Dget_storage_size(did) })
            let plist = site.quiet { H5Dget_create_plist(did) }
            if plist >= 0 {
                filtered = site.quiet { H5Pget_nfilters(plist) } > 0
                closeIfValid(plist)
            }
        }
        let base = max(fileBytes, stored)
        let (scaled, o) = base.multipliedReportingOverflow(by: filtered ? Self.compressedRatio : 1)
        if o { return Int.max }
        let (limit, o2) = scaled.addingReportingOverflow(Self.extentSlack)
        return o2 ? Int.max : limit
    }
}

extension HDF5Dataset {
    /// The end (file offset + size) of the last byte of raw data this dataset stores: the largest
    /// chunk address + size (chunked), offset + storage (contiguous), 0 (compact or nothing
    /// allocated); nil when libhdf5 cannot say. A file cut short whose datasets all end within
    /// its real size lost no raw data.
    public func storageEnd() -> Int? {
        guard let did = try? openID(), let (layout, stored) = layoutAndStorage() else { return nil }
        switch layout {
        case H5D_CONTIGUOUS:
            let offset = site.quiet { H5Dget_offset(did) }
            if offset == UInt64.max { return 0 }
            let (end, overflow) = Int(clamping: offset).addingReportingOverflow(stored)
            return overflow ? Int.max : end
        case H5D_CHUNKED:
            let space = site.quiet { H5Dget_space(did) }
            guard space >= 0 else { return nil }
            defer { closeIfValid(space) }
            var count: hsize_t = 0
            guard site.quiet({ H5Dget_num_chunks(did, space, &count) }) >= 0 else { return nil }
            var end = 0
            var index: hsize_t = 0
            while index < count {
                var mask: UInt32 = 0, address: haddr_t = 0, size: hsize_t = 0
                guard site.quiet({ H5Dget_chunk_info(did, space, index, nil, &mask, &address, &size) }) >= 0 else { return nil }
                if address != UInt64.max {
                    let (e, overflow) = Int(clamping: address).addingReportingOverflow(Int(clamping: size))
                    end = max(end, overflow ? Int.max : e)   // a forged address or size: past any file
                }
                index += 1
            }
            return end
        default:
            return 0
        }
    }
}
