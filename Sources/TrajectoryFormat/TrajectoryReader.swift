import Foundation
import HDF5Kit

/// Rows of a 2-D (or flattened higher-rank) block: `values[r * cols + c]`.
public struct RowBlock: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var values: [Double]

    public init(rows: Int, cols: Int, values: [Double]) {
        precondition(values.count == rows * cols, "RowBlock: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    public subscript(r: Int, c: Int) -> Double { values[r * cols + c] }

    /// Row `r` as an array.
    public func row(_ r: Int) -> [Double] { Array(values[(r * cols)..<((r + 1) * cols)]) }
}

/// Random access to a recording, without loading the whole file. Opens read-only; a file left
/// marked open by a killed SWMR writer (or a live one) is opened as an SWMR reader automatically.
/// When the series of one cadence have different lengths (a live or killed writer), every count
/// and read uses their common length.
public final class TrajectoryReader {
    public let path: String
    /// [major, minor] stored in the file.
    public let formatVersion: [Int]
    public let metadata: RunMetadata
    public var n: Int { metadata.n }
    public var k: Int { metadata.k }
    public var p: Int { metadata.p }
    /// c, the number of network outputs (`/run@n_outputs`; 1 for files without it, format 1.x).
    public var outputCount: Int { metadata.outputCount }
    /// n·c: the length of every flattened per-sample vector (residual, outputs, products, each
    /// eigenvector), sample-major (index i·c + a). = n for c = 1.
    public var flatCount: Int { metadata.flatCount }
    /// j, the eigenvectors stored per step (`/run@eigenvectors_stored`; k when absent).
    public var eigenvectorsStored: Int { metadata.storedEigenvectorCount }
    /// Input feature count.
    public let d: Int
    /// Whether the file was opened as an SWMR reader.
    public var isSWMRReader: Bool { file.mode == .swmrRead }

    let file: HDF5File
    private var handles: [String: HDF5Dataset] = [:]

    /// Opens a recording.
    ///
    /// - Parameter swmr: open as an SWMR reader (to follow a live writer with `refresh()`).
    ///   Without it, a plain read-only open is tried first and SWMR read is the fallback.
    /// - Throws: `HDF5Error` when the file cannot be opened; `TrajectoryError` with kind
    ///   `.notATrajectory` or `.unsupportedVersion` (newer major version), or `.missingObject`.
    public init(path: String, swmr: Bool = false) throws {
        self.path = path
        file = try TrajectoryReader.openFile(path, swmr: swmr)
        let root = try file.root()
        let version = try TrajectoryReader.checkFormat(root, path: path)
        formatVersion = version
        metadata = try TrajectoryReader.readMetadata(file, path: path)
        if file.exists(Layout.x), let s = try? file.dataset(Layout.x).shape(), s.count == 2 {
            d = s[1]
        } else if file.exists("/feature"), let s = try? file.dataset("/feature").shape(), s.count == 1 {
            d = s[0]
        } else if let data = metadata.model.data(using: .utf8),
                  let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let dim = obj["input_dim"] as? Int {
            d = dim
        } else {
            d = 0
        }
        try checkDeclaredExtents()
    }

    /// Opens every dataset of the schema the file holds, which checks its declared extent
    /// against the file size (`HDF5Dataset.checkExtent`): a forged extent is refused at open, by
    /// every command, before a count or an allocation uses it.
    func checkDeclaredExtents() throws {
        for spec in TrajectorySchema.current.datasets where file.kind(of: spec.path) == .dataset {
            _ = try dataset(spec.path)
        }
    }

    static func openFile(_ path: String, swmr: Bool) throws -> HDF5File {
        if swmr {
            do { return try HDF5File.open(path, mode: .swmrRead) } catch let e as HDF5Error where e.kind == .library {
                return try HDF5File.open(path, mode: .readOnly)
            }
        }
        do {
            return try HDF5File.open(path, mode: .readOnly)
        } catch let e as HDF5Error where e.kind == .fileLocked || e.kind == .library {
            if let f = try? HDF5File.open(path, mode: .swmrRead) { return f }
            throw e
        } catch let e as HDF5Error where e.kind == .notHDF5 && HDF5File.truncation(path) != nil {
            // A write cut short (full disk, `ulimit -f`) left the superblock's end of allocation
            // beyond the end of the file, which libhdf5 1.10 refuses to open. Read it from a
            // private mapping padded with zeros to that length: the file itself is not changed.
            // Only a file whose readable part still holds every required object is read this way
            // (a write cut short at its end); a file cut anywhere else (its metadata lost) keeps
            // the truncation error instead of reading as an empty or zero-filled recording.
            guard let f = try? HDF5File.openReadOnlyPaddedToAllocation(path) else { throw e }
            let required = TrajectorySchema.current.datasets.filter { $0.required && !$0.path.hasPrefix("/data/") }
            guard required.allSatisfy({ f.kind(of: $0.path) == .dataset }), f.kind(of: "/data") == .group,
                  let size = HDF5File.truncation(path)?.size else {
                try? f.close()
                throw e
            }
            // ... and none of whose datasets stores raw data beyond the real end of the file
            // (rows whose bytes were lost would read as zeros).
            for spec in TrajectorySchema.current.datasets where f.kind(of: spec.path) == .dataset {
                guard let end = (try? f.dataset(spec.path))?.storageEnd(), end <= size else {
                    try? f.close()
                    throw e
                }
            }
            return f
        }
    }

    /// Checks the root `format` and `format_version` attributes; returns the version.
    /// Throws `.notATrajectory` or `.unsupportedVersion` (newer major version).
    ///
    /// - Parameter supportedMajor: the newest major version read (default: this library's, 2).
    ///   A reader of format 1.x is this check with 1 (used by the tests of the refusal).
    public static func checkFormat(_ root: HDF5Group, path: String,
                                   supportedMajor: Int = TrajectorySchema.current.readableMajor) throws -> [Int] {
        guard root.hasAttribute("format") else {
            throw TrajectoryError(.notATrajectory, file: path, object: "/@format",
                                  "not an eostrace trajectory (no 'format' attribute)")
        }
        let format = (try? root.stringAttribute("format")) ?? "?"
        guard format == Layout.formatName else {
            throw TrajectoryError(.notATrajectory, file: path, object: "/@format",
                                  "not an eostrace trajectory (format is '\(format)')")
        }
        guard root.hasAttribute("format_version"),
              let v = try? root.attribute("format_version", as: Int64.self), v.count == 2 else {
            throw TrajectoryError(.notATrajectory, file: path, object: "/@format_version",
                                  "missing or malformed format_version (expected [major, minor])")
        }
        let supported = supportedMajor
        guard v[0] >= 1, v[1] >= 0 else {
            throw TrajectoryError(.notATrajectory, file: path, object: "/@format_version",
                                  "\(v) is not a format version (expected [major ≥ 1, minor ≥ 0], e.g. [\(supported), 0])")
        }
        if v[0] > supported {
            throw TrajectoryError(.unsupportedVersion, file: path, object: "/@format_version",
                                  "format version \(v[0]).\(v[1]) is newer than this eostrace reads (\(supported).x); upgrade eostrace")
        }
        return v.map { Int($0) }
    }

    static func readMetadata(_ file: HDF5File, path: String) throws -> RunMetadata {
        guard file.kind(of: Layout.run) == .group else {
            throw TrajectoryError(.missingObject, file: path, object: Layout.run, "missing required group")
        }
        let run = try file.group(Layout.run)
        let root = try file.root()
        func need<T>(_ name: String, _ read: () throws -> T) throws -> T {
            guard run.hasAttribute(name) else {
                throw TrajectoryError(.missingObject, file: path, object: "/run@\(name)", "missing required attribute")
            }
            return try read()
        }
        func optString(_ g: HDF5Object, _ name: String) -> String? {
            g.hasAttribute(name) ? try? g.stringAttribute(name) : nil
        }
        func optInt(_ name: String) -> Int64? {
            run.hasAttribute(name) ? try? run.scalarAttribute(name, as: Int64.self) : nil
        }
        var convention = LossConvention.meanSquaredError
        if let text = optString(run, "loss_convention") {
            guard let c = LossConvention(rawValue: text) else {
                throw TrajectoryError(.invalidData, file: path, object: "/run@loss_convention",
                                      "'\(text)' is not a loss convention (expected one of \(LossConvention.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            convention = c
        }
        // Format 2.0: c outputs and j stored eigenvectors (absent: c = 1, j = k).
        func positive(_ name: String) throws -> Int? {
            guard run.hasAttribute(name) else { return nil }
            guard let v = try? run.scalarAttribute(name, as: Int64.self) else {
                throw TrajectoryError(.invalidData, file: path, object: "/run@\(name)", "not an integer attribute")
            }
            guard v >= 1, v <= Int64(Int32.max) else {
                throw TrajectoryError(.invalidData, file: path, object: "/run@\(name)", "is \(v), expected a positive count")
            }
            return Int(v)
        }
        let outputCount = try positive("n_outputs") ?? 1
        let stored = try positive("eigenvectors_stored")
        var m = RunMetadata(
            learningRate: try need("learning_rate") { try run.scalarAttribute("learning_rate", as: Double.self) },
            n: Int(try need("n_samples") { try run.scalarAttribute("n_samples", as: Int64.self) }),
            p: Int(try need("n_parameters") { try run.scalarAttribute("n_parameters", as: Int64.self) }),
            k: Int(try need("k") { try run.scalarAttribute("k", as: Int64.self) }),
            loss: try need("loss") { try run.stringAttribute("loss") },
            model: try need("model") { try run.stringAttribute("model") },
            seed: optInt("seed"), dataSeed: optInt("data_seed"),
            config: optString(run, "config"), dataDescription: optString(run, "data_description"),
            cadences: optString(run, "cadences"),
            software: optString(root, "software") ?? "",
            softwareVersion: optString(root, "software_version") ?? "",
            created: optString(root, "created"))
        m.lossConvention = convention
        m.outputCount = outputCount
        m.eigenvectorsStored = stored
        if m.n.multipliedReportingOverflow(by: outputCount).overflow {
            throw TrajectoryError(.invalidData, file: path, object: "/run@n_outputs",
                                  "n_samples · n_outputs = \(m.n) · \(outputCount) overflows")
        }
        if let j = stored, j > m.k {
            throw TrajectoryError(.invalidData, file: path, object: "/run@eigenvectors_stored", "is \(j), more than k = \(m.k)")
        }
        return m
    }

    /// Closes the file (idempotent).
    public func close() {
        handles.removeAll()
        try? file.close()
    }

    // MARK: - Objects

    func dataset(_ path: String) throws -> HDF5Dataset {
        if let h = handles[path] { return h }
        guard file.kind(of: path) == .dataset else {
            throw TrajectoryError(.missingObject, file: self.path, object: path, "not recorded in this file")
        }
        let h = try file.dataset(path, chunkCacheBytes: 8 << 20)
        // Every command reads through here: a declared extent the file cannot hold is refused
        // before any count, allocation or scan uses it.
        try h.checkExtent()
        handles[path] = h
        return h
    }

    /// Whether a series (name under /trajectory, or absolute path) exists.
    public func has(_ series: String) -> Bool { file.kind(of: Layout.path(series)) == .dataset }

    /// Run status stored in `/run/status`.
    public func status() throws -> RunStatus {
        let s = try dataset(Layout.status).readString()
        guard let st = RunStatus(rawValue: s) else {
            throw TrajectoryError(.invalidData, file: path, object: Layout.status, "unknown status '\(s)'")
        }
        return st
    }

    /// Re-reads extents written by a live SWMR writer since the last refresh.
    public func refresh() throws {
        guard isSWMRReader else { return }
        for key in handles.keys.sorted() { try handles[key]!.refresh() }
    }

    // MARK: - Cadences and counts

    /// The coordinate path ("/trajectory/step", ...) of the cadence a series belongs to.
    public func coordinate(of series: String) throws -> String {
        let p = Layout.path(series)
        let schema = TrajectorySchema.current
        guard let spec = schema.dataset(p), let dim = spec.dims?.first,
              let coord = schema.dimension(dim)?.coordinate else {
            throw TrajectoryError(.invalidArgument, file: path, object: p, "not a time series of this format")
        }
        return coord
    }

    /// Number of rows of `series` readable consistently: the common length of every existing
    /// dataset on the same cadence (coordinate included).
    public func count(of series: String = Layout.Series.step) throws -> Int {
        let coord = try coordinate(of: series)
        let dim = TrajectorySchema.current.dataset(coord)?.dims?.first ?? "step"
        var common = try dataset(coord).rowCount()
        for spec in TrajectorySchema.current.series(onCadence: dim, under: Layout.trajectory) where has(spec.path) {
            common = min(common, try dataset(spec.path).rowCount())
        }
        return common
    }

    /// Number of recorded main-cadence steps.
    public func stepCount() throws -> Int { try count(of: Layout.Series.step) }

    private func resolve(_ range: Range<Int>?, count: Int, object: String) throws -> Range<Int> {
        let r = range ?? 0..<count
        guard r.lowerBound >= 0, r.upperBound <= count else {
            throw TrajectoryError(.invalidArgument, file: path, object: object,
                                  "rows \(r.lowerBound)..<\(r.upperBound) outside 0..<\(count)")
        }
        return r
    }

    /// Main-cadence steps (rows `range`, default all).
    public func steps(_ range: Range<Int>? = nil) throws -> [Int64] {
        try coordinateValues(of: Layout.Series.step, range: range)
    }

    /// Step values of the cadence of `series` (e.g. "spectrum" → spectrum_step).
    public func coordinateValues(of series: String, range: Range<Int>? = nil) throws -> [Int64] {
        let coord = try coordinate(of: series)
        let r = try resolve(range, count: try count(of: series), object: coord)
        return try dataset(coord).readRows(r, as: Int64.self)
    }

    /// Row index of `step` on the cadence of `series` (binary search), or nil.
    public func index(ofStep step: Int64, in series: String = Layout.Series.step) throws -> Int? {
        let s = try coordinateValues(of: series)
        var lo = 0, hi = s.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if s[mid] < step { lo = mid + 1 } else { hi = mid }
        }
        return lo < s.count && s[lo] == step ? lo : nil
    }

    /// Values of a 1-D series (or any series flattened row-major), rows `range` (default all).
    public func read(_ series: String, range: Range<Int>? = nil) throws -> [Double] {
        try readRows(series, range: range).values
    }

    /// Rows `range` of a series: `cols` = product of the trailing dimensions.
    public func readRows(_ series: String, range: Range<Int>? = nil) throws -> RowBlock {
        let p = Layout.path(series)
        let ds = try dataset(p)
        let r = try resolve(range, count: try recordedRows(p, ds), object: p)
        let shape = try ds.shape()
        let cols = shape.dropFirst().reduce(1, *)
        return RowBlock(rows: r.count, cols: cols, values: try ds.readRows(r, as: Double.self))
    }

    /// Eigenvectors of rows `range`: block with `rows = range.count`, `cols = j·N` (N = n·c,
    /// j = `eigenvectorsStored`; c = 1: k·n); in each row, v_i occupies columns i·N ..< (i+1)·N,
    /// flattened sample-major.
    public func eigenvectors(_ range: Range<Int>? = nil) throws -> RowBlock {
        try readRows(Layout.Series.eigenvectors, range: range)
    }

    /// Rows of `p` that hold recorded data: its coordinate's count for series on a dimension of
    /// the schema, else the dataset's extent.
    private func recordedRows(_ p: String, _ ds: HDF5Dataset) throws -> Int {
        if TrajectorySchema.current.dataset(p)?.dims?.first != nil, let c = try? count(of: p) { return c }
        return try ds.rowCount()
    }

    /// v₁ of rows `range` only (rows × N, N = n·c) of /trajectory/eigenvectors.
    public func leadingEigenvectors(_ range: Range<Int>? = nil) throws -> [Double] {
        let p = Layout.path(Layout.Series.eigenvectors)
        let ds = try dataset(p)
        let shape = try ds.shape()
        let c = outputCount
        let rank = c > 1 ? 4 : 3
        guard shape.count == rank, shape[1] >= 1, c == 1 || shape[3] == c else {
            throw TrajectoryError(.invalidData, file: path, object: p,
                                  c > 1 ? "expected rank 4 [step, eigenvector, n, c = \(c)], got shape \(shape)"
                                        : "expected rank 3 [step, k, n], got shape \(shape)")
        }
        let r = try resolve(range, count: try recordedRows(p, ds), object: p)
        if r.isEmpty { return [] }
        // Whole rows, 64 at a time (whole chunks, bounded scratch), keeping v₁: a strided
        // [range, 0, :] hyperslab made libhdf5 1.10 hold hundreds of MB for a 5,000-row read.
        let n = shape.dropFirst(2).reduce(1, *), kn = shape[1] * n
        var out = [Double](repeating: 0, count: r.count * n)
        var lo = r.lowerBound
        while lo < r.upperBound {
            let hi = min(lo + 64, r.upperBound)
            let block = try ds.readRows(lo..<hi, as: Double.self)
            for i in 0..<(hi - lo) {
                out.replaceSubrange(((lo - r.lowerBound + i) * n)..<((lo - r.lowerBound + i + 1) * n),
                                    with: block[(i * kn)..<(i * kn + n)])
            }
            lo = hi
        }
        return out
    }

    /// The unit eigenvector v_i at main-cadence row `row` ([N], N = n·c, sample-major).
    public func eigenvector(row: Int, index i: Int) throws -> [Double] {
        let j = eigenvectorsStored, n = flatCount
        guard i >= 0, i < j else {
            throw TrajectoryError(.invalidArgument, file: path, object: Layout.path("eigenvectors"),
                                  j < k ? "index \(i) not in 0..<\(j) (the file stores the top \(j) of k = \(k) eigenvectors)"
                                        : "index \(i) not in 0..<\(k)")
        }
        let b = try readRows(Layout.Series.eigenvectors, range: row..<(row + 1))
        guard b.cols == j * n else {
            throw TrajectoryError(.invalidData, file: path, object: Layout.path("eigenvectors"),
                                  "rows have \(b.cols) values, expected \(outputCount > 1 ? "j·n·c" : "k·n") = \(j * n)")
        }
        return Array(b.values[(i * n)..<((i + 1) * n)])
    }

    // MARK: - Own-cadence series

    public func spectrumSteps() throws -> [Int64] { try coordinateValues(of: Layout.Series.spectrum) }
    public func spectrum(_ range: Range<Int>? = nil) throws -> RowBlock { try readRows(Layout.Series.spectrum, range: range) }
    public func hessianSteps() throws -> [Int64] { try coordinateValues(of: Layout.Series.hessianSharpness) }
    public func hessianSharpness(_ range: Range<Int>? = nil) throws -> [Double] {
        try read(Layout.Series.hessianSharpness, range: range)
    }
    public func checkpointSteps() throws -> [Int64] { try coordinateValues(of: Layout.Series.parameters) }
    /// θ at checkpoint row `index` (p values).
    public func parameters(atCheckpointIndex index: Int) throws -> [Double] {
        try read(Layout.Series.parameters, range: index..<(index + 1))
    }
    public func gramSteps() throws -> [Int64] { try coordinateValues(of: Layout.Series.gram) }
    /// Full M (N × N, N = n·c, rows and columns sample-major) at gram row `index`.
    public func gram(atIndex index: Int) throws -> RowBlock {
        let v = try read(Layout.Series.gram, range: index..<(index + 1))
        let n = flatCount
        guard v.count == n * n else {
            throw TrajectoryError(.invalidData, file: path, object: Layout.path("gram"),
                                  "rows have \(v.count) values, expected \(outputCount > 1 ? "(n·c)²" : "n²") = \(n * n)")
        }
        return RowBlock(rows: n, cols: n, values: v)
    }

    // MARK: - Data

    /// X (n × d row-major), or nil when the file only references it (see `xReference`).
    public func X() throws -> [Double]? {
        guard file.exists(Layout.x) else { return nil }
        return try dataset(Layout.x).read(Double.self)
    }

    /// The reference (path, sha256) to X when it is not stored.
    public func xReference() throws -> (path: String, sha256: String)? {
        let data = try file.group(Layout.data)
        guard data.hasAttribute("x_path"), data.hasAttribute("x_sha256") else { return nil }
        return (try data.stringAttribute("x_path"), try data.stringAttribute("x_sha256"))
    }

    /// Y (N = n·c values, sample-major [n, c]; n for c = 1).
    public func Y() throws -> [Double] {
        let y = try dataset(Layout.y).read(Double.self)
        guard y.count == flatCount else {
            throw TrajectoryError(.invalidData, file: path, object: Layout.y,
                                  "has \(y.count) values, expected \(outputCount > 1 ? "n·c" : "n") = \(flatCount)")
        }
        return y
    }
}
