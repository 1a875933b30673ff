import EOSSystem
import HDF5Kit

/// The top-k eigensolver's warm start at an interrupt checkpoint: what a resume from that step
/// needs, beyond the recorded rows, to continue bit for bit like the uninterrupted run when the
/// solver iterates (n > max(64, 3b)); format 1.1, optional group `/resume` (docs/FORMAT.md).
///
/// `block` is the solver's last block (b = k + guard rows of length n, row-major): its next solve
/// starts from it; `rngState` the generator that fills missing guard vectors
/// (`SeededRNG.stateWords`, six words).
public struct EigensolverWarmStart: Sendable, Equatable {
    /// The interrupt checkpoint step the state belongs to (θ and the main row at it are recorded).
    public var step: Int64
    public var rows: Int
    public var cols: Int
    public var block: [Double]
    public var rngState: [UInt64]

    public init(step: Int64, rows: Int, cols: Int, block: [Double], rngState: [UInt64]) {
        self.step = step; self.rows = rows; self.cols = cols; self.block = block; self.rngState = rngState
    }
}

extension Layout {
    /// Group of the interrupt state (`EigensolverWarmStart`), present only in an interrupted file.
    public static let resumeGroup = "/resume"
    /// The block (dims `warm_start`, `sample`).
    public static let warmStartBlock = "/resume/eigensolver_block"
    /// Dimension (root scale) of the block's rows.
    public static let warmStartDimension = "warm_start"
}

extension TrajectoryWriter {
    /// Adds `state` to the closed, interrupted recording at `path`: a copy of the file beside it
    /// gets `/resume` (attributes `step`, `rng_state`; dataset `eigensolver_block` with the root
    /// scale `/warm_start`) and is renamed over it, under the writer lock. A kill at any write
    /// leaves the recording as it was closed (a resume then starts from the last regular
    /// checkpoint) or with the state complete. Not written while recording: objects cannot be
    /// created crash-safely while SWMR-writing, and uninterrupted recordings stay as they were.
    /// Cost: one copy of the file, only at an interrupt of a run whose eigensolver iterates.
    public static func storeWarmStart(_ state: EigensolverWarmStart, path: String) throws {
        guard state.rows >= 1, state.cols >= 1, state.block.count == state.rows * state.cols,
              state.rngState.count == 6 else {
            throw TrajectoryError(.invalidArgument, file: path, object: Layout.warmStartBlock,
                                  "warm start of \(state.block.count) values, expected \(state.rows) × \(state.cols) and 6 generator words")
        }
        let lock = try WriterLock(path: path)
        defer { lock.release() }
        try rewriteByCopy(path: path, object: Layout.resumeGroup) { file in
            try removeWarmStartObjects(file)
            let root = try file.root()
            let scale = try root.createDataset(Layout.warmStartDimension, type: .float32, shape: [state.rows])
            try scale.makeDimensionScale(name: Layout.netCDFDimensionName(size: state.rows))
            try scale.setAttribute("_Netcdf4Dimid", try nextDimensionID(file))
            try label(scale, path: Layout.warmStartDimension)
            let group = try file.createGroup(Layout.resumeGroup)
            try group.setAttribute("step", state.step)
            try group.setAttribute("rng_state", state.rngState.map { Int64(bitPattern: $0) })
            let ds = try group.createDataset("eigensolver_block", type: .float64, shape: [state.rows, state.cols])
            try ds.write(state.block)
            try ds.attachScale(scale, axis: 0)
            try ds.attachScale(try file.dataset("/sample"), axis: 1)
            try label(ds, path: Layout.warmStartBlock)
        }
    }

    /// Whether the file has any of the interrupt state's objects.
    static func hasWarmStartObjects(_ file: HDF5File) -> Bool {
        file.kind(of: Layout.resumeGroup) != nil || file.kind(of: "/" + Layout.warmStartDimension) != nil
    }

    /// Removes `/resume` and `/warm_start` (scales detached first, so `/sample` lists only the
    /// series it had: the file is then identical to one never interrupted).
    static func removeWarmStartObjects(_ file: HDF5File) throws {
        if file.kind(of: Layout.warmStartBlock) == .dataset {
            let ds = try file.dataset(Layout.warmStartBlock)
            let rank = try ds.shape().count
            for axis in 0..<rank {
                for name in (try? ds.attachedScales(axis: axis)) ?? [] where file.kind(of: name) == .dataset {
                    try ds.detachScale(try file.dataset(name), axis: axis)
                }
            }
            ds.close()
        }
        let root = try file.root()
        if file.kind(of: Layout.resumeGroup) != nil { try root.removeLink(String(Layout.resumeGroup.dropFirst())) }
        if file.kind(of: "/" + Layout.warmStartDimension) != nil { try root.removeLink(Layout.warmStartDimension) }
    }

    /// One more than the largest `_Netcdf4Dimid` of the root scales and the coordinates.
    private static func nextDimensionID(_ file: HDF5File) throws -> Int32 {
        var next: Int32 = 0
        for group in ["/", Layout.trajectory] where file.kind(of: group) == .group {
            for name in try file.group(group).childNames() {
                let p = group == "/" ? "/" + name : group + "/" + name
                guard file.kind(of: p) == .dataset, let ds = try? file.dataset(p) else { continue }
                if ds.hasAttribute("_Netcdf4Dimid"), let id = try? ds.scalarAttribute("_Netcdf4Dimid", as: Int32.self) {
                    next = max(next, id &+ 1)
                }
                ds.close()
            }
        }
        return next
    }

