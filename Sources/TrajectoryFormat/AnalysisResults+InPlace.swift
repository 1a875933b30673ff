import EOSSystem
import HDF5Kit

extension AnalysisResults {
    /// Puts `/analysis` into the recording at `path` so that no moment of the write can lose the
    /// recording: a copy of the recording is made beside it (`.NAME.eostrace-tmp-XXXXXX`, same
    /// permission bits, and owner where allowed), `/analysis` is added to the copy, which is
    /// closed and fsynced, then renamed over the original and the directory fsynced. Until the
    /// rename the original is untouched (a kill leaves at most the temporary file, safe to
    /// delete); after it the recording holds the complete `/analysis`. The steps must equal
    /// `/trajectory/step`; an existing `/analysis` of the same length is replaced (analyzing twice
    /// gives the same contents), one of another length is an error. A symlink is followed (the
    /// file it names is replaced). Hard links to the recording keep the old version.
    ///
    /// While it works it holds the recording's `WriterLock`, so `eostrace record --resume` is
    /// refused meanwhile. Cost: one copy of the file (`copy_file_range`, a reflink on filesystems
    /// that have them) and two HDF5 opens of the copy (write, read-back).
    ///
    /// - Throws: `OutputFile.Failure(.refused)` for a recording being written (live eostrace
    ///   writer, HDF5 write lock or write marks), a read-only recording or directory;
    ///   `OutputFile.Failure(.failed)` when writing the copy fails; `TrajectoryError(.invalidData)`
    ///   when the steps differ from the recording's.
    public func writeInPlace(recording path: String) throws {
        try Self.checkInPlace(recording: path)
        let target = OutputFile.resolvedTarget(path)
        guard let original = AtomicFile.status(target) else {
            throw OutputFile.Failure(.refused, path: path, problem: "no such file")
        }
        let lock: WriterLock
        do {
            lock = try WriterLock(path: target)
        } catch let e as HDF5Error where e.kind == .fileLocked {
            throw OutputFile.Failure(.refused, path: path, problem: "is a recording that a live eostrace process is writing; not changing it")
        }
        defer { lock.release() }
        let temporary: String
        do {
            temporary = try AtomicFile.createTemporary(beside: target, mode: original.mode)
        } catch let e as AtomicFileError {
            throw OutputFile.Failure(.refused, path: path, problem: e.problem + (e.system.map { ": \($0.message)" } ?? ""))
        }
        do {
            try AtomicFile.copyContents(of: target, into: temporary, target: path)
            try addAnalysis(toFileAt: temporary)
            try verifyWritten(in: temporary, target: path)
            try AtomicFile.setMode(temporary, original.mode, target: path)
            AtomicFile.setOwner(temporary, owner: original.owner, group: original.group)
            // Another program may have opened the original for writing meanwhile (eostrace
            // writers are kept out by the lock we hold).
            if let live = OutputFile.liveWriterProblem(target, checkingWriterLock: false) {
                throw OutputFile.Failure(.refused, path: path, problem: live.replacingOccurrences(of: "not replacing it", with: "not changing it"))
            }
        } catch {
            AtomicFile.discard(temporary)
            throw OutputFile.renamed(error, from: temporary, to: path)
        }
        do {
            try AtomicFile.commit(temporary, to: target, replace: true)
        } catch let e as AtomicFileError {
            throw OutputFile.Failure(.failed, path: path, problem: e.problem + (e.system.map { ": \($0.message)" } ?? ""))
        }
    }

    /// The checks of `writeInPlace(recording:)` that need no analysis results, for commands to
    /// run before the work starts: the recording exists as a regular file, nothing is writing it,
    /// it and its directory are writable.
    ///
    /// - Throws: `OutputFile.Failure(.refused)`.
    public static func checkInPlace(recording path: String) throws {
        let target = OutputFile.resolvedTarget(path)
        guard let st = AtomicFile.status(target) else {
            throw OutputFile.Failure(.refused, path: path, problem: "no such file")
        }
        guard st.isRegularFile else {
            throw OutputFile.Failure(.refused, path: path, problem: "is not a regular file; --in-place needs a recording file")
        }
        if let live = OutputFile.liveWriterProblem(target) {
            throw OutputFile.Failure(.refused, path: path, problem: live.replacingOccurrences(of: "not replacing it", with: "not changing it"))
        }
        if !AtomicFile.isWritable(target) || st.mode & 0o222 == 0 {  // root passes access(2) on 0444 files
            throw OutputFile.Failure(.refused, path: path, problem: "is read-only; not changing it (make it writable, or write the analysis with --out FILE)")
        }
        let dir = AtomicFile.directory(of: target)
        if !AtomicFile.isWritable(dir) {
            throw OutputFile.Failure(.refused, path: path,
                                     problem: "the directory \(dir) is not writable: --in-place writes the new recording beside it and renames it (use --out FILE)")
        }
    }

    /// Reads `/analysis` back from the finished file `path` (a fresh open) and checks it holds
    /// exactly these results, bit for bit. libhdf5 1.10.8 can drop a failed raw-data `pwrite`
    /// (ENOSPC) without reporting it: H5Dwrite, H5Fflush and H5Fclose all succeed and the
    /// dataset keeps its old bytes. The read-back sees what reached the file.
    ///
    /// - Throws: `OutputFile.Failure(.failed)` naming `target` when the contents differ.
    func verifyWritten(in path: String, target: String) throws {
        let back: AnalysisResults
        do {
            back = try AnalysisResults.read(path: path)
        } catch {
            throw OutputFile.Failure(.failed, path: target, problem: "the new file does not read back (a write was lost): \(OutputFile.renamed(error, from: path, to: target))")
        }
        guard back.hasSameBits(as: self) else {
            throw OutputFile.Failure(.failed, path: target, problem: "the new file does not hold what was written (a write was lost; disk full?)")
        }
    }

    /// Equality with every float compared by bit pattern (NaN equals NaN).
    func hasSameBits(as other: AnalysisResults) -> Bool {
        func bits(_ a: [Double]) -> [UInt64] { a.map(\.bitPattern) }
        return steps == other.steps && phase == other.phase && anomaly == other.anomaly
            && bits(c1) == bits(other.c1) && bits(rNormSq) == bits(other.rNormSq) && bits(rPrimeError) == bits(other.rPrimeError)
            && longNames == other.longNames && options == other.options && summary == other.summary
            && sourceFile == other.sourceFile && softwareVersion == other.softwareVersion
    }
}
