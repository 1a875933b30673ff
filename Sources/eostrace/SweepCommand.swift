import ArgumentParser
import EOSCommandLine
import EOSRecorder
import EOSRun
import EOSSystem
import Foundation

/// Runs the runs of a sweep folder on this machine: one child `eostrace sweep task DIR i` per
/// run (the same binary, `/proc/self/exe`), at most `jobs` at once; per-run lines as runs finish,
/// then a summary table. `eostrace sweep SPEC --local` and `eostrace record --sweep-lr` both end
/// here; a Slurm array task runs the same `sweep task` (SweepSlurm.swift).
struct Sweep {
    struct Run {
        var index: Int
        var label: String
        var lr: Double
        var output: String
        var status = "pending"
        var exitCode: Int32 = 0
        var firstCrossing = "-"
        var cycles = "-"
        var maxSharpness = "-"
        var seconds = 0.0
        var error = ""
    }

    /// Parses "0.02,0.05,0.1" (positive, finite, distinct).
    static func parseRates(_ s: String) throws -> [Double] {
        var out: [Double] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let t = part.trimmingCharacters(in: .whitespaces)
            guard let v = Double(t), v > 0, v.isFinite else {
                throw ValidationError("--sweep-lr: \"\(t)\" is not a positive step size (expected e.g. 0.02,0.05,0.1)")
            }
            guard !out.contains(v) else { throw ValidationError("--sweep-lr: \(t) appears twice") }
            out.append(v)
        }
        guard !out.isEmpty else { throw ValidationError("--sweep-lr: no step sizes") }
        return out
    }

    /// The label of η in file names: the shortest decimal that reads back to η.
    static func label(_ lr: Double) -> String {
        let short = String(format: "%g", lr)
        return Double(short) == lr ? short : "\(lr)"
    }

    static func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return CommandLine.arguments[0]
    }

    /// A run's label in progress lines: "lr 8" for --sweep-lr, else "<id> (key=value, ...)".
    static func label(of r: SweepManifest.Run) -> String {
        if r.file.hasPrefix("lr-"), case let v? = r.values["learning_rate"]?.number { return "lr " + label(v) }
        return r.id + (r.values.isEmpty ? "" : " (" + r.values.keys.sorted().map { "\($0)=\(r.values[$0]!)" }.joined(separator: ", ") + ")")
    }

    /// Runs `indices` of the sweep in `dir`; returns the runs with their outcomes.
    static func run(dir: String, manifest: SweepManifest, indices: [Int], jobs: Int, force: Bool, quiet: Bool) throws -> [Run] {
        let runs = indices.map { i -> Run in
            let m = manifest.runs[i]
            var lr = 0.0
            if let c = try? manifest.config(of: i) { lr = c.learningRate }
            return Run(index: i, label: label(of: m), lr: lr, output: (dir as NSString).appendingPathComponent(m.file))
        }
        let exe = executablePath()
        let state = SweepState(runs)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: max(1, jobs))
        let start = Date()
        if !quiet {
            FileHandle.standardError.write(Data("sweep: \(runs.count) runs, \(max(1, jobs)) at a time, into \(dir)\n".utf8))
        }
        for (slot, r) in runs.enumerated() {
            slots.wait()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["sweep", "task", dir, String(r.index), "--quiet"] + (force ? ["--force"] : [])
            let outPipe = Pipe(), errPipe = Pipe()
            p.standardOutput = outPipe; p.standardError = errPipe
            let t0 = Date()
            group.enter()
            // Read both pipes off the main thread so that a chatty child never blocks.
            let outData = PipeCollector(outPipe), errData = PipeCollector(errPipe)
            p.terminationHandler = { proc in
                let out = outData.finish(), err = errData.finish()
                var run = r
                run.exitCode = proc.terminationStatus
                run.seconds = Date().timeIntervalSince(t0)
                for line in out.split(separator: "\n") {
                    let f = line.split(separator: " ", maxSplits: 1).map(String.init)
                    guard f.count == 2 else { continue }
                    switch f[0] {
                    case "status": run.status = f[1]
                    case "eos_first_crossing": run.firstCrossing = f[1]
                    case "eos_cycles": run.cycles = f[1]
                    case "max_sharpness": run.maxSharpness = f[1].split(separator: " ").first.map(String.init) ?? "-"
                    default: break
                    }
                }
                if proc.terminationStatus != 0 {
                    if run.status == "pending" { run.status = "failed" }
                    run.error = err.split(separator: "\n").last.map(String.init) ?? "exit \(proc.terminationStatus)"
                }
                let (finished, total) = state.set(slot, run)
                let line = String(format: "[%d/%d] %@: %@ after %.1fs (%.0fs elapsed)%@", finished, total, run.label,
                                  run.status, run.seconds, Date().timeIntervalSince(start),
                                  run.error.isEmpty ? "" : " — " + run.error)
                if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                slots.signal()
                group.leave()
            }
            do { try p.run() } catch {
                var run = r
                run.status = "failed"; run.exitCode = -1; run.error = "cannot start \(exe): \(error)"
                _ = state.set(slot, run)
                outData.cancel(); errData.cancel()
                slots.signal(); group.leave()
            }
        }
        group.wait()
        return state.all
    }

    /// The summary table of `record --sweep-lr` (η, 2/η, status, first crossing of 2/η, completed
    /// cycles, max Λ, seconds, file).
    static func table(_ runs: [Run]) -> String {
        var rows = [["lr", "2/lr", "status", "first_crossing", "cycles", "max_sharpness", "seconds", "file"]]
        for r in runs {
            rows.append([label(r.lr), String(format: "%.6g", 2 / r.lr), r.status, r.firstCrossing, r.cycles, r.maxSharpness,
                         String(format: "%.1f", r.seconds), r.output])
        }
        return aligned(rows)
    }

    /// The summary table of `sweep --local` (index, run id, status, first crossing, cycles, max Λ,
    /// seconds, run).
    static func sweepTable(_ runs: [Run]) -> String {
        var rows = [["index", "status", "first_crossing", "cycles", "max_sharpness", "seconds", "run"]]
        for r in runs {
            rows.append([String(r.index), r.status, r.firstCrossing, r.cycles, r.maxSharpness, String(format: "%.1f", r.seconds), r.label])
        }
        return aligned(rows)
    }

    static func aligned(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, s in c == row.count - 1 ? s : s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Writes `<dir>/sweep.json` and `<dir>/configs/<id>.json` for `runs`. An existing manifest
    /// with other runs is replaced only with `force`.
    static func writeFolder(dir: String, manifest: SweepManifest, force: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/configs", withIntermediateDirectories: true)
        let path = (dir as NSString).appendingPathComponent(SweepManifest.fileName)
        if fm.fileExists(atPath: path), !force, let old = try? SweepManifest.load(folder: dir),
           old.runs.map({ [$0.id, $0.file] }) != manifest.runs.map({ [$0.id, $0.file] }) {
            throw failure("\(path): this folder holds another sweep (\(old.runs.count) runs of \(old.description)); choose another folder or pass --force", code: CLIExit.invalid)
        }
        for r in manifest.runs {
            try AtomicFile.write(Array((r.config.canonical + "\n").utf8), to: (dir as NSString).appendingPathComponent("configs/\(r.id).json"), replace: true)
        }
        try AtomicFile.write(Array(try manifest.jsonData()), to: path, replace: true)
    }
}

