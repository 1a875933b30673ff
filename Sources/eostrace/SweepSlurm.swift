import ArgumentParser
import EOSCommandLine
import EOSRun
import EOSSystem
import Foundation

/// `eostrace sweep ... --slurm`: the sbatch job-array script of a sweep folder, and its submission.
///
/// `<folder>/sweep.sbatch` has `#SBATCH --array=0-(N-1)[%throttle]`, one log per task
/// (`<folder>/logs/task-<index>.<jobid>.log`) and runs `eostrace sweep task <folder>
/// $SLURM_ARRAY_TASK_ID` with `exec`, so that `scancel`'s SIGTERM reaches the recorder, which
/// stops after its step, marks the run interrupted and exits 143. `--submit` passes
/// `--array=<runs not completed>` on the sbatch command line; each task also skips a completed
/// run and resumes an interrupted one, so re-submitting the same folder finishes the sweep.
enum SweepSlurm {
    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    static func absolute(_ p: String) -> String {
        ((p.hasPrefix("/") ? p : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(p)) as NSString).standardizingPath
    }

    /// "0-5", or "1,3-4" for a subset; with "%T" when throttled.
    static func arraySpec(_ indices: [Int], throttle: Int?) -> String {
        var parts: [String] = []
        var i = 0
        while i < indices.count {
            var j = i
            while j + 1 < indices.count, indices[j + 1] == indices[j] + 1 { j += 1 }
            parts.append(i == j ? "\(indices[i])" : "\(indices[i])-\(indices[j])")
            i = j + 1
        }
        return parts.joined(separator: ",") + (throttle.map { "%\($0)" } ?? "")
    }

    static func script(dir: String, runs: Int, throttle: Int?, extra: [String]) -> String {
        let d = absolute(dir)
        return """
        #!/bin/bash
        # Written by `eostrace sweep --slurm`: array task i records run i of \(d)/sweep.json
        # (eostrace sweep task: completed runs are skipped, interrupted ones resumed), so this
        # array can be submitted again after a cancellation or a node failure.
        #SBATCH --job-name=eostrace-sweep
        #SBATCH --array=\(arraySpec(Array(0..<runs), throttle: throttle))
        #SBATCH --output=\(d)/logs/task-%a.%A.log
        #SBATCH --ntasks=1
        #SBATCH --cpus-per-task=1
        \(extra.map { "#SBATCH \($0)\n" }.joined())
        exec \(quoted(Sweep.executablePath())) sweep task \(quoted(d)) "$SLURM_ARRAY_TASK_ID"

        """
    }

    static func writeAndMaybeSubmit(dir: String, manifest: SweepManifest, throttle: Int?, extra: [String],
                                    submit: Bool, force: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        let path = (dir as NSString).appendingPathComponent("sweep.sbatch")
        try AtomicFile.write(Array(script(dir: dir, runs: manifest.runs.count, throttle: throttle, extra: extra).utf8), to: path, replace: true)
        print("script \(path)")
        guard submit else {
            print("submit with: sbatch \(path)")
            return
        }
        // Runs that still need work: not completed or diverged (all of them with --force), and not
        // being recorded right now by a task of an earlier array.
        var pending: [Int] = []
        var live: [Int] = []
        for r in manifest.runs {
            let s = SweepRunState.of((dir as NSString).appendingPathComponent(r.file)).state
            if s == .running { live.append(r.index); continue }
            if force || !(s == .completed || s == .diverged) { pending.append(r.index) }
        }
        if !live.isEmpty {
            FileHandle.standardError.write(Data("sweep: runs \(live.map(String.init).joined(separator: ",")) are being recorded now; not submitted again\n".utf8))
        }
        guard !pending.isEmpty else {
            print("nothing to submit: every run is completed or running")
            return
        }
        if force {
            // --force re-records: the tasks see no file.
            for i in pending {
                let f = (dir as NSString).appendingPathComponent(manifest.runs[i].file)
                if fm.fileExists(atPath: f) { try fm.removeItem(atPath: f) }
            }
        }
        let array = arraySpec(pending, throttle: throttle)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sbatch", "--parsable", "--array=\(array)", path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        do { try p.run() } catch {
            throw failure("sbatch: cannot start (\(error)); is Slurm installed here?", code: CLIExit.invalid)
        }
        let o = PipeCollector(out), e = PipeCollector(err)
        p.waitUntilExit()
        let stdout = o.finish().trimmingCharacters(in: .whitespacesAndNewlines)
        let stderr = e.finish().trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0 else {
            throw failure("sbatch \(path): exit \(p.terminationStatus): \(stderr.isEmpty ? stdout : stderr)", code: CLIExit.invalid)
        }
        let job = stdout.split(separator: ";").first.map(String.init) ?? stdout
        let jobs = (dir as NSString).appendingPathComponent("slurm-jobs.txt")
        let previous = fm.contents(atPath: jobs).map { String(decoding: $0, as: UTF8.self) } ?? ""
        try AtomicFile.write(Array((previous + "\(job) --array=\(array)\n").utf8), to: jobs, replace: true)
        print("submitted job \(job) --array=\(array)")
    }
}
