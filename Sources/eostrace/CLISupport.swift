import ArgumentParser
import EOSCommandLine
import EOSSystem
import Foundation
import TrajectoryFormat

/// Progress lines for long work go to stderr. On a terminal one line is rewritten in place
/// (at most every `minimumInterval` seconds); when stderr is a file or a pipe, a new line is
/// printed only at each further tenth of the work and at its end (≤ 11 lines per task).
struct ProgressLine {
    private let isTTY = StandardStreams.standardErrorIsTerminal
    private var lastPrint = Date.distantPast
    private var lastDecile = -1
    private let started = Date()
    var minimumInterval: TimeInterval = 0.5

    /// One update of work `done` of `total`: "<label> 120/300 steps (40%), 45.1 steps/s, ETA 4s"
    /// (`extra` after the count). The rate and ETA are measured from the first update.
    mutating func update(_ label: String, done: Int, total: Int, unit: String = "steps", extra: String = "") {
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(max(0, total - done)) / rate : .nan
        update(progressText(label, done: done, total: total, unit: unit, rate: rate, eta: eta, extra: extra),
               fraction: total > 0 ? Double(done) / Double(total) : 1, final: done >= total)
    }

    /// `text` at `fraction` of the work (see the type's rule for when it is printed).
    mutating func update(_ text: @autoclosure () -> String, fraction: Double, final: Bool) {
        let now = Date()
        if isTTY {
            guard final || now.timeIntervalSince(lastPrint) >= minimumInterval else { return }
        } else {
            let decile = final ? 10 : min(9, Int((fraction * 10).rounded(.down)))
            guard decile > lastDecile else { return }
            lastDecile = decile
        }
        lastPrint = now
        let s = text()
        FileHandle.standardError.write(Data((isTTY ? "\r\u{1B}[K" + s : s + "\n").utf8))
    }

    func finish() {
        if isTTY && lastPrint != .distantPast { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// "<label> 120/300 steps (40%), 45.1 steps/s, ETA 4s"; ETA as 4s, 3m05s or 1h02m.
func progressText(_ label: String, done: Int, total: Int, unit: String, rate: Double, eta: Double, extra: String = "") -> String {
    let percent = total > 0 ? 100 * done / total : 100
    let rateText = rate >= 100 ? String(format: "%.0f", rate) : String(format: "%.1f", rate)
    return "\(label) \(done)/\(total) \(unit) (\(percent)%)\(extra), \(rateText) \(unit)/s, ETA \(durationText(eta))"
}

func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
}

/// A step window `A:B`: steps A through B, both included; either end may be left out (`A:`,
/// `:B`). The one syntax of `analyze --steps`, `report --steps` and (for rows) `dump --rows`.
struct StepWindow: Equatable {
    var first: Int?
    var last: Int?

    init(first: Int?, last: Int?) { self.first = first; self.last = last }

    /// Parses "A:B", "A:", ":B" (integers, A ≤ B); nil when malformed.
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return nil }
        func value(_ s: String) -> Int?? { s.isEmpty ? .some(nil) : Int(s).map { .some($0) } }
        guard let a = value(parts[0]), let b = value(parts[1]) else { return nil }
        if let a, let b, a > b { return nil }
        if a == nil && b == nil { return nil }
        first = a; last = b
    }

    static func parse(_ text: String, option: String, unit: String = "step") throws -> StepWindow {
        guard let w = StepWindow(text) else {
            throw ValidationError("\(option): expected A:B (first and last \(unit), both included; A: or :B for an open end) with integers A ≤ B, got '\(text)'")
        }
        return w
    }
}

/// True when both paths name the same existing file (same device and inode: symlinks, hard links
/// and different spellings of one path all count).
func isSameFile(_ a: String, _ b: String) -> Bool { FileIdentity.isSameFile(a, b) }

/// Refuses, before any work starts, an output path that is one of the inputs: a command that was
/// asked to read a recording never replaces it.
func refuseOverwritingInputs(output: String?, option: String, inputs: [String]) throws {
    guard let output else { return }
    for input in inputs where isSameFile(output, input) {
        throw failure("\(output): \(option) names the input recording \(input); choose another file", code: CLIExit.invalid)
    }
}

/// Help text of `--force` in the commands that write finished outputs.
let forceHelp = ArgumentHelp(
    "Replace output files that exist (atomically: written beside them, then renamed). "
        + "A file another process is writing (a live recording) is never replaced.")

/// Checks every output file of a command against the output rule (`TrajectoryFormat.OutputFile`)
/// before any work starts: not one of the inputs, not given twice, and then the rule itself
/// (exists → --force, live → never, regular files only, writable directory). One stderr line and
/// exit 1 for the first that fails.
func checkOutputs(_ outputs: [(path: String?, option: String)], inputs: [String], force: Bool) throws {
    let given = outputs.compactMap { o in o.path.map { (path: $0, option: o.option) } }
    for o in given { try refuseOverwritingInputs(output: o.path, option: o.option, inputs: inputs) }
    for (i, a) in given.enumerated() {
        for b in given[(i + 1)...] where a.path == b.path || isSameFile(a.path, b.path) {
            throw failure("\(b.path): given to both \(a.option) and \(b.option); choose two files", code: CLIExit.invalid)
        }
    }
    try writingOutputs { for o in given { try OutputFile.check(o.path, force: force) } }
}

/// Runs `body`, turning an `OutputFile.Failure` into one stderr line: exit 1 when the output
/// rule refused the file, 2 when writing it failed (the existing file is untouched either way).
func writingOutputs<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as OutputFile.Failure {
        throw failure(e.description, code: e.kind == .refused ? CLIExit.invalid : CLIExit.unreadable)
    }
}
