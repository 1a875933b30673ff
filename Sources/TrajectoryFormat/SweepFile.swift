import Foundation
import HDF5Kit

/// The merged file of a sweep (`eostrace merge`): every per-step series of the runs' files
/// stitched into one array over (run, step, …) with HDF5 virtual datasets — nothing is copied,
/// the merged file maps blocks of the runs' files, by paths relative to its own folder — plus a
/// table of each run's swept values, length and status.
///
/// Layout (format "eostrace-sweep" 1.0):
/// - `/trajectory/run` (run): 0…R−1, dimension scale "run"; `/trajectory/run_id`,
///   `/trajectory/run_status` (strings), `/trajectory/run_length` (int64, rows of `step`), and one
///   variable per swept key (dots become underscores), all over (run) and listed in every series'
///   `coordinates` attribute (so xarray makes them coordinates).
/// - For every dataset `/trajectory/NAME` the runs' files hold (found in the files, not from a
///   list, so series a newer recorder adds are merged as well): a virtual dataset of the same
///   dtype, shape (R, max rows, max trailing sizes…); run r's block is `[r, 0:rows_r, 0:…]`;
///   everything else reads as NaN (the fill value). Runs whose file is missing or does not open as
///   a recording (status "missing", "unreadable") read as NaN.
/// - Step coordinates (`/trajectory/step`, `spectrum_step`, …): the longest run's values when
///   every run's values are a prefix of them (the usual case: same cadences); otherwise the row
///   index 0…L−1, with the runs' own values in the virtual dataset `<dim>_values` (run, dim).
/// - Trailing dimensions (sample, eig, parameter, …) are root-level netCDF dimensions of the
///   largest size among the runs.
/// - Root attributes: `format` = "eostrace-sweep", `format_version` = [1, 0], `software_version`,
///   `manifest` (the sweep manifest's JSON), `run_files` and `run_ids` (one per line, run order).
public enum SweepFile {
    public static let format = "eostrace-sweep"
    public static let formatVersion: [Int64] = [1, 0]

    /// One run as the merge sees it.
    public struct Run: Sendable {
        /// Absolute (or current-directory-relative) path of the run's recording.
        public var path: String
        public var id: String
        /// Swept key → value: numbers as `Double` or `Int64`, anything else as a string.
        public var values: [String: SweptValue]
        public init(path: String, id: String, values: [String: SweptValue]) {
            self.path = path; self.id = id; self.values = values
        }
    }

    public enum SweptValue: Sendable, Equatable {
        case int(Int64), double(Double), string(String)
    }

    /// What one run's file holds under /trajectory.
    struct RunContents {
        var status: String
        var length: Int
        /// name → (type, shape, dimension names per axis); scales separately.
        var series: [String: (type: HDF5ElementType, shape: [Int], dims: [String])] = [:]
        var coordinates: [String: [Int64]] = [:]
    }

    /// What `merge` reports.
    public struct Summary: Sendable {
        public var runs: Int
        public var series: [String]
        public var statuses: [String]
        public var lengths: [Int]
    }

    static func read(_ run: Run) throws -> RunContents {
        guard FileManager.default.fileExists(atPath: run.path) else { return RunContents(status: "missing", length: 0) }
        // A file that does not open as a recording (a writer killed before its first flush, a
        // foreign file) maps nothing; its run reads as NaN like a missing one.
        guard let reader = try? TrajectoryReader(path: run.path) else { return RunContents(status: "unreadable", length: 0) }
        defer { reader.close() }
        var c = RunContents(status: (try? reader.statusReport().effective.rawValue) ?? "unknown", length: 0)
        if (try? reader.statusReport().writerAlive) == true { c.status = RunStatus.running.rawValue }
        let f = reader.file
        guard f.kind(of: "/trajectory") == .group else {
            throw TrajectoryError(.missingObject, file: run.path, object: "/trajectory", "missing group")
        }
        for name in try f.group("/trajectory").childNames().sorted() {
            let p = "/trajectory/" + name
            guard f.kind(of: p) == .dataset else { continue }
            let ds = try f.dataset(p)
            let shape = try ds.shape()
            if try ds.isDimensionScale() {
                if shape.count == 1, let t = try ds.typeInfo().elementType, t == .int64 || t == .int32 {
                    c.coordinates[name] = try ds.read(Int64.self)
                }
                continue
            }
            guard !shape.isEmpty, let type = try ds.typeInfo().elementType else { continue }
            var dims: [String] = []
            for axis in shape.indices {
                guard let scale = try ds.attachedScales(axis: axis).first else {
                    throw TrajectoryError(.missingObject, file: run.path, object: p, "axis \(axis) has no dimension scale")
                }
                dims.append((scale as NSString).lastPathComponent)
            }
            c.series[name] = (type, shape, dims)
        }
        c.length = c.coordinates["step"]?.count ?? 0
        return c
    }

