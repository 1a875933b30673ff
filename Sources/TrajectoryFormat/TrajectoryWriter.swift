import Foundation
import HDF5Kit

/// Writes one recording. Creates every object (all requested series, dimension scales,
/// `/run/status`) up front, then (by default) switches to SWMR writing. Rows are buffered in
/// Swift and written as one hyperslab per dataset per batch (one extent change each), followed by
/// one file flush, so a killed writer leaves every step up to the last flush readable. Memory is
/// bounded by one batch per series, whatever the run length.
///
/// Not thread-safe: use from one thread at a time (its row buffers are not synchronized; the HDF5
/// calls themselves are serialized by HDF5Kit, see "Threads" in Sources/HDF5Kit/README.md).
///
/// End with `close(status:)`, which reports every error; deinit only releases the handles.
public final class TrajectoryWriter {
    public let path: String
    public let metadata: RunMetadata
    public let options: WriterOptions
    /// Steps per batch (rows buffered before one write + flush).
    public let batchSteps: Int
    /// Input feature count d.
    public let d: Int
    /// Whether the file is being written in SWMR mode.
    public var isSWMR: Bool { file.isSWMRWriting }

    let file: HDF5File
    let statusDataset: HDF5Dataset
    let main: Cadence
    /// Own-cadence series by dimension name ("spectrum_step", ...), when recorded.
    var side: [String: Cadence] = [:]
    private var lastFlush = Date()
    private var closed = false
    /// The first write/flush error; afterwards only `close(status:)` is accepted.
    private var failure: Error?
    /// JSON written as `/run@eigensolver_check` by `close(status:)` (see `setEigensolverCheck`).
    private var eigensolverCheck: String?
    /// JSON committed as `/run@eigensolver_check` by the first flush after which `step` is on
    /// disk (see `setEigensolverCheck(_:whenDurableThrough:)`).
    private var pendingCheck: (json: String, step: Int64)?
    /// Held while open: tells other processes that a live writer has the file (see `WriterLock`).
    var lock: WriterLock?

