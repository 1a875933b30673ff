import HDF5Kit

extension TrajectoryWriter {
    /// Bytes (uncompressed) one row adds on each cadence of this file, by dimension name ("step",
    /// "spectrum_step", "checkpoint_step", ...): 8 per value of every series on it.
    public var bytesPerRow: [String: Int] {
        var out: [String: Int] = [:]
        for (name, cadence) in [("step", main)] + side.map({ ($0.key, $0.value) }) {
            out[name] = cadence.columns.values.reduce(0) { $0 + 8 * $1.rowSize }
        }
        return out
    }
}

/// Buffered rows of one dataset.
final class Column {
    let dataset: HDF5Dataset
    let rowSize: Int
    let isInteger: Bool
    var doubles: [Double] = []
    var ints: [Int64] = []
    /// Row index where the buffered rows go. A resumed writer starts at the row after its
    /// checkpoint and overwrites the rows a killed writer left beyond it (the recomputation is
    /// bit-identical, so a reader sees the same bytes before and after each overwrite) instead of
    /// shrinking the extent first: shrinking rewrites the last chunk with fill values before the
    /// extent, and a kill between the two showed zeros as steps.
    var nextRow: Int

    init(dataset: HDF5Dataset, rowSize: Int, isInteger: Bool, nextRow: Int = 0) {
        self.dataset = dataset
        self.rowSize = rowSize
        self.isInteger = isInteger
        self.nextRow = nextRow
    }

    /// Grows the dataset when needed (once) and writes the buffered rows as one hyperslab at
    /// `nextRow`.
    func write() throws {
        if isInteger {
            guard !ints.isEmpty else { return }
            try put(ints)
            ints.removeAll(keepingCapacity: true)
        } else {
            guard !doubles.isEmpty else { return }
            try put(doubles)
            doubles.removeAll(keepingCapacity: true)
        }
    }

    private func put<T: HDF5Element>(_ values: [T]) throws {
        let end = nextRow + values.count / rowSize
        if try dataset.rowCount() < end { try dataset.setRowCount(end) }
        try dataset.writeRows(values, at: nextRow)
        nextRow = end
    }
}

/// The datasets sharing one step coordinate (main cadence "step", or "spectrum_step", ...).
final class Cadence {
    /// Name of the coordinate dataset and dimension.
    let stepName: String
    var columns: [String: Column] = [:]
    /// Rows buffered and not yet written.
    private(set) var bufferedRows = 0
    /// Rows written plus buffered.
    private(set) var totalRows: Int
    /// Rows known to be on disk: counted at the last successful file flush.
    private(set) var durableRows: Int
    private(set) var lastStep: Int64?
    /// Side cadences write when this many rows are buffered.
    let maxBufferedRows: Int

    init(stepName: String, existingRows: Int, lastStep: Int64?, maxBufferedRows: Int) {
        self.stepName = stepName
        self.totalRows = existingRows
        self.durableRows = existingRows
        self.lastStep = lastStep
        self.maxBufferedRows = max(1, maxBufferedRows)
    }

    func checkStep(_ step: Int64, file: String) throws {
        if let last = lastStep, step <= last {
            throw TrajectoryError(.invalidArgument, file: file, object: Layout.path(stepName),
                                  "step \(step) does not follow the last recorded step \(last)")
        }
    }

    func push(_ name: String, _ values: [Double]) {
        columns[name]!.doubles.append(contentsOf: values)
    }

    func push(int name: String, _ values: [Int64]) {
        columns[name]!.ints.append(contentsOf: values)
    }

    func endRow(step: Int64) {
        bufferedRows += 1
        totalRows += 1
        lastStep = step
    }

    /// After a successful file flush: everything written so far is durable.
    func markDurable() { durableRows = totalRows - bufferedRows }

    /// After a failed write or flush (disk full, file size limit): shrinks every dataset back to
    /// the durable rows and drops the buffer. Otherwise the extents of a failed batch can reach
    /// the disk while some of its chunks do not, and readers see rows of fill-value zeros.
    func rollBack() {
        for column in columns.values {
            try? column.dataset.setRowCount(durableRows)
            column.nextRow = durableRows
            column.doubles.removeAll()
            column.ints.removeAll()
        }
        bufferedRows = 0
        totalRows = durableRows
    }

    func write() throws {
        guard bufferedRows > 0 else { return }
        // The coordinate last: a live reader that sees a step sees its values too (it also uses
        // the common length of the cadence).
        for name in columns.keys.sorted() where name != stepName { try columns[name]!.write() }
        try columns[stepName]?.write()
        bufferedRows = 0
    }
}