    /// The path of `target` relative to the folder `base` (both made absolute first).
    public static func relativePath(of target: String, from base: String) -> String {
        func parts(_ p: String) -> [String] {
            let abs = p.hasPrefix("/") ? p : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(p)
            return (abs as NSString).standardizingPath.split(separator: "/").map(String.init)
        }
        let t = parts(target), b = parts(base)
        var i = 0
        while i < t.count, i < b.count, t[i] == b[i] { i += 1 }
        return (Array(repeating: "..", count: b.count - i) + t[i...]).joined(separator: "/")
    }

    /// Writes the merged file at `path` (replacing it) for `runs`, with the swept keys `keys` (in
    /// order) and the manifest text. Throws naming the run file when runs disagree on a series'
    /// dimensions or a file cannot be read.
    @discardableResult
    public static func write(path: String, runs: [Run], keys: [String], manifest: String, softwareVersion: String) throws -> Summary {
        let contents = try runs.map { try read($0) }
        let folder = (path as NSString).deletingLastPathComponent
        // Union of series: dims must agree by name across runs.
        var series: [String: (type: HDF5ElementType, dims: [String], max: [Int])] = [:]
        for (r, c) in zip(runs, contents) {
            for (name, s) in c.series {
                if var have = series[name] {
                    guard have.dims == s.dims, have.type == s.type else {
                        throw TrajectoryError(.invalidData, file: r.path, object: "/trajectory/" + name,
                                              "dimensions \(s.dims) (\(s.type)) differ from another run's \(have.dims) (\(have.type))")
                    }
                    have.max = zip(have.max, s.shape).map { Swift.max($0, $1) }
                    series[name] = have
                } else {
                    series[name] = (s.type, s.dims, s.shape)
                }
            }
        }
        // Dimension sizes; step-like dims are those with a coordinate in /trajectory.
        var dimSize: [String: Int] = [:]
        for s in series.values { for (d, n) in zip(s.dims, s.max) { dimSize[d] = Swift.max(dimSize[d] ?? 0, n) } }
        let stepDims = Set(contents.flatMap { $0.coordinates.keys }).intersection(dimSize.keys)

        let out = try HDF5File.create(path, bounds: .earliestToV110)
        var closed = false
        defer { if !closed { out.release() } }
        let root = try out.root()
        try root.setAttribute("format", format)
        try root.setAttribute("format_version", formatVersion)
        try root.setAttribute("software_version", softwareVersion)
        try root.setAttribute("manifest", manifest)
        func relative(_ r: Run) -> String { relativePath(of: r.path, from: folder.isEmpty ? "." : folder) }
        try root.setAttribute("run_files", runs.map(relative).joined(separator: "\n"))
        try root.setAttribute("run_ids", runs.map(\.id).joined(separator: "\n"))
        let traj = try out.createGroup("/trajectory")

        // The run axis and its table.
        let runScale = try traj.createDataset("run", type: .int64, shape: [runs.count])
        try runScale.write((0..<runs.count).map { Int64($0) })
        try runScale.makeDimensionScale(name: "run")
        var tableNames = ["run_id", "run_status", "run_length"]
        var table: [HDF5Dataset] = []
        table.append(try traj.createStringArrayDataset("run_id", values: runs.map(\.id)))
        table.append(try traj.createStringArrayDataset("run_status", values: contents.map(\.status)))
        let len = try traj.createDataset("run_length", type: .int64, shape: [runs.count])
        try len.write(contents.map { Int64($0.length) })
        table.append(len)
        for key in keys {
            let name = variableName(key, avoiding: Set(series.keys).union(tableNames))
            let vals = runs.map { $0.values[key] }
            let ds: HDF5Dataset
            if vals.allSatisfy({ if case .int? = $0 { return true }; return false }) {
                ds = try traj.createDataset(name, type: .int64, shape: [runs.count])
                try ds.write(vals.map { if case .int(let v)? = $0 { return v }; return 0 })
            } else if vals.allSatisfy({ switch $0 { case .int?, .double?: return true; default: return false } }) {
                ds = try traj.createDataset(name, type: .float64, shape: [runs.count])
                try ds.write(vals.map { v -> Double in
                    switch v { case .int(let i)?: return Double(i); case .double(let d)?: return d; default: return .nan }
                })
            } else {
                ds = try traj.createStringArrayDataset(name, values: vals.map { v -> String in
                    switch v { case .int(let i)?: return String(i); case .double(let d)?: return "\(d)"; case .string(let s)?: return s; case nil: return "" }
                })
            }
            try ds.setAttribute("swept_key", key)
            table.append(ds)
            tableNames.append(name)
        }
        for t in table { try t.attachScale(runScale, axis: 0) }

        // Step coordinates.
        var scales: [String: HDF5Dataset] = ["run": runScale]
        var extraVirtual: [(name: String, dim: String)] = []
        for dim in stepDims.sorted() {
            let n = dimSize[dim]!
            let longest = contents.compactMap { $0.coordinates[dim] }.max { $0.count < $1.count } ?? []
            let agree = contents.allSatisfy { c in
                guard let v = c.coordinates[dim] else { return true }
                return v.count <= longest.count && Array(longest.prefix(v.count)) == v
            }
            let ds = try traj.createDataset(dim, type: .int64, shape: [n])
            if agree && longest.count == n {
                try ds.write(longest)
            } else {
                try ds.write((0..<n).map { Int64($0) })
                try ds.setAttribute("note", "row index: the runs' \(dim) values differ, see \(dim)_values")
                extraVirtual.append((dim + "_values", dim))
            }
            try ds.makeDimensionScale(name: dim)
            scales[dim] = ds
        }
        // Trailing (shared) dimensions at the root, netCDF style (no coordinate variable).
        for dim in dimSize.keys.sorted() where !stepDims.contains(dim) {
            let n = dimSize[dim]!
            let ds = try root.createDataset(dim, type: .float32, shape: [n])
            try ds.write([Float](repeating: 0, count: n))
            let size = String(n)
            try ds.makeDimensionScale(name: Layout.netCDFDimensionPrefix + String(repeating: " ", count: Swift.max(0, 10 - size.count)) + size)
            scales[dim] = ds
        }

        // The virtual series.
        let coordinateList = tableNames.joined(separator: " ")
        for name in series.keys.sorted() {
            let s = series[name]!
            var sources: [VirtualSource] = []
            for (i, (r, c)) in zip(runs, contents).enumerated() {
                guard let mine = c.series[name] else { continue }
                sources.append(VirtualSource(file: relative(r), dataset: "/trajectory/" + name, shape: mine.shape,
                                             start: [i] + [Int](repeating: 0, count: mine.shape.count)))
            }
            let shape = [runs.count] + s.dims.map { dimSize[$0]! }
            // Padding: NaN for floating-point series, −1 for integer ones (solver counts, threshold counts).
            let ds = try traj.createVirtualDataset(name, type: s.type, shape: shape, fill: s.type == .int64 ? -1 : .nan,
                                                   sources: sources)
            try ds.attachScale(runScale, axis: 0)
            for (a, d) in s.dims.enumerated() { try ds.attachScale(scales[d]!, axis: a + 1) }
            try ds.setAttribute("coordinates", coordinateList)
        }
        for (name, dim) in extraVirtual {
            var sources: [VirtualSource] = []
            for (i, (r, c)) in zip(runs, contents).enumerated() {
                guard let v = c.coordinates[dim] else { continue }
                sources.append(VirtualSource(file: relative(r), dataset: "/trajectory/" + dim, shape: [v.count], start: [i, 0]))
            }
            let ds = try traj.createVirtualDataset(name, type: .int64, shape: [runs.count, dimSize[dim]!], fill: -1, sources: sources)
            try ds.attachScale(runScale, axis: 0)
            try ds.attachScale(scales[dim]!, axis: 1)
        }
        try out.close()
        closed = true
        return Summary(runs: runs.count, series: series.keys.sorted(), statuses: contents.map(\.status), lengths: contents.map(\.length))
    }

