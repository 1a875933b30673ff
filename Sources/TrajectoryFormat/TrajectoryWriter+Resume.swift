import EOSSystem
import HDF5Kit

extension TrajectoryWriter {
    /// Reopens an existing recording for appending after `step`: every series continues after its
    /// rows with step ≤ `step` (and, on each cadence, no more than its common length), the rows
    /// beyond being cut or (`overwriting`) overwritten, the status becomes "running", and SWMR writing starts when `swmr` is set and the file allows it (files
    /// created with `WriterOptions.swmr`). Which optional series exist is read from the file.
    ///
    /// To restart GD from the checkpoint taken at step c (θ(c), before step c's update): read
    /// θ(c) with a `TrajectoryReader` first, then `resume(path:truncatingAfter: c - 1)` (which also
    /// drops the checkpoint at c) and append step c, its checkpoint and what follows again.
    ///
    /// A file left marked open by a killed SWMR writer is accepted (its status flags are cleared,
    /// like `h5clear -s`): make sure no other process writes it.
    ///
    /// - Parameters:
    ///   - step: last step to keep; nil keeps everything (continue after the last common row).
    ///   - batchSteps, flushIntervalSeconds: as in `WriterOptions` (nil batch: automatic).
    ///   - checkpointsThrough: last checkpoint step to keep when it differs from `step` (a resume
    ///     from an interrupt checkpoint drops that row, which an uninterrupted run does not have).
    ///   - eigensolverCheckFirst: `/run@eigensolver_check` committed before the checkpoints are
    ///     cut (the totals of the checkpoint at `checkpointsThrough`, so that a kill in between
    ///     leaves a file naming a checkpoint it still has).
    ///   - overwriting: do not shrink anything; every series continues at the row after `step`
    ///     and overwrites the rows beyond with what is appended (see `Column`). Crash-safe at every
    ///     write when the appended rows are the same as the old ones (a deterministic
    ///     recomputation, as `record --resume` does). Otherwise (default) the series are cut back:
    ///     status first, then every cadence, the checkpoints last, each flushed.
    public static func resume(path: String, truncatingAfter step: Int64?, swmr: Bool = true,
                              batchSteps: Int? = nil, flushIntervalSeconds: Double? = 30,
                              checkpointsThrough: Int64? = nil, eigensolverCheckFirst: String? = nil,
                              overwriting: Bool = false, runConfig: String? = nil) throws -> TrajectoryWriter {
        // Read what is there with the reader (format/version checks, metadata).
        let reader = try TrajectoryReader(path: path)
        let metadata = reader.metadata
        let d = reader.d
        var options = WriterOptions(batchSteps: batchSteps, flushIntervalSeconds: flushIntervalSeconds, swmr: swmr)
        options.outputs = reader.has(Layout.Series.outputs)
        options.outputLayerSharpness = reader.has(Layout.Series.outputLayerSharpness)
        options.gradNorm = reader.has(Layout.Series.gradNorm)
        options.spectrum = reader.has(Layout.Series.spectrum)
        options.hessian = reader.has(Layout.Series.hessianSharpness)
        options.checkpoints = reader.has(Layout.Series.parameters)
        options.gram = reader.has(Layout.Series.gram)
        options.products = reader.has(Layout.Series.gramResidual) && reader.has(Layout.Series.rPrime)
            && reader.has(Layout.Series.rPrimeFromStart)
        options.solverCost = reader.has(Layout.Series.eigensolverIterations)
        var thresholdCapacity = 0
        if reader.has(Layout.Series.eigenvaluesAboveThreshold), let run = try? reader.file.group(Layout.run),
           let x = try? run.scalarAttribute("eigenvalue_threshold", as: Double.self) {
            options.eigenvalueThreshold = x
            let shape = try reader.file.dataset(Layout.path(Layout.Series.eigenvaluesAboveThreshold)).shape()
            thresholdCapacity = shape.count == 2 ? shape[1] : 0
            options.eigenvalueThresholdCapacity = thresholdCapacity
        }
        // Only a history reserved as eostrace writes it (fixed length) is extended in place.
        let oldHistory = (try? reader.file.root()).flatMap { root -> String? in
            guard root.hasAttribute("history"), let info = try? root.attributeInfo("history"),
                  info.type.typeClass == .string, !info.type.isVariableLengthString,
                  info.type.size == historyCapacity else { return nil }
            return try? root.stringAttribute("history")
        }
        reader.close()

        // Clearing the SWMR marks is only safe when no live writer has the file: take the
        // writer lock first (refused while another eostrace writer is alive).
        var lock = try WriterLock(path: path)
        if let json = runConfig, json != metadata.config {
            try replaceRunConfigByCopy(path: path, json: json)
            // The lock was on the replaced file: take it on the new one, then let the old go.
            let fresh = try WriterLock(path: path)
            lock.release()
            lock = fresh
        }
        // Reopen straight into SWMR writing. Opened plain read-write (as before issue 11), the
        // superblock said "open for writing" without the SWMR mark from the first write on, so a
        // kill before the switch to SWMR left a file that neither eostrace nor h5py could open
        // without h5clear. Files written without SWMR (earliest format bounds: a superblock
        // before version 3) cannot be reopened so and continue plain read-write (not crash-safe;
        // `WriterOptions.swmr` is the default). Decided from the superblock, not from a failed
        // open: that failure may be a full disk at the open's own superblock write, after which
        // a plain read-write resume would carry on without SWMR's write order.
        let swmrOpen = swmr && (OutputFile.superblockVersion(path) ?? 3) >= 3
        let file = try HDF5File.open(path, mode: swmrOpen ? .swmrWrite : .readWrite, clearStatusFlags: true)
        do {
            // The superblock's end of allocation can predate the killed writer's last chunks.
            try file.raiseAllocationToFileSize()
            let plan = LayoutPlan(n: metadata.n, k: metadata.k, d: d, p: metadata.p, c: metadata.outputCount,
                                  j: metadata.storedEigenvectorCount, options: options)
            let schema = TrajectorySchema.current
            // With `overwriting`, nothing is cut: every series continues at the row after `step`
            // and overwrites what a killed writer left beyond it with the same, recomputed values
            // (see `Column`), so a kill at any write of the resume leaves rows that are all true.
            // The commits, each flushed: 1. status "running" (nothing is cut before the file says
            // so); 2. (without `overwriting`) every cadence but the checkpoints cut back;
            // 3. `eigensolverCheckFirst` (the checkpoint a further resume starts from); 4. the
            // checkpoints cut back last. A row beyond the new end could only stay when the run
            // became shorter: `record --resume --steps` below the recorded steps is refused.
            let status = try file.dataset(Layout.status)
            try status.writeString(RunStatus.running.rawValue)
            try file.flush()
            // One history line for this command (files from before 1.1 have no reserved history: left as they are).
            if let old = oldHistory {
                try file.root().setFixedStringAttribute("history", appendingHistory(old, historyLine(metadata: metadata)),
                                                        capacity: historyCapacity)
                try file.flush()
            }
            var cadences: [String: Cadence] = [:]
            var cuts: [(dim: String, handles: [HDF5Dataset], rows: Int)] = []
            for dim in schema.dimensions {
                guard let coord = dim.coordinate, coord.hasPrefix(Layout.trajectory + "/"),
                      file.kind(of: coord) == .dataset else { continue }
                let members = [coord] + schema.series(onCadence: dim.name).map(\.path).filter {
                    $0 != coord && file.kind(of: $0) == .dataset
                }
                var handles: [String: HDF5Dataset] = [:]
                var common = Int.max
                for m in members {
                    let chunk = try file.dataset(m).chunkShape() ?? [1]
                    let h = try file.dataset(m, chunkCacheBytes: LayoutPlan.cacheBytes(chunk: chunk))
                    handles[m] = h
                    common = min(common, try h.rowCount())
                }
                let steps = try handles[coord]!.readRows(0..<common, as: Int64.self)
                var keep = common
                let last = dim.name == "checkpoint_step" ? checkpointsThrough ?? step : step
                if let last { keep = steps.firstIndex(where: { $0 > last }) ?? common }
                let isMain = dim.name == "step"
                let maxRows = isMain ? plan.batchSteps
                    : try members.dropFirst().map { try handles[$0]!.chunkShape()?.first ?? 1 }.min() ?? 1
                let cadence = Cadence(stepName: dim.name, existingRows: keep,
                                      lastStep: keep > 0 ? steps[keep - 1] : nil, maxBufferedRows: maxRows)
                var cut: [HDF5Dataset] = []
                for m in members {
                    let h = handles[m]!
                    if try !overwriting && h.rowCount() != keep { cut.append(h) }
                    let spec = schema.dataset(m)!
                    let rowSize = try h.shape().dropFirst().reduce(1, *)
                    cadence.columns[spec.name] = Column(dataset: h, rowSize: max(1, rowSize),
                                                        isInteger: spec.dtype == "int64", nextRow: keep)
                }
                if !cut.isEmpty { cuts.append((dim.name, cut, keep)) }
                cadences[dim.name] = cadence
            }
            guard let main = cadences.removeValue(forKey: "step") else {
                throw TrajectoryError(.missingObject, file: path, object: "/trajectory/step", "missing required dataset")
            }
            for cut in cuts where cut.dim != "checkpoint_step" {
                for h in cut.handles { try h.setRowCount(cut.rows) }
                try file.flush()
            }
            if let json = eigensolverCheckFirst {
                try file.group(Layout.run).setFixedStringAttribute(Layout.eigensolverCheck, json, capacity: eigensolverCheckCapacity)
                try file.flush()
            }
            for cut in cuts where cut.dim == "checkpoint_step" {
                for h in cut.handles { try h.setRowCount(cut.rows) }
                try file.flush()
            }
            return TrajectoryWriter(path: path, file: file, metadata: metadata, options: options, d: d,
                                    batchSteps: plan.batchSteps, status: status, main: main, side: cadences, lock: lock,
                                    thresholdCapacity: thresholdCapacity)
        } catch {
            try? file.close()
            throw error
        }
    }
}

