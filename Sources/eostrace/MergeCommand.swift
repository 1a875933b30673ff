import ArgumentParser
import EOSCommandLine
import EOSRecorder
import EOSRun
import Foundation
import TrajectoryFormat

/// `eostrace merge FOLDER -o sweep.h5`: one file over (run, step, …) for a sweep folder, made of
/// HDF5 virtual datasets that map the runs' files (relative paths; no copy).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Stitch a sweep folder's runs into one file over (run, step, ...) with HDF5 virtual datasets (no copy).",
        discussion: """
        Every /trajectory series the runs' files hold becomes one array over (run, its step axis, ...); runs
        shorter than the longest, and missing runs, read as NaN. The file also holds each run's id, status,
        length and swept values over (run), so that
          xarray.open_dataset("sweep.h5", group="trajectory", engine="h5netcdf")
        opens the whole sweep. Source paths are relative to the merged file's folder: move the folder (with
        the runs) as a whole. Merge again after runs finish or grow.
        """)

    @Argument(help: "The sweep folder (with sweep.json).")
    var folder: String

    @Option(name: .shortAndLong, help: "The merged file to write.")
    var output: String

    @Flag(help: "Replace the output if it exists.")
    var force = false

    /// Configuration keys that are real numbers (stored as float64 even when written as integers).
    static let realKeys: Set<String> = ["learning_rate", "init_scale", "eigen_tolerance", "divergence_loss",
                                        "data.lambda1", "data.chi", "data.gap", "data.decay"]

    static func swept(_ v: SweepValue) -> SweepFile.SweptValue {
        switch v {
        case .int(let i): return .int(i)
        case .uint(let u): return u <= UInt64(Int64.max) ? .int(Int64(u)) : .string(String(u))
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        default: return .string(v.canonical)
        }
    }

    func run() throws {
        try reportingErrors(code: CLIExit.invalid) {
            let m = try SweepManifest.load(folder: folder)
            if FileManager.default.fileExists(atPath: output) && !force {
                throw failure("\(output): exists; pass --force to replace it", code: CLIExit.invalid)
            }
            let runs = m.runs.map { r in
                SweepFile.Run(path: (folder as NSString).appendingPathComponent(r.file), id: r.id,
                              values: Dictionary(uniqueKeysWithValues: r.values.map { key, v -> (String, SweepFile.SweptValue) in
                                  (key, Self.realKeys.contains(key) && v.number != nil ? .double(v.number!) : Self.swept(v))
                              }))
            }
            for r in runs where isSameFile(r.path, output) {
                throw failure("\(output): -o names a run of the sweep (\(r.path)); choose another file", code: CLIExit.invalid)
            }
            let manifestText = String(decoding: try m.jsonData(), as: UTF8.self)
            let s = try SweepFile.write(path: output, runs: runs, keys: m.axes.map(\.key), manifest: manifestText,
                                        softwareVersion: RecordingSession.softwareVersion)
            var counts: [String: Int] = [:]
            for st in s.statuses { counts[st, default: 0] += 1 }
            print("output \(output)")
            print("runs \(s.runs) (" + counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ") + ")")
            print("series \(s.series.joined(separator: " "))")
            print("longest \(s.lengths.max() ?? 0) steps")
        }
    }
}
