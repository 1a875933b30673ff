import ArgumentParser
import EOSCommandLine
import EOSSystem
import Foundation

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