extension TrajectoryWriter {
    /// Replaces `/run@config` (`record --resume --steps`) crash-safely: a copy of the recording
    /// beside it gets the new value and is renamed over it (`AtomicFile`), so a kill at any write
    /// leaves the old recording or the new one. Rewriting the attribute in the recording itself is
    /// not safe in libhdf5 1.10.8: measured with `strace -e inject=pwrite64:signal=SIGKILL:when=K`
    /// (scripts/crash-resume-steps-sweep.sh), delete-and-create and an in-place `H5Awrite` of the
    /// variable-length string both left, at 2 kill points, an object header naming a global heap
    /// collection that never reached the disk; a second attribute grew the /run header into a
    /// continuation chunk, and a kill there lost /run@learning_rate. Cost: one copy of the file,
    /// only when `--steps` changes. The caller holds the writer lock.
    static func replaceRunConfigByCopy(path: String, json: String) throws {
        try rewriteByCopy(path: path, object: "/run@config") { file in
            try file.group(Layout.run).setAttribute("config", json)
        }
    }
}

extension TrajectoryReader {
    /// `/run@eigensolver_check` (JSON text), nil when absent, empty (reserved, nothing committed
    /// yet) or not a string. A resume continues
    /// from the checkpoint step it names (`TrajectoryWriter.setEigensolverCheck(_:whenDurableThrough:)`).
    public func eigensolverCheckJSON() throws -> String? {
        let run = try file.group(Layout.run)
        guard run.hasAttribute(Layout.eigensolverCheck),
              let s = try? run.stringAttribute(Layout.eigensolverCheck), !s.isEmpty else { return nil }
        return s
    }
}
