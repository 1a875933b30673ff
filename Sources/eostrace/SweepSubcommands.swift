import ArgumentParser
import EOSCommandLine
import EOSRecorder
import EOSRun
import EOSSystem
import Foundation
import TrajectoryFormat

/// `eostrace sweep`: expand a sweep description into a folder of runs (manifest, one config and
/// one file per run) and record them here (`--local`) or on Slurm (`--slurm`, a job array);
/// `sweep status` counts the runs by state; `sweep task` records one run (what every local child
/// and every Slurm array task runs).
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a sweep (step sizes × seeds × …): here, or as a Slurm job array; show its status.",
        discussion: """
        A sweep description (JSON or YAML) names a base configuration and lists of values:

          {"preset": "linear-synthetic", "steps": 400, "sweep": {"learning_rate": [4, 8], "seed": [0, 1, 2]}}

        It expands to the cartesian product of the lists (swept keys sorted by name, the last one varying \
        fastest). Each run gets a run id (the first 12 hex digits of the SHA-256 of its canonical resolved \
        configuration, data files by digest, software version not included) and the file <folder>/<id>.h5; \
        the folder also holds sweep.json (the manifest) and configs/<id>.json. See docs/SWEEPS.md.
        """,
        subcommands: [SweepRunCommand.self, SweepStatusCommand.self, SweepTaskCommand.self],
        defaultSubcommand: SweepRunCommand.self)
}

/// The state of one run of a sweep folder, from its file (liveness by the writer lock).
enum SweepRunState: String, CaseIterable {
    case completed, running, interrupted, diverged, missing, unreadable

    /// The state of the recording at `path` and its recorded steps.
    static func of(_ path: String) -> (state: SweepRunState, steps: Int, detail: String) {
        guard FileManager.default.fileExists(atPath: path) else { return (.missing, 0, "") }
        do {
            let r = try TrajectoryReader(path: path)
            defer { r.close() }
            let report = try r.statusReport()
            let steps = (try? r.stepCount()) ?? 0
            if report.writerAlive { return (.running, steps, "") }
            switch report.effective {
            case .completed: return (.completed, steps, "")
            case .diverged: return (.diverged, steps, "")
            case .running, .interrupted: return (.interrupted, steps, report.writerDied ? "writer died" : "")
            }
        } catch {
            return (.unreadable, 0, "\(error)")
        }
    }
}