    /// Creates (or replaces) the file at `path` and every object it will hold.
    ///
    /// - Parameters:
    ///   - X: the inputs, n × d row-major, or a reference to them.
    ///   - Y: targets, n·c entries (c = `metadata.outputCount`; sample-major [n, c] for c > 1).
    /// - Throws: `TrajectoryError.invalidArgument` for inconsistent sizes, `HDF5Error` for I/O.
    public init(path: String, metadata: RunMetadata, X: TrainingInputs, Y: [Double],
                options: WriterOptions = WriterOptions()) throws {
        let n = metadata.n, k = metadata.k, d = X.d, c = metadata.outputCount
        func bad(_ object: String, _ message: String) -> TrajectoryError {
            TrajectoryError(.invalidArgument, file: path, object: object, message)
        }
        guard n > 0 else { throw bad("/run", "n_samples must be positive, got \(n)") }
        guard c >= 1 else { throw bad("/run@n_outputs", "must be ≥ 1, got \(c)") }
        if c == 1 {
            guard k > 0, k <= n else { throw bad("/run", "k must be in 1...n, got \(k)") }
            if let j = metadata.eigenvectorsStored, j != k {
                throw bad("/run@eigenvectors_stored", "a single-output file stores all k = \(k) eigenvectors, got \(j)")
            }
        } else {
            guard k > 0, k <= n * c else { throw bad("/run", "k must be in 1...n·c = \(n * c), got \(k)") }
            let j = metadata.storedEigenvectorCount
            guard j >= 1, j <= k else { throw bad("/run@eigenvectors_stored", "must be in 1...k = \(k), got \(j)") }
        }
        guard d > 0 else { throw bad(Layout.x, "d must be positive, got \(d)") }
        guard Y.count == n * c else {
            throw bad(Layout.y, c == 1 ? "Y has \(Y.count) entries, expected n = \(n)"
                                       : "Y has \(Y.count) entries, expected n·c = \(n)·\(c) = \(n * c)")
        }
        if case .stored(let values, _) = X, values.count != n * d {
            throw bad(Layout.x, "X has \(values.count) values, expected n·d = \(n * d)")
        }
        if options.checkpoints && metadata.p <= 0 {
            throw bad("/run", "checkpoints need n_parameters > 0")
        }
        if let c = options.compression, !(1...9).contains(c) {
            throw bad("/", "compression level must be 1...9, got \(c)")
        }
        if let x = options.eigenvalueThreshold, !x.isFinite {
            throw bad("/run@eigenvalue_threshold", "must be finite, got \(x)")
        }
        if let a = options.eigenvalueThresholdCapacity, a < 1 {
            throw bad("/run@eigenvalue_threshold_capacity", "must be ≥ 1, got \(a)")
        }
        self.path = path
        self.metadata = metadata
        self.options = options
        self.d = d
        let plan = LayoutPlan(n: n, k: k, d: d, p: metadata.p, c: c, j: metadata.storedEigenvectorCount, options: options)
        self.batchSteps = plan.batchSteps
        self.thresholdCapacity = plan.a

        // Never truncate a file another live writer is recording into.
        if WriterLock.isHeld(path: path) { throw WriterLock.busy(path) }
        try WriterLock.checkNotOpenElsewhere(path: path)
        // Every object is created in `<path>.creating` and renamed over `path` only once the file
        // is complete and SWMR-writing (its superblock then says so): a kill while creating leaves
        // `path` as it was (absent, or the file --force was replacing) instead of a file that no
        // one can open. A leftover `.creating` is replaced by the next recording.
        let creating = Self.creatingPath(path)
        if WriterLock.isHeld(path: creating) { throw WriterLock.busy(path) }
        let file: HDF5File
        do { file = try HDF5File.create(creating, bounds: options.swmr ? .v110 : .earliestToV110) } catch {
            try? FileManager.default.removeItem(atPath: creating)
            throw Self.naming(error, path: path)
        }
        self.file = file
        do {
            lock = try WriterLock(path: creating)
            let root = try file.root()
            try Self.writeRootAttributes(root, metadata: metadata)
            let run = try file.createGroup(Layout.run)
            try Self.writeRunAttributes(run, metadata: metadata)
            if let x = options.eigenvalueThreshold {
                try run.setAttribute("eigenvalue_threshold", x)
                try run.setAttribute("eigenvalue_threshold_capacity", Int64(plan.a))
            }
            if options.reserveEigensolverCheck {
                try run.setFixedStringAttribute(Layout.eigensolverCheck, "", capacity: Self.eigensolverCheckCapacity)
            }
            statusDataset = try run.createStringDataset("status", value: RunStatus.running.rawValue,
                                                        size: Layout.statusSize)
            try Self.label(statusDataset, path: Layout.status)
            let data = try file.createGroup(Layout.data)
            let scales = try plan.createScales(in: file)
            switch X {
            case .stored(let values, _):
                let xs = try data.createDataset("X", type: .float64, shape: [n, d])
                try xs.write(values)
                try xs.attachScale(scales["sample"]!, axis: 0)
                try xs.attachScale(scales["feature"]!, axis: 1)
                try Self.label(xs, path: Layout.x)
            case .reference(let xPath, let sha, _):
                try data.setAttribute("x_path", xPath)
                try data.setAttribute("x_sha256", sha)
            }
            let ys = try data.createDataset("Y", type: .float64, shape: c > 1 ? [n, c] : [n])
            try ys.write(Y)
            try ys.attachScale(scales["sample"]!, axis: 0)
            if c > 1 { try ys.attachScale(scales["output"]!, axis: 1) }
            try Self.label(ys, path: Layout.y)
            try file.createGroup(Layout.trajectory)
            let series = try plan.createSeries(in: file, scales: scales)
            main = series["step"]!
            for (name, cadence) in series where name != "step" { side[name] = cadence }
            if options.swmr {
                try file.startSWMRWrite()
            } else {
                try file.flush()
            }
            try Self.rename(creating, to: path)
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: creating)
            throw Self.naming(error, path: path)
        }
    }

    /// Bytes of the fixed-length `/run@eigensolver_check` (the JSON takes about 200).
    static let eigensolverCheckCapacity = 512
    /// Bytes of the fixed-length root `history` (one line per writing command; a resume appends).
    static let historyCapacity = 4096

    /// Length of the `threshold_eig` dimension (0 when no threshold is recorded).
    public let thresholdCapacity: Int

    /// Writes the CF `long_name` and `units` of schema object `path` (dataset or dimension name)
    /// on `ds`, when the schema gives them.
    static func label(_ ds: HDF5Dataset, path: String) throws {
        let schema = TrajectorySchema.current
        let labels: (String?, String?)
        if let spec = schema.dataset(path) {
            labels = (spec.longName, spec.units)
        } else if let dim = schema.dimension(path) {
            labels = (dim.longName, dim.units)
        } else {
            return
        }
        if let l = labels.0 { try ds.setAttribute("long_name", l) }
        if let u = labels.1 { try ds.setAttribute("units", u) }
    }

    /// One `history` line: "<ISO time> <program> <version>: <arguments>".
    static func historyLine(metadata: RunMetadata) -> String {
        let time = ISO8601DateFormatter().string(from: Date())
        let command = metadata.command ?? CommandLine.arguments.enumerated().map { i, a in
            i == 0 ? String(a.split(separator: "/").last ?? Substring(a)) : a
        }.joined(separator: " ")
        return "\(time) \(metadata.software) \(metadata.softwareVersion): \(command)"
    }

    /// Longest `history` line kept (bytes; longer command lines end in "…").
    static let historyLineCapacity = 960

    /// `old` with `line` appended, each line at most `historyLineCapacity` bytes, the whole under
    /// `historyCapacity` bytes: the first line (the creating command) stays, the oldest of the
    /// others are dropped first.
    static func appendingHistory(_ old: String, _ line: String) -> String {
        func cut(_ s: String) -> String {
            guard s.utf8.count > historyLineCapacity else { return s }
            var t = s
            while t.utf8.count > historyLineCapacity - 3 { t.removeLast() }
            return t + "…"
        }
        var lines = (old.split(separator: "\n").map(String.init) + [line]).map(cut)
        while lines.count > 2 && lines.joined(separator: "\n").utf8.count >= historyCapacity { lines.remove(at: 1) }
        return lines.joined(separator: "\n")
    }

    /// Writes `/run@eigensolver_check`: in place when it was reserved (or written so before).
    private func writeEigensolverCheck(_ json: String) throws {
        try file.group(Layout.run).setFixedStringAttribute(Layout.eigensolverCheck, json,
                                                           capacity: Self.eigensolverCheckCapacity)
    }

    /// Where a new recording for `path` is created before it is renamed into place.
    public static func creatingPath(_ path: String) -> String { path + ".creating" }

    private static func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            let message = String(cString: strerror(errno))
            throw HDF5Error(kind: .library, file: to, object: "/", operation: "rename \(from) into place", message: message)
        }
    }

    /// Reopened writer (see `resume`).
    init(path: String, file: HDF5File, metadata: RunMetadata, options: WriterOptions, d: Int, batchSteps: Int,
         status: HDF5Dataset, main: Cadence, side: [String: Cadence], lock: WriterLock?, thresholdCapacity: Int = 0) {
        self.lock = lock
        self.thresholdCapacity = thresholdCapacity
        self.path = path
        self.file = file
        self.metadata = metadata
        self.options = options
        self.d = d
        self.batchSteps = batchSteps
        self.statusDataset = status
        self.main = main
        self.side = side
    }

    /// Releases the handles only: no row, status or attribute is written here and no error can be
    /// reported. Call `close(status:)`; a writer dropped without it loses the rows buffered since
    /// the last flush and leaves `/run/status` as it was (e.g. "running").
    deinit {
        if !closed {
            let eoa = failure == nil ? nil : file.endOfAllocation()
            file.release()
            // After a failed write the superblock may claim more bytes than reached the disk (see
            // `HDF5File.extend`); without this the file could not be opened again.
            if let eoa { HDF5File.extend(path, to: eoa) }
        }
        lock?.release()
    }

    private static func writeRootAttributes(_ root: HDF5Group, metadata: RunMetadata) throws {
        let schema = TrajectorySchema.current
        try root.setAttribute("format", Layout.formatName)
        try root.setAttribute("format_version", schema.writtenVersion(outputs: metadata.outputCount).map(Int64.init))
        try root.setAttribute("software", metadata.software)
        try root.setAttribute("software_version", metadata.softwareVersion)
        let created = metadata.created ?? ISO8601DateFormatter().string(from: Date())
        try root.setAttribute("created", created)
        try root.setAttribute("Conventions", "CF-1.8")
        try root.setAttribute("title", metadata.title ?? defaultTitle(metadata))
        try root.setFixedStringAttribute("history", appendingHistory("", historyLine(metadata: metadata)),
                                         capacity: historyCapacity)
    }

    static func defaultTitle(_ m: RunMetadata) -> String {
        var kind = "model"
        if let o = (try? JSONSerialization.jsonObject(with: Data(m.model.utf8))) as? [String: Any], let k = o["kind"] as? String {
            kind = k
            if let a = o["activation"] as? String { kind += " " + a }
        }
        return "GD trajectory (\(m.software)): \(kind), n = \(m.n), learning rate \(m.learningRate)"
    }

    private static func writeRunAttributes(_ run: HDF5Group, metadata m: RunMetadata) throws {
        try run.setAttribute("learning_rate", m.learningRate)
        try run.setAttribute("n_samples", Int64(m.n))
        try run.setAttribute("n_parameters", Int64(m.p))
        try run.setAttribute("k", Int64(m.k))
        try run.setAttribute("loss", m.loss)
        try run.setAttribute("loss_convention", m.lossConvention.rawValue)
        try run.setAttribute("gram_definition", m.lossConvention.gramDefinition)
        try run.setAttribute("model", m.model)
        if let s = m.seed { try run.setAttribute("seed", s) }
        if let s = m.dataSeed { try run.setAttribute("data_seed", s) }
        if let s = m.config { try run.setAttribute("config", s) }
        if let s = m.dataDescription { try run.setAttribute("data_description", s) }
        if let s = m.cadences { try run.setAttribute("cadences", s) }
        // Format 2.0 (c > 1) only: a single-output file keeps the bytes of format 1.1.
        if m.outputCount > 1 {
            try run.setAttribute("n_outputs", Int64(m.outputCount))
            try run.setAttribute("eigenvectors_stored", Int64(m.storedEigenvectorCount))
        }
    }

    // MARK: - Appending

    private func ensureOpen() throws {
        if closed { throw TrajectoryError(.invalidArgument, file: path, object: "/", "writer is closed") }
        if let failure {
            throw TrajectoryError(.invalidArgument, file: path, object: "/",
                                  "writer stopped after a failed write: \(failure)")
        }
    }

    private func invalid(_ series: String, _ message: String) -> TrajectoryError {
        TrajectoryError(.invalidArgument, file: path, object: Layout.path(series), message)
    }

    /// Appends one step at the main cadence. Steps must increase strictly.
    public func append(_ row: StepRow) throws {
        try ensureOpen()
        // n: the flattened length n·c (c = 1: n), named so in the messages.
        let n = metadata.flatCount, k = metadata.k, j = metadata.storedEigenvectorCount
        let nName = metadata.outputCount > 1 ? "n·c" : "n", kName = metadata.outputCount > 1 ? "j·n·c" : "k·n"
        guard row.residual.count == n else { throw invalid("residual", "got \(row.residual.count) values, expected \(nName) = \(n)") }
        guard row.eigenvalues.count == k else { throw invalid("eigenvalues", "got \(row.eigenvalues.count) values, expected k = \(k)") }
        guard row.eigenvectors.count == j * n else {
            throw invalid("eigenvectors", "got \(row.eigenvectors.count) values, expected \(kName) = \(j * n)")
        }
        if options.outputs {
            guard let o = row.outputs, o.count == n else { throw invalid("outputs", "missing or not \(nName) = \(n) values") }
        }
        if options.outputLayerSharpness && row.outputLayerSharpness == nil {
            throw invalid("output_layer_sharpness", "missing in step \(row.step)")
        }
        if options.gradNorm && row.gradNorm == nil { throw invalid("grad_norm", "missing in step \(row.step)") }
        if options.products {
            guard let p = row.products else { throw invalid("gram_residual", "M-products missing in step \(row.step)") }
            for (name, v) in [("gram_residual", p.gramResidual), ("r_prime", p.rPrime), ("r_prime_from_start", p.rPrimeFromStart)]
            where v.count != n {
                throw invalid(name, "got \(v.count) values, expected \(nName) = \(n)")
            }
        }
        if options.solverCost && row.cost == nil { throw invalid("eigensolver_iterations", "solver cost missing in step \(row.step)") }
        if options.eigenvalueThreshold != nil && row.eigenvaluesAboveThreshold == nil {
            throw invalid("eigenvalues_above_threshold", "missing in step \(row.step)")
        }
        try main.checkStep(row.step, file: path)
        main.push(int: "step", [row.step])
        main.push("loss", [row.loss])
        main.push("residual", row.residual)
        main.push("output_norm_sq", [row.outputNormSq])
        main.push("sharpness", [row.sharpness])
        main.push("eigenvalues", row.eigenvalues)
        main.push("eigenvectors", row.eigenvectors)
        main.push("dtf", [row.dtf])
        if options.outputs { main.push("outputs", row.outputs!) }
        if options.outputLayerSharpness { main.push("output_layer_sharpness", [row.outputLayerSharpness!]) }
        if options.gradNorm { main.push("grad_norm", [row.gradNorm!]) }
        if options.products, let p = row.products {
            main.push("gram_residual", p.gramResidual)
            main.push("r_prime", p.rPrime)
            main.push("r_prime_from_start", p.rPrimeFromStart)
        }
        if options.solverCost, let c = row.cost {
            main.push(int: "eigensolver_iterations", [c.iterations])
            main.push(int: "eigensolver_matvecs", [c.matvecs])
            main.push("step_seconds", [c.seconds])
        }
        if options.eigenvalueThreshold != nil, let above = row.eigenvaluesAboveThreshold {
            let a = thresholdCapacity
            var padded = Array(above.prefix(a))
            padded += [Double](repeating: .nan, count: a - padded.count)
            main.push("eigenvalues_above_threshold", padded)
            main.push(int: "eigenvalue_count_above_threshold", [Int64(above.count)])
        }
        main.endRow(step: row.step)
        if main.bufferedRows >= batchSteps {
            try flush()
        } else if let interval = options.flushIntervalSeconds, Date().timeIntervalSince(lastFlush) >= interval {
            try flush()
        }
    }

    private func sideCadence(_ name: String, option: String) throws -> Cadence {
        guard let c = side[name] else {
            throw TrajectoryError(.invalidArgument, file: path, object: Layout.path(name),
                                  "not recorded (WriterOptions.\(option) is off)")
        }
        return c
    }

    private func appendSide(_ cadence: Cadence, step: Int64, values: [(String, [Double])]) throws {
        try ensureOpen()
        try cadence.checkStep(step, file: path)
        cadence.push(int: cadence.stepName, [step])
        for (name, v) in values { cadence.push(name, v) }
        cadence.endRow(step: step)
        if cadence.bufferedRows >= cadence.maxBufferedRows {
            try cadence.write()
        }
    }

    /// Appends the full spectrum of M (n·c eigenvalues, descending) at `step`.
    public func appendSpectrum(step: Int64, eigenvalues: [Double]) throws {
        let c = try sideCadence("spectrum_step", option: "spectrum")
        guard eigenvalues.count == metadata.flatCount else {
            throw invalid("spectrum", "got \(eigenvalues.count) values, expected \(metadata.outputCount > 1 ? "n·c" : "n") = \(metadata.flatCount)")
        }
        try appendSide(c, step: step, values: [("spectrum", eigenvalues)])
    }

    /// Appends a Hessian sharpness value at `step`.
    public func appendHessianSharpness(step: Int64, value: Double) throws {
        let c = try sideCadence("hessian_step", option: "hessian")
        try appendSide(c, step: step, values: [("hessian_sharpness", [value])])
    }

    /// Appends a parameter checkpoint θ(step) (p values, before that step's update).
    public func appendCheckpoint(step: Int64, parameters: [Double]) throws {
        let c = try sideCadence("checkpoint_step", option: "checkpoints")
        guard parameters.count == metadata.p else {
            throw invalid("parameters", "got \(parameters.count) values, expected p = \(metadata.p)")
        }
        try appendSide(c, step: step, values: [("parameters", parameters)])
    }

    /// Appends the full Gram matrix M (N × N row-major, N = n·c, rows sample-major) at `step`.
    public func appendGram(step: Int64, matrix: [Double]) throws {
        let c = try sideCadence("gram_step", option: "gram")
        let n = metadata.flatCount
        guard matrix.count == n * n else {
            throw invalid("gram", "got \(matrix.count) values, expected \(metadata.outputCount > 1 ? "(n·c)²" : "n²") = \(n * n)")
        }
        try appendSide(c, step: step, values: [("gram", matrix)])
    }

    // MARK: - Flushing, status, closing

    private func writeBuffered() throws {
        try main.write()
        for name in side.keys.sorted() { try side[name]!.write() }
    }

    /// Writes every buffered row (one hyperslab per dataset) and flushes the file.
    /// When that fails (disk full, ...), every series is cut back to the rows of the last
    /// successful flush and the writer refuses further appends; `close(status:)` can still try
    /// to record a final status.
    public func flush() throws {
        try ensureOpen()
        try durably {
            try writeBuffered()
            try file.flush()
        }
        if let p = pendingCheck, let last = main.lastStep, last >= p.step {
            try commit { try writeEigensolverCheck(p.json) }
            pendingCheck = nil
        }
    }

    /// Commits `status`: first every buffered row with its extent change and one file flush, then
    /// `/run/status` and a second flush. A reader (or a killed writer's leftover) therefore never
    /// sees a status newer than the rows: "completed" is on disk only after every row is.
    ///
    /// After a failed write (`failure`), rows may be missing: "completed" is refused (the failure
    /// is thrown) and any other status is written alone.
    public func setStatus(_ status: RunStatus) throws {
        if closed { try ensureOpen() }
        if let failure, status == .completed { throw failure }
        if failure == nil { try flush() }
        try commit { try statusDataset.writeString(status.rawValue) }
    }

    /// Runs one metadata change (status, attribute) followed by a file flush; an error is kept as
    /// the writer's failure.
    private func commit(_ body: () throws -> Void) throws {
        do {
            try body()
            try file.flush()
        } catch {
            let error = named(error)
            if failure == nil { failure = error }
            throw error
        }
    }

    /// `error` naming `path` instead of the `.creating` file it was created as (the HDF5 handles
    /// keep the name they were opened with).
    func named(_ error: Error) -> Error { Self.naming(error, path: path) }

    static func naming(_ error: Error, path: String) -> Error {
        guard var e = error as? HDF5Error, e.file == creatingPath(path) else { return error }
        e.file = path
        e.message = e.message.replacingOccurrences(of: "'\(creatingPath(path))'", with: "'\(path)'")
        return e
    }

    private func durably(_ body: () throws -> Void) throws {
        do {
            try body()
            main.markDurable()
            for c in side.values { c.markDurable() }
            lastFlush = Date()
        } catch {
            main.rollBack()
            for c in side.values { c.rollBack() }
            let error = named(error)
            if failure == nil { failure = error }
            throw error
        }
    }

    /// Ends the recording in this order, each step flushed before the next starts: every buffered
    /// row (and its extent change); the eigensolver check given to `setEigensolverCheck` (still
    /// under SWMR, the file is never reopened); `/run/status` = `status`; the close. A kill at any
    /// write leaves a status that is true of the rows on disk. Idempotent once it succeeded.
    ///
    /// Every error is thrown, the close's included. When writing the rows, the check or the status
    /// fails, the file stays open so that a second `close(status:)` (e.g. with `.interrupted`) can
    /// still try to record a status ("completed" is refused after a failed write); a writer dropped
    /// then only releases its handles.
    public func close(status: RunStatus = .completed) throws {
        if closed { return }
        if let failure, status == .completed { throw failure }
        if failure == nil { try flush() }
        if eigensolverCheck == nil, let p = pendingCheck, failure == nil, let last = main.lastStep, last >= p.step {
            eigensolverCheck = p.json
        }
        pendingCheck = nil
        if let check = eigensolverCheck, failure == nil {
            // HDF5 1.10 (and 2.0) accept creating this attribute while SWMR-writing; it goes in
            // before the final status, so "completed" implies the check is on disk.
            try commit { try writeEigensolverCheck(check) }
            eigensolverCheck = nil
        }
        try commit { try statusDataset.writeString(status.rawValue) }
        closed = true
        defer { lock?.release() }
        let eoa = failure == nil ? nil : file.endOfAllocation()
        do { try file.close() } catch { throw named(error) }
        if let eoa { HDF5File.extend(path, to: eoa) }
    }

    /// Sets the JSON summary stored as `/run@eigensolver_check` when the writer closes
    /// (replacing the value of an earlier, resumed part; see `storedEigensolverCheck()`).
    public func setEigensolverCheck(_ json: String) throws {
        try ensureOpen()
        eigensolverCheck = json
    }

    /// Replaces `/run@config` (a resume that changes `steps`, applied explicitly), in its own
    /// flushed commit.
    public func replaceRunConfig(_ json: String) throws {
        try ensureOpen()
        try commit { try file.group(Layout.run).setAttribute("config", json) }
    }

    /// Sets `/run@eigensolver_check` to `json` right after the first flush that has every row
    /// through `step` on disk (all cadences: a flush writes them all), in its own flushed commit.
    /// So the attribute on disk always describes a prefix that is on disk too (a resume starts
    /// from the checkpoint it names). A later call replaces a value not yet committed.
    public func setEigensolverCheck(_ json: String, whenDurableThrough step: Int64) throws {
        try ensureOpen()
        pendingCheck = (json, step)
    }

    /// The `/run@eigensolver_check` already in the file (written by the part of the run before a
    /// resume), nil when there is none or it is not a string.
    public func storedEigensolverCheck() throws -> String? {
        try ensureOpen()
        let run = try file.group(Layout.run)
        guard run.hasAttribute(Layout.eigensolverCheck),
              let s = try? run.stringAttribute(Layout.eigensolverCheck), !s.isEmpty else { return nil }
        return s
    }

    /// Number of rows written or buffered at the main cadence.
    public var stepCount: Int { main.totalRows }
    /// Last appended main-cadence step.
    public var lastStep: Int64? { main.lastStep }

    /// Last appended step on the cadence of `series` ("spectrum", "parameters", "checkpoint_step",
    /// ...), nil when none or not recorded.
    public func lastStep(of series: String) -> Int64? {
        let p = Layout.path(series)
        guard let dim = TrajectorySchema.current.dataset(p)?.dims?.first else { return nil }
        return dim == "step" ? main.lastStep : side[dim]?.lastStep
    }

    /// Rows written or buffered on the cadence of `series`.
    public func count(of series: String) -> Int {
        let p = Layout.path(series)
        guard let dim = TrajectorySchema.current.dataset(p)?.dims?.first else { return 0 }
        return dim == "step" ? main.totalRows : side[dim]?.totalRows ?? 0
    }
}
