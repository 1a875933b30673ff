import ArgumentParser
import EOSCommandLine
import EOSPhases
import Foundation
import TrajectoryFormat

/// `eostrace follow RUN`: watch a recording another process is writing.
///
/// Opens RUN as an SWMR reader, and every `--interval` seconds refreshes it and prints the new
/// steps: step, loss L, sharpness Λ, Λη/2 (≥ 1 means Λ ≥ 2/η) and the phase (I–IV).
///
/// Phases (docs/ANALYSIS.md §1), computed online, one step at a time (`EOSPhases.OnlinePhaseTracker`): a step with
/// Λ > 2/η opens a run above 2/η (phase II); inside the run a step is II when its Λ is a new
/// maximum of the run (strictly larger than every earlier one) and III otherwise; after the run,
/// phase IV lasts until the first step with L(t) ≤ L(p) (p = the peak so far) or until the next
/// run above 2/η; everything else is phase I. The offline analysis knows the whole run: a step
/// printed III here becomes II there when Λ later climbs above the peak again within the same run.
///
/// Ends when the run leaves "running": exit 0 when the writer stored a final status (completed,
/// diverged, interrupted); exit 1 when the file still says "running" but no live eostrace writer
/// holds it (the writer died: the run is interrupted, resume it with `record --resume`) or when
/// `--timeout` passes; exit 2 (one line on stderr) when RUN cannot be read as a recording.
struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Print the new steps of a recording as another process writes it.",
        discussion: """
            Columns: step, loss, sharpness Λ, Λη/2 (>1: above 2/η) and the phase by the paper's §3.1 rule (docs/ANALYSIS.md), \
            computed online (a step shown as III may become II in the offline analysis when Λ \
            later rises above the run's peak). Exit status: 0 when the run's stored status leaves \
            'running'; 1 when its writer died (status still 'running', no live writer) or on \
            --timeout; 2 when the file is not a readable recording.
            """)

    @Argument(help: ArgumentHelp("The recording (.h5) being written.", valueName: "recording")) var file: String
    @Option(help: "Seconds between polls.") var interval: Double = 0.5
    @Option(help: "Give up (exit 1) after this many seconds; 0: never.") var timeout: Double = 0
    @Flag(name: .shortAndLong, help: "Print only the final status line.") var quiet = false

    func validate() throws {
        guard interval > 0, interval.isFinite else { throw ValidationError("--interval must be positive") }
        guard timeout >= 0, timeout.isFinite else { throw ValidationError("--timeout must be ≥ 0") }
    }

    func run() throws {
        let start = Date()
        func timedOut() -> Bool { timeout > 0 && Date().timeIntervalSince(start) >= timeout }
        let reader = try openReader(timedOut: timedOut)
        defer { reader.close() }
        let eta = reader.metadata.learningRate
        var tracker = OnlinePhaseTracker(learningRate: eta)
        var shown = 0
        if !quiet {
            print("following \(file): η = \(eta), 2/η = \(2 / eta), n = \(reader.n), k = \(reader.k)")
            print(pad("step", 10) + " " + pad("loss", 23) + " " + pad("sharpness", 23) + " " + pad("Λη/2", 9) + "  phase")
            flushStandardOutput()
        }
        var idlePolls = 0
        while true {
            let report: StatusReport = try reportingErrors {
                try reader.refresh()
                // Status first: rows written before a final status are then always shown.
                let report = try reader.statusReport()
                let count = try reader.stepCount()
                while shown < count {
                    let r = shown..<min(count, shown + 4096)
                    let steps = try reader.steps(r)
                    let loss = try reader.read(Layout.Series.loss, range: r)
                    let lam = try reader.read(Layout.Series.sharpness, range: r)
                    for i in 0..<r.count {
                        let phase = tracker.next(step: steps[i], sharpness: lam[i], loss: loss[i])
                        if !quiet {
                            print(String(format: "%10lld %23.16e %23.16e %9.6f  %@", steps[i], loss[i], lam[i],
                                         lam[i] * eta / 2, phase.roman))
                        }
                    }
                    shown = r.upperBound
                    idlePolls = 0
                }
                flushStandardOutput()
                return report
            }
            if report.stored != .running {
                print("status: \(report.stored.rawValue) after \(shown) steps (\(tracker.cycleCount.text))")
                flushStandardOutput()
                return
            }
            if report.writerDied {
                // Give a writer that is just starting or finishing two polls to show itself.
                idlePolls += 1
                if idlePolls >= 2 {
                    print("status: \(report) after \(shown) steps")
                    flushStandardOutput()
                    throw failure("\(file): /run/status: still 'running' but no live writer holds the file "
                                  + "(writer died); \(shown) steps readable; " + resumeHint(reader.metadata.software),
                                  code: CLIExit.invalid)
                }
            }
            if timedOut() {
                throw failure("\(file): /run/status: still 'running' after \(timeout) s (--timeout); \(shown) steps shown",
                              code: CLIExit.invalid)
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Opens RUN as an SWMR reader. While a live eostrace writer holds a file that does not open
    /// yet (it is still creating its objects), retries every interval.
    private func openReader(timedOut: () -> Bool) throws -> TrajectoryReader {
        while true {
            do {
                return try TrajectoryReader(path: file, swmr: true)
            } catch {
                if TrajectoryWriter.isBeingWritten(path: file) && !timedOut() {
                    Thread.sleep(forTimeInterval: interval)
                    continue
                }
                throw failure(String(describing: error), code: CLIExit.unreadable)
            }
        }
    }
}

/// What to do with a run whose writer died: eostrace's own recordings resume with `record
/// --resume`; a file written by another program (the Python package's writer takes the same
/// live-writer lock) is continued by that program.
func resumeHint(_ software: String) -> String {
    software == "eostrace" ? "continue it with `eostrace record --resume`"
        : "written by \(software), which `eostrace record --resume` cannot continue: restart it from its own training loop"
}

/// Flushes stdout (lines must reach a pipe as they are printed).
func flushStandardOutput() { fflush(nil) }

/// Right-aligns `s` in `width` characters.
private func pad(_ s: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - s.count)) + s
}
