import Foundation
import TrajectoryFormat

/// `compare` (and its HTML report) read a merged sweep file (`eostrace merge`) as the list of
/// its runs' recordings: each argument that is a sweep file is replaced by the run files it maps
/// (resolved against its folder, in run order); runs whose file is missing are left out with a
/// note on stderr. Other arguments pass through unchanged.
public enum SweepInputs {
    public static func expand(_ paths: [String], note: (String) -> Void = { _ in }) throws -> [String] {
        var out: [String] = []
        for p in paths {
            guard SweepFile.isSweepFile(p) else { out.append(p); continue }
            let runs = try SweepFile.runFiles(of: p)
            for r in runs {
                if FileManager.default.fileExists(atPath: r.path) { out.append(r.path) } else { note("\(p): run \(r.id) has no file (\(r.path)); left out") }
            }
        }
        return out
    }
}