/// Sizes, chunking and creation of the objects of a new recording, driven by the schema.
struct LayoutPlan {
    let n: Int, k: Int, d: Int, p: Int
    /// Outputs c and stored eigenvectors j (c = 1: j = k, the layout of format 1.x).
    let c: Int, j: Int
    /// Length of the `threshold_eig` dimension (0 without a threshold).
    let a: Int
    let options: WriterOptions
    let batchSteps: Int
    static let targetChunkBytes = 1 << 20
    static let minChunkBytes = 64 << 10

    init(n: Int, k: Int, d: Int, p: Int, c: Int = 1, j: Int? = nil, options: WriterOptions) {
        self.n = n
        self.k = k
        self.d = d
        self.p = p
        self.c = c
        self.j = c > 1 ? (j ?? k) : k
        self.a = options.eigenvalueThreshold == nil ? 0 : max(1, options.eigenvalueThresholdCapacity ?? min(n * c, 64))
        self.options = options
        if let b = options.batchSteps {
            batchSteps = max(1, b)
        } else {
            let maxRowBytes = c > 1 ? 8 * max(self.j * n * c, n * c) : 8 * max(k * n, n)
            batchSteps = min(1024, max(1, LayoutPlan.targetChunkBytes / maxRowBytes))
        }
    }

    /// Whether the writer creates the schema dataset `name` (under /trajectory).
    func isEnabled(_ spec: TrajectorySchema.Dataset) -> Bool {
        if spec.required { return true }
        switch spec.name {
        case "outputs": return options.outputs
        case "output_layer_sharpness": return options.outputLayerSharpness
        case "grad_norm": return options.gradNorm
        case "spectrum_step", "spectrum": return options.spectrum
        case "hessian_step", "hessian_sharpness": return options.hessian
        case "checkpoint_step", "parameters": return options.checkpoints
        case "gram_step", "gram": return options.gram
        case "gram_residual", "r_prime", "r_prime_from_start": return options.products
        case "eigensolver_iterations", "eigensolver_matvecs", "step_seconds": return options.solverCost
        case "eigenvalues_above_threshold", "eigenvalue_count_above_threshold": return options.eigenvalueThreshold != nil
        default: return false
        }
    }

    static func size(of dim: TrajectorySchema.Dimension, n: Int, k: Int, d: Int, p: Int, a: Int = 0,
                     c: Int = 1, j: Int? = nil) -> Int? {
        switch dim.size {
        case "c"?: return c
        case "j"?: return j ?? k
        case "nc"?: return n * c
        case "a"?: return a
        case "n"?: return n
        case "k"?: return k
        case "d"?: return d
        case "p"?: return p
        default: return nil
        }
    }

    func size(of dim: String) -> Int {
        guard let spec = TrajectorySchema.current.dimension(dim) else { preconditionFailure("unknown dimension \(dim)") }
        return LayoutPlan.size(of: spec, n: n, k: k, d: d, p: p, a: a, c: c, j: j) ?? 0
    }

    /// Chunk shape for a dataset with trailing shape `trailing`: whole-batch rows for the main
    /// cadence (a multiple of the batch, at least 64 KiB), about 64 KiB (at least one row) for
    /// own cadences; when one row exceeds 1 MiB, axis 1 is split.
    static func chunk(trailing: [Int], mainCadence: Bool, batch: Int) -> [Int] {
        let rowBytes = 8 * max(1, trailing.reduce(1, *))
        var rows: Int
        if mainCadence {
            let batchBytes = rowBytes * batch
            rows = batchBytes >= minChunkBytes ? batch : batch * ((minChunkBytes + batchBytes - 1) / batchBytes)
        } else {
            // Own cadences are sparse: the smallest allowed chunk (64 KiB), at least one row.
            rows = min(8192, max(1, minChunkBytes / rowBytes))
        }
        var tail = trailing.map { max(1, $0) }
        if rows == 1 && rowBytes > targetChunkBytes && !tail.isEmpty {
            // Split axis 1 into equal pieces of at most 1 MiB, so that the last chunk of a row is
            // not mostly empty (a [1, 131072] chunk for p = 200000 wasted a third of the file).
            let inner = 8 * tail.dropFirst().reduce(1, *)
            let maxPerChunk = max(1, targetChunkBytes / max(1, inner))
            let pieces = (tail[0] + maxPerChunk - 1) / maxPerChunk
            tail[0] = (tail[0] + pieces - 1) / pieces
        }
        rows = max(1, rows)
        return [rows] + tail
    }