    static func variableName(_ key: String, avoiding taken: Set<String>) -> String {
        let base = key.replacingOccurrences(of: ".", with: "_")
        return taken.contains(base) ? "swept_" + base : base
    }

    /// Whether `path` is a sweep file (root attribute `format` = "eostrace-sweep").
    public static func isSweepFile(_ path: String) -> Bool {
        // Not a regular file (a FIFO would block the probe): not a sweep file; the caller's own open reports it.
        guard HDF5File.nonRegularKind(path) == nil, HDF5File.isHDF5(path), let f = try? HDF5File.open(path) else { return false }
        defer { try? f.close() }
        return (try? f.root().stringAttribute("format")) == format
    }

    /// The run files a sweep file maps (absolute paths, resolved against its folder), in run order,
    /// with their run ids (root attributes `run_files`, relative to the sweep file's folder, and `run_ids`,
    /// one per line).
    public static func runFiles(of path: String) throws -> [(id: String, path: String)] {
        let f = try HDF5File.open(path)
        defer { try? f.close() }
        let root = try f.root()
        guard (try? root.stringAttribute("format")) == format else {
            throw TrajectoryError(.notATrajectory, file: path, object: "/", "not an eostrace sweep file (root attribute format)")
        }
        let sources = try root.stringAttribute("run_files")
        let folder = (path as NSString).deletingLastPathComponent
        let ids = try root.stringAttribute("run_ids").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let files = sources.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard files.count == ids.count else {
            throw TrajectoryError(.invalidData, file: path, object: "/@run_files", "\(files.count) files for \(ids.count) runs")
        }
        return zip(ids, files).map { ($0, $1.hasPrefix("/") ? $1 : ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent($1)) }
    }
}
