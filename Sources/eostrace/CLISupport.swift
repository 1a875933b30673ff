import ArgumentParser
import EOSSystem
import Foundation

/// How every subcommand ends on bad input: one line on stderr naming the file, the object and the
/// problem, and a non-zero exit code. Subcommands call `failure(_:code:)` or wrap their body in
/// `reportingErrors(code:_:)`; nothing else prints errors.
enum CLIExit {
    /// Valid input, work done.
    static let ok: Int32 = 0
    /// The input was read but is invalid (validation problems, failed checks).
    static let invalid: Int32 = 1
    /// The input could not be read at all (not HDF5, missing, unreadable, newer major version).
    static let unreadable: Int32 = 2
}

/// Prints `eostrace: <message>` on stderr (one line; newlines folded) and returns the exit error.
func failure(_ message: String, code: Int32 = CLIExit.unreadable) -> ExitCode {
    let line = message.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("eostrace: \(line)\n".utf8))
    return ExitCode(code)
}

/// Runs `body`, turning any thrown error into one stderr line and exit code `code`.
/// `ExitCode` and argument-parser errors pass through unchanged.
func reportingErrors<T>(code: Int32 = CLIExit.unreadable, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CleanExit {
        throw error
    } catch {
        throw failure(String(describing: error), code: code)
    }
}

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