    static func cacheBytes(chunk: [Int]) -> Int {
        let bytes = 8 * chunk.reduce(1, *)
        return min(64 << 20, max(4 << 20, 2 * bytes))
    }

    /// Creates the root-group scales of the dimensions without a coordinate variable that the
    /// enabled datasets (and /data) use.
    func createScales(in file: HDF5File) throws -> [String: HDF5Dataset] {
        let schema = TrajectorySchema.current
        var needed: [String] = ["sample", "feature"]
        if c > 1 { needed.append("output") }  // /data/Y [sample, output]
        for spec in schema.datasets where spec.group == Layout.trajectory && isEnabled(spec) {
            for dim in spec.dims(outputs: c) ?? [] where schema.dimension(dim)?.coordinate == nil && !needed.contains(dim) {
                needed.append(dim)
            }
        }
        let root = try file.root()
        var scales: [String: HDF5Dataset] = [:]
        for (i, dim) in needed.enumerated() {
            let size = self.size(of: dim)
            let ds = try root.createDataset(dim, type: .float32, shape: [size])
            try ds.makeDimensionScale(name: Layout.netCDFDimensionName(size: size))
            try ds.setAttribute("_Netcdf4Dimid", Int32(i))
            try TrajectoryWriter.label(ds, path: dim)
            scales[dim] = ds
        }
        return scales
    }

    /// Creates /trajectory's coordinates and series; returns them grouped by cadence.
    func createSeries(in file: HDF5File, scales: [String: HDF5Dataset]) throws -> [String: Cadence] {
        let schema = TrajectorySchema.current
        let group = try file.group(Layout.trajectory)
        var cadences: [String: Cadence] = [:]
        var dimID = Int32(scales.count)
        for dim in schema.dimensions {
            guard let coord = dim.coordinate, coord.hasPrefix(Layout.trajectory + "/"),
                  let coordSpec = schema.dataset(coord), isEnabled(coordSpec) else { continue }
            let isMain = dim.name == "step"
            let members = schema.series(onCadence: dim.name).filter { isEnabled($0) && $0.path != coord }
            let chunkOf: (TrajectorySchema.Dataset) -> [Int] = { spec in
                LayoutPlan.chunk(trailing: (spec.dims(outputs: self.c) ?? []).dropFirst().map { self.size(of: $0) },
                                 mainCadence: isMain, batch: batchSteps)
            }
            // Side cadences write whole chunks of their largest member.
            let maxRows = isMain ? batchSteps
                : members.map { chunkOf($0)[0] }.min() ?? 1
            let cadence = Cadence(stepName: dim.name, existingRows: 0, lastStep: nil, maxBufferedRows: maxRows)
            let stepChunk = LayoutPlan.chunk(trailing: [], mainCadence: isMain, batch: batchSteps)
            let stepDS = try group.createDataset(
                coordSpec.name, type: .int64, shape: [0],
                options: .extendable(chunk: stepChunk, chunkCacheBytes: LayoutPlan.cacheBytes(chunk: stepChunk),
                                     trailing: []))
            try stepDS.makeDimensionScale(name: dim.name)
            try stepDS.setAttribute("_Netcdf4Dimid", dimID)
            try TrajectoryWriter.label(stepDS, path: coord)
            dimID += 1
            cadence.columns[coordSpec.name] = Column(dataset: stepDS, rowSize: 1, isInteger: true)
            for spec in members {
                let dims = spec.dims(outputs: c) ?? []
                let trailing = dims.dropFirst().map { size(of: $0) }
                let chunk = chunkOf(spec)
                let compress = options.compression != nil && !trailing.isEmpty
                let ds = try group.createDataset(
                    spec.name, type: spec.dtype == "int64" ? .int64 : .float64, shape: [0] + trailing,
                    options: .extendable(chunk: chunk, deflate: compress ? options.compression : nil,
                                         shuffle: compress, chunkCacheBytes: LayoutPlan.cacheBytes(chunk: chunk),
                                         trailing: trailing))
                try ds.attachScale(stepDS, axis: 0)
                for (axis, dimName) in dims.enumerated().dropFirst() {
                    try ds.attachScale(scales[dimName]!, axis: axis)
                }
                try TrajectoryWriter.label(ds, path: spec.path)
                cadence.columns[spec.name] = Column(dataset: ds, rowSize: max(1, trailing.reduce(1, *)),
                                                    isInteger: spec.dtype == "int64")
            }
            cadences[dim.name] = cadence
        }
        return cadences
    }
}
