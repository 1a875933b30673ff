import Foundation

/// What a recording holds, as `eostrace info` shows it: metadata, status (with writer liveness),
/// series with their cadences and row counts, steps. Also run by the fuzzer's in-process checks
/// (`eostrace-dev fuzz`), so that both exercise the same reads.
public enum RecordingInfo {
    /// The facts as a JSON-ready dictionary (keys as printed by `info --json`). Reads that fail
    /// leave their key out (or give "unknown"/0) instead of throwing.
    public static func collect(_ r: TrajectoryReader) throws -> [String: Any] {
        let m = r.metadata
        var info: [String: Any] = [
            "file": r.path,
            "format_version": r.formatVersion,
            "software": m.software,
            "software_version": m.softwareVersion,
            "status": (try? r.statusReport().description) ?? "unknown",
            "learning_rate": m.learningRate,
            "n": m.n, "k": m.k, "p": m.p, "d": r.d,
            "loss": m.loss,
            "model": m.model,
            "opened_as_swmr_reader": r.isSWMRReader,
        ]
        if m.outputCount > 1 {   // format 2.0
            info["n_outputs"] = m.outputCount
            info["eigenvectors_stored"] = m.storedEigenvectorCount
        }
        if let c = m.created { info["created"] = c }
        if let c = m.cadences { info["cadences"] = c }
        if let s = m.seed { info["seed"] = s }
        if let s = m.dataSeed { info["data_seed"] = s }
        if let s = m.dataDescription { info["data_description"] = s }
        if let size = try? FileManager.default.attributesOfItem(atPath: r.path)[.size] as? Int { info["bytes"] = size }
        info["x_stored"] = (try? r.X()) != nil
        var series: [[String: Any]] = []
        for spec in TrajectorySchema.current.datasets where spec.group == "/trajectory" && r.has(spec.path) {
            guard let dim = spec.dims?.first else { continue }
            let rows = (try? r.count(of: spec.path)) ?? 0
            var entry: [String: Any] = ["name": spec.name, "cadence": dim, "rows": rows]
            if spec.coordinate == true, rows > 0, let steps = try? r.coordinateValues(of: spec.path) {
                entry["first_step"] = steps.first!
                entry["last_step"] = steps.last!
            }
            series.append(entry)
        }
        info["series"] = series
        let steps = (try? r.stepCount()) ?? 0
        info["steps"] = steps
        if steps > 0, let s = try? r.steps() {
            info["first_step"] = s.first!
            info["last_step"] = s.last!
        }
        return info
    }

    /// The human-readable lines of `info` (no trailing newline).
    public static func text(_ info: [String: Any]) -> String {
        func s(_ key: String) -> String { info[key].map { "\($0)" } ?? "-" }
        var lines: [String] = []
        lines.append("file:        \(s("file")) (\(s("bytes")) bytes)")
        let v = (info["format_version"] as? [Int])?.map(String.init).joined(separator: ".") ?? "?"
        lines.append("format:      eostrace-trajectory \(v), written by \(s("software")) \(s("software_version"))\(info["created"].map { " at \($0)" } ?? "")")
        lines.append("status:      \(s("status"))\((info["opened_as_swmr_reader"] as? Bool) == true ? " (opened as SWMR reader: live or killed writer)" : "")")
        let outputs = info["n_outputs"].map { ", c = \($0) outputs (top \(s("eigenvectors_stored")) eigenvectors stored)" } ?? ""
        lines.append("run:         eta = \(s("learning_rate")), n = \(s("n")), k = \(s("k")), p = \(s("p")), d = \(s("d")), loss = \(s("loss"))\(outputs)")
        lines.append("model:       \(s("model"))")
        if info["cadences"] != nil { lines.append("cadences:    \(s("cadences"))") }
        lines.append("steps:       \(s("steps"))\(info["first_step"].map { " (\($0) … \(s("last_step")))" } ?? "")")
        lines.append("series:")
        for e in info["series"] as? [[String: Any]] ?? [] {
            let name = (e["name"] as? String ?? "").padding(toLength: 24, withPad: " ", startingAt: 0)
            let range = e["first_step"].map { ", steps \($0) … \(e["last_step"]!)" } ?? ""
            lines.append("  \(name) \(e["rows"]!) rows on '\(e["cadence"]!)'\(range)")
        }
        return lines.joined(separator: "\n")
    }
}
