import HDF5Kit

/// The interrupt state `/resume` (named check `warm_start` of the schema; written only when an
/// interrupted run's eigensolver iterates, see `EigensolverWarmStart`): the block has between k
/// and n rows, `/resume@step` is the file's last checkpoint step, and `/run/status` is
/// "interrupted" (a resume removes the state before it writes anything). Types, shapes, finite
/// values and unit rows are the schema's generic checks.
extension Run {
    mutating func checkWarmStart() {
        let path = Layout.warmStartBlock
        guard file.kind(of: Layout.resumeGroup) == .group else {
            if file.kind(of: path) == .dataset { problem(path, "present without the group \(Layout.resumeGroup)") }
            return
        }
        if file.kind(of: path) != .dataset { problem(path, "missing: \(Layout.resumeGroup) holds no warm-start block") }
        if let (_, shape) = plausible(path, rank: 2), let k = sizes["k"], let n = sizes["n"], !(k...max(k, n)).contains(shape[0]) {
            problem(path, "has \(shape[0]) rows, expected k = \(k) to n = \(n)")
        }
        if let st = try? file.dataset(Layout.status).readString(), st != RunStatus.interrupted.rawValue {
            problem(Layout.resumeGroup, "present in a run whose status is '\(st)' (only an interrupted run keeps its eigensolver state; a resume removes it)")
        }
        guard let group = try? file.group(Layout.resumeGroup), group.hasAttribute("step"),
              let step = try? group.scalarAttribute("step", as: Int64.self) else { return }  // type: checkAttributes
        let coord = Layout.path(Layout.Series.checkpointStep)
        let last: Int64? = {
            guard file.kind(of: coord) == .dataset, let ds = try? file.dataset(coord), let rows = try? ds.rowCount(),
                  rows > 0, ds.extentProblem() == nil else { return nil }
            return try? ds.readRows((rows - 1)..<rows, as: Int64.self).first
        }()
        if last != step {
            problem(Layout.resumeGroup + "@step", "is \(step), but the last checkpoint step is \(last.map(String.init) ?? "none")")
        }
    }
}