    /// Applies `body` to a copy of the recording at `path` (opened read-write, not SWMR) and
    /// renames the copy over it (`AtomicFile`): a kill at any write leaves the old file or the new
    /// one. The caller holds the writer lock. `object` names the change in errors.
    static func rewriteByCopy(path: String, object: String, _ body: (HDF5File) throws -> Void) throws {
        guard let original = AtomicFile.status(path) else {
            throw HDF5Error(kind: .fileNotFound, file: path, object: object, operation: "replace", message: "no such file")
        }
        func failed(_ e: Error) -> Error {
            guard let a = e as? AtomicFileError else { return e }
            return HDF5Error(kind: .library, file: path, object: object, operation: "replace",
                             message: a.problem + (a.system.map { ": \($0.message)" } ?? ""))
        }
        let temporary: String
        do { temporary = try AtomicFile.createTemporary(beside: path, mode: original.mode) } catch { throw failed(error) }
        do {
            try AtomicFile.copyContents(of: path, into: temporary, target: path)
            let file = try HDF5File.open(temporary, mode: .readWrite, clearStatusFlags: true)
            do {
                try file.raiseAllocationToFileSize()
                try body(file)
                try file.close()
            } catch {
                file.release()
                throw error
            }
            AtomicFile.setOwner(temporary, owner: original.owner, group: original.group)
            try AtomicFile.commit(temporary, to: path, replace: true)
        } catch {
            AtomicFile.discard(temporary)
            throw TrajectoryWriter.naming(Self.namingTemporary(failed(error), temporary: temporary, path: path), path: path)
        }
    }

    /// `error` naming `path` instead of the temporary copy it was raised on.
    private static func namingTemporary(_ error: Error, temporary: String, path: String) -> Error {
        guard var e = error as? HDF5Error, e.file == temporary else { return error }
        e.file = path
        e.message = e.message.replacingOccurrences(of: temporary, with: path)
        return e
    }

    /// Removes the interrupt state from the recording at `path` (and sets `/run@config` to
    /// `runConfig` when given) in one crash-safe copy (`rewriteByCopy`); the caller holds no
    /// lock (it is taken here). A resume calls this before it continues, after reading the state.
    public static func removeWarmStart(path: String, runConfig: String? = nil) throws {
        let lock = try WriterLock(path: path)
        defer { lock.release() }
        try rewriteByCopy(path: path, object: Layout.resumeGroup) { file in
            try removeWarmStartObjects(file)
            if let json = runConfig { try file.group(Layout.run).setAttribute("config", json) }
        }
    }
}

extension TrajectoryReader {
    /// Whether the file holds (any part of) the interrupt state `/resume`, `/warm_start`.
    public var hasWarmStart: Bool { TrajectoryWriter.hasWarmStartObjects(file) }

    /// The interrupt state (`EigensolverWarmStart`), nil when the file has none. Throws
    /// `TrajectoryError` naming the object when it is there but malformed: rows outside k...n,
    /// columns ≠ n, non-finite values, a `step` or `rng_state` of the wrong type or shape.
    public func eigensolverWarmStart() throws -> EigensolverWarmStart? {
        guard file.kind(of: Layout.resumeGroup) != nil || file.kind(of: Layout.warmStartBlock) != nil else { return nil }
        func bad(_ object: String, _ message: String) -> TrajectoryError {
            TrajectoryError(.invalidData, file: path, object: object, message)
        }
        guard file.kind(of: Layout.resumeGroup) == .group, let group = try? file.group(Layout.resumeGroup) else {
            throw bad(Layout.resumeGroup, "expected a group")
        }
        guard group.hasAttribute("step"), let step = try? group.scalarAttribute("step", as: Int64.self) else {
            throw bad(Layout.resumeGroup + "@step", "missing or not an int64 scalar")
        }
        guard group.hasAttribute("rng_state"), let words = try? group.attribute("rng_state", as: Int64.self),
              words.count == 6 else {
            throw bad(Layout.resumeGroup + "@rng_state", "missing or not 6 int64 values")
        }
        guard file.kind(of: Layout.warmStartBlock) == .dataset, let ds = try? file.dataset(Layout.warmStartBlock) else {
            throw bad(Layout.warmStartBlock, "missing dataset")
        }
        defer { ds.close() }
        try ds.checkExtent()
        let shape = try ds.shape()
        let n = metadata.n, k = metadata.k
        guard shape.count == 2, shape[1] == n, shape[0] >= k, shape[0] <= n else {
            throw bad(Layout.warmStartBlock, "has shape \(shape), expected [b, n] with k = \(k) ≤ b ≤ n = \(n)")
        }
        let values = try ds.read(Double.self)
        guard values.count == shape[0] * shape[1] else { throw bad(Layout.warmStartBlock, "unreadable values") }
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw bad(Layout.warmStartBlock, "non-finite value at row \(i / n), column \(i % n)")
        }
        return EigensolverWarmStart(step: step, rows: shape[0], cols: n, block: values,
                                    rngState: words.map { UInt64(bitPattern: $0) })
    }
}