struct SweepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Expand a sweep description into a folder and record its runs (--local) or write/submit a Slurm array (--slurm).")

    @Argument(help: "Sweep description (JSON, or YAML when named .yaml/.yml). Optional with --vary.")
    var description: String?

    @Option(name: .shortAndLong, help: "The sweep folder (manifest, configs, one file per run, logs).")
    var output: String

    @Option(help: "Base preset when no description is given (default fmnist-tanh).")
    var preset: String?

    @Option(help: "A swept key and its values, KEY=V1,V2,... (repeatable; e.g. --vary learning_rate=4,8 --vary seed=0,1,2).")
    var vary: [String] = []

    @Flag(help: "Record the runs on this machine, one process per core (see --jobs).")
    var local = false
    @Option(help: "--local: runs at once (default: number of active processors).")
    var jobs: Int?

    @Flag(help: "Write <folder>/sweep.sbatch, a Slurm job array whose task i records run i.")
    var slurm = false
    @Flag(help: "--slurm: submit the array with sbatch (only the runs not completed yet).")
    var submit = false
    @Option(help: "--slurm: at most this many array tasks at once (--array=...%N).")
    var throttle: Int?
    @Option(help: "--slurm: an extra #SBATCH line, e.g. --sbatch=--partition=debug (repeatable).")
    var sbatch: [String] = []

    @Option(help: "Steps per write batch of every run (record --batch-steps; smaller: a live run shows its steps sooner).")
    var batchSteps: Int?
    @Option(help: "Deflate level 1-9 of every run's per-sample series (record --compression).")
    var compression: Int?

    @Flag(help: "Replace a folder that holds another sweep, and record every run anew (existing files replaced).")
    var force = false
    @Flag(help: "No progress lines.")
    var quiet = false

    func validate() throws {
        if local && slurm { throw ValidationError("give --local or --slurm, not both") }
        if (submit || throttle != nil || !sbatch.isEmpty) && !slurm { throw ValidationError("--submit, --throttle and --sbatch apply to --slurm") }
        if jobs != nil && !local { throw ValidationError("--jobs applies to --local") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be ≥ 1") }
        if let throttle, throttle < 1 { throw ValidationError("--throttle must be ≥ 1") }
        if description == nil && vary.isEmpty { throw ValidationError("give a sweep description file or --vary KEY=V1,V2") }
        if let b = batchSteps, b < 1 { throw ValidationError("--batch-steps must be ≥ 1") }
        if let c = compression, !(1...9).contains(c) { throw ValidationError("--compression must be 1...9") }
        if description != nil && preset != nil { throw ValidationError("--preset applies without a description file (name the preset in the file)") }
    }

    /// The description: the file, with `--vary` axes added.
    func loadDescription() throws -> SweepDescription {
        var axes: [SweepDescription.Axis] = []
        for v in vary {
            guard let eq = v.firstIndex(of: "="), eq != v.startIndex else {
                throw ValidationError("--vary \(v): expected KEY=V1,V2,...")
            }
            let values = v[v.index(after: eq)...].split(separator: ",").map { SweepValue.parseFlagValue(String($0)) }
            axes.append(.init(key: String(v[..<eq]), values: values))
        }
        if let description {
            var d = try SweepDescription.load(path: description)
            if !axes.isEmpty { d = try SweepDescription(baseTree: d.base, axes: d.axes + axes, source: description) }
            return d
        }
        guard let p = Preset(rawValue: preset ?? Preset.fmnistTanh.rawValue) else {
            throw ValidationError("unknown preset \"\(preset!)\" (expected \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return try SweepDescription(base: p.config, axes: axes, source: "preset \(p.rawValue) with --vary")
    }

    func run() throws {
        try reportingErrors(code: CLIExit.invalid) {
            let d = try loadDescription()
            let runs = try d.expand()
            var extra: [String] = []
            if let batchSteps { extra += ["--batch-steps", String(batchSteps)] }
            if let compression { extra += ["--compression", String(compression)] }
            let manifest = try SweepManifest(description: d, runs: runs, softwareVersion: RecordingSession.softwareVersion,
                                             recordArguments: extra)
            try Sweep.writeFolder(dir: output, manifest: manifest, force: force)
            if !quiet {
                FileHandle.standardError.write(Data("sweep: \(runs.count) runs in \(output)/\(SweepManifest.fileName)\n".utf8))
            }
            if local {
                let stop = StopRequest.install()
                let results = try Sweep.run(dir: output, manifest: manifest, indices: Array(runs.indices),
                                            jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, force: force, quiet: quiet)
                print(Sweep.sweepTable(results))
                let failed = results.filter { $0.exitCode != 0 && $0.status != "interrupted" }
                if !failed.isEmpty {
                    throw failure("sweep: \(failed.count) of \(results.count) runs failed (index \(failed.map { String($0.index) }.joined(separator: ", ")))", code: CLIExit.invalid)
                }
                if results.contains(where: { $0.exitCode != 0 }) { throw ExitCode(stop.exitStatus) }
            } else if slurm {
                try SweepSlurm.writeAndMaybeSubmit(dir: output, manifest: manifest, throttle: throttle, extra: sbatch,
                                                   submit: submit, force: force)
            } else {
                for r in manifest.runs { print("\(r.index)  \(r.id)  \(Sweep.label(of: r))") }
            }
        }
    }
}

struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "How many runs of a sweep folder are completed, running, interrupted, diverged, missing.")

    @Argument(help: "The sweep folder (with sweep.json).")
    var folder: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let m = try SweepManifest.load(folder: folder)
            var rows: [[String: Any]] = []
            var counts: [SweepRunState: Int] = [:]
            for r in m.runs {
                let s = SweepRunState.of((folder as NSString).appendingPathComponent(r.file))
                counts[s.state, default: 0] += 1
                var row: [String: Any] = ["index": r.index, "id": r.id, "file": r.file, "status": s.state.rawValue, "steps": s.steps,
                                          "values": r.values.mapValues { $0.description }]
                if !s.detail.isEmpty { row["detail"] = s.detail }
                rows.append(row)
            }
            let summary = "\(m.runs.count) runs: " + SweepRunState.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
            if json {
                var out: [String: Any] = ["runs": rows, "total": m.runs.count]
                for s in SweepRunState.allCases { out[s.rawValue] = counts[s] ?? 0 }
                let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            var table = [["index", "id", "status", "steps", "values"]]
            for (r, row) in zip(m.runs, rows) {
                let detail = (row["detail"] as? String).map { " (\($0))" } ?? ""
                table.append([String(r.index), r.id, (row["status"] as! String) + detail, String(row["steps"] as! Int),
                              r.values.keys.sorted().map { "\($0)=\(r.values[$0]!)" }.joined(separator: " ")])
            }
            print(Sweep.aligned(table))
            print(summary)
        }
    }
}

