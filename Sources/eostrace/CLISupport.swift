import ArgumentParser
import EOSCommandLine
import EOSSystem
import Foundation
import TrajectoryFormat

/// Progress lines for long work go to stderr, rewritten in place when stderr is a terminal.
struct ProgressLine {
    private let isTTY = StandardStreams.standardErrorIsTerminal
    private var lastPrint = Date.distantPast
    var minimumInterval: TimeInterval = 0.5

    mutating func update(_ text: @autoclosure () -> String, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastPrint) >= minimumInterval else { return }
        lastPrint = now
        let s = text()
        FileHandle.standardError.write(Data((isTTY ? "\r\u{1B}[K" + s : s + "\n").utf8))
    }

    func finish() {
        if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
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