/// The runs of a sweep, updated from termination handlers.
final class SweepState: @unchecked Sendable {
    private let lock = NSLock()
    private var runs: [Sweep.Run]
    private var finished = 0
    init(_ runs: [Sweep.Run]) { self.runs = runs }
    /// Stores run `i`; returns (finished so far, total).
    func set(_ i: Int, _ r: Sweep.Run) -> (Int, Int) {
        lock.lock(); defer { lock.unlock() }
        runs[i] = r; finished += 1
        return (finished, runs.count)
    }
    var all: [Sweep.Run] { lock.lock(); defer { lock.unlock() }; return runs }
}

/// Collects everything written to a pipe on a background thread.
final class PipeCollector: @unchecked Sendable {
    private let handle: FileHandle
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        handle = pipe.fileHandleForReading
        DispatchQueue.global().async { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func finish() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }

    func cancel() { try? handle.close() }
}

extension Sweep {
    /// `record --sweep-lr η1,η2,… --output-dir DIR`: the same machinery as `eostrace sweep --local`
    /// with one swept key, learning_rate, on the record command's resolved configuration; the
    /// files keep their historical names DIR/lr-<η>.h5 (listed in DIR/sweep.json with their run ids).
    static func recordSweepLR(config: RunConfig, rates: [Double], outputDir: String, jobs: Int, force: Bool, quiet: Bool,
                              recordArguments: [String]) throws -> [Run] {
        let d = try SweepDescription(base: config, axes: [.init(key: "learning_rate", values: rates.map { .double($0) })],
                                     source: "record --sweep-lr")
        let runs = try d.expand()
        let manifest = try SweepManifest(description: d, runs: runs, softwareVersion: RecordingSession.softwareVersion,
                                         recordArguments: recordArguments) { "lr-" + label($0.config.learningRate) + ".h5" }
        if !force, let existing = manifest.runs.map({ (outputDir as NSString).appendingPathComponent($0.file) })
            .first(where: { FileManager.default.fileExists(atPath: $0) }) {
            throw failure("\(existing): exists; pass --force to replace the sweep's files", code: CLIExit.invalid)
        }
        try writeFolder(dir: outputDir, manifest: manifest, force: true)
        return try run(dir: outputDir, manifest: manifest, indices: Array(runs.indices), jobs: jobs, force: force, quiet: quiet)
    }
}