/// `eostrace sweep task FOLDER INDEX`: records run INDEX of the folder's manifest with
/// `eostrace record` (in this process): a completed or diverged run is skipped, an interrupted
/// one (or one whose writer died) continues with `record --resume`, a missing or unreadable one
/// is recorded from `configs/<id>.json`. What a Slurm array task and a local child run.
struct SweepTaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Record one run of a sweep folder (skip if completed, resume if interrupted); what each Slurm array task runs.")

    @Argument(help: "The sweep folder (with sweep.json).")
    var folder: String

    @Argument(help: "Run index (the Slurm array task id, SLURM_ARRAY_TASK_ID).")
    var index: Int

    @Flag(help: "Record anew even when the run's file is completed.")
    var force = false
    @Flag(help: "No progress line.")
    var quiet = false

    func run() throws {
        let m = try reportingErrors { try SweepManifest.load(folder: folder) }
        guard m.runs.indices.contains(index) else {
            throw failure("\(folder)/\(SweepManifest.fileName): no run \(index) (the sweep has \(m.runs.count) runs, 0...\(m.runs.count - 1))", code: CLIExit.invalid)
        }
        let run = m.runs[index]
        let out = (folder as NSString).appendingPathComponent(run.file)
        let config = (folder as NSString).appendingPathComponent("configs/\(run.id).json")
        let state = SweepRunState.of(out)
        var args: [String]
        switch (state.state, force) {
        case (.completed, false), (.diverged, false):
            FileHandle.standardError.write(Data("sweep task \(index): run \(run.id) is already \(state.state.rawValue) (\(state.steps) steps); skipped\n".utf8))
            print("output \(out)")
            print("status \(state.state.rawValue)")
            return
        case (.running, _):
            throw failure("\(out): run \(run.id) is being recorded by another live process; wait for it or cancel it first", code: CLIExit.invalid)
        case (.interrupted, false):
            // --resume takes the file's own settings; options that fix the datasets are not repeated.
            args = ["-o", out, "--resume"] + Self.resumable(m.recordArguments)
        default:
            if !FileManager.default.fileExists(atPath: config) {
                try reportingErrors(code: CLIExit.invalid) {
                    try AtomicFile.write(Array((run.config.canonical + "\n").utf8), to: config, replace: true)
                }
            }
            args = ["--config", config, "-o", out] + m.recordArguments
            if state.state != .missing { args.append("--force") }
        }
        if quiet { args.append("--quiet") }
        FileHandle.standardError.write(Data("sweep task \(index): run \(run.id): eostrace record \(args.joined(separator: " "))\n".utf8))
        var record = try RecordCommand.parse(args)
        try record.validate()
        try record.run()
    }

    /// `record` options that may be repeated with --resume (drops --compression and its value).
    static func resumable(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            if args[i] == "--compression" { i += 2; continue }
            if args[i].hasPrefix("--compression=") { i += 1; continue }
            out.append(args[i]); i += 1
        }
        return out
    }
}
