import ArgumentParser
import EOSCommandLine
import Foundation

/// `eostrace record --sweep-lr η1,η2,… --output-dir DIR`: one child `eostrace record` process per
/// step size (the same binary, `/proc/self/exe`), at most `jobs` at once, each writing
/// DIR/lr-<η>.h5; per-run lines as runs finish, then a summary table. Fails (exit 1) when any run
/// fails.
struct Sweep {
    struct Run {
        var lr: Double
        var label: String
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

    /// The arguments of the parent `record` invocation without the sweep options and without the
    /// options every child sets itself (η, output, quiet).
    static func childArguments(_ args: [String]) -> [String] {
        let withValue: Set<String> = ["--sweep-lr", "--output-dir", "--jobs", "--lr", "--learning-rate", "-o", "--output"]
        let flags: Set<String> = ["--quiet", "-q", "--force"]
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if withValue.contains(name) { i += a.contains("=") ? 1 : 2; continue }
            if flags.contains(a) { i += 1; continue }
            out.append(a); i += 1
        }
        return out
    }

    static func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return CommandLine.arguments[0]
    }

    /// Runs the sweep; returns the runs with their outcomes.
    static func run(rates: [Double], outputDir: String, jobs: Int, baseArguments: [String], force: Bool,
                    quiet: Bool) throws -> [Run] {
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let runs = rates.map { Run(lr: $0, label: label($0), output: (outputDir as NSString).appendingPathComponent("lr-\(label($0)).h5")) }
        if !force, let existing = runs.first(where: { FileManager.default.fileExists(atPath: $0.output) }) {
            throw failure("\(existing.output): exists; pass --force to replace the sweep's files", code: CLIExit.invalid)
        }
        let exe = executablePath()
        let state = SweepState(runs)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: max(1, jobs))
        let start = Date()
        if !quiet {
            FileHandle.standardError.write(Data("sweep: \(runs.count) runs, \(max(1, jobs)) at a time, into \(outputDir)\n".utf8))
        }
        for i in runs.indices {
            slots.wait()
            let r = runs[i]
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["record"] + baseArguments + ["--lr", "\(r.lr)", "-o", r.output, "--quiet"] + (force ? ["--force"] : [])
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
                let (finished, total) = state.set(i, run)
                let line = String(format: "[%d/%d] lr %@: %@ after %.1fs (%.0fs elapsed)%@", finished, total, run.label,
                                  run.status, run.seconds, Date().timeIntervalSince(start),
                                  run.error.isEmpty ? "" : " — " + run.error)
                if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                slots.signal()
                group.leave()
            }
            do { try p.run() } catch {
                var run = r
                run.status = "failed"; run.exitCode = -1; run.error = "cannot start \(exe): \(error)"
                _ = state.set(i, run)
                outData.cancel(); errData.cancel()
                slots.signal(); group.leave()
            }
        }
        group.wait()
        return state.all
    }

    /// The summary table (η, 2/η, status, first crossing of 2/η, completed cycles, max Λ, seconds, file).
    static func table(_ runs: [Run]) -> String {
        var rows = [["lr", "2/lr", "status", "first_crossing", "cycles", "max_sharpness", "seconds", "file"]]
        for r in runs {
            rows.append([r.label, String(format: "%.6g", 2 / r.lr), r.status, r.firstCrossing, r.cycles, r.maxSharpness,
                         String(format: "%.1f", r.seconds), r.output])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, s in c == row.count - 1 ? s : s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
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
