import ArgumentParser
import EOSCommandLine
import Foundation
import TrajectoryFormat

/// `eostrace diff A B`: are two recordings identical (every dataset and attribute bit for bit,
/// volatile fields excepted)? Prints the first difference of each differing object.
/// Exit 0 identical, 1 different, 2 a file cannot be read.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two recordings bit for bit (volatile fields excepted).",
        discussion: """
            Two recordings are identical when they hold the same groups and datasets and every dataset and
            attribute has the same type, shape and value, bit for bit (floats by bit pattern). Volatile
            fields are skipped unless --include-volatile is given: the attributes created, history, host
            and hostname, and per-step wall-clock series (names ending in _seconds or _time_s, wall_time).
            Prints `A and B are identical`, or one line per differing object with its first difference
            (`/trajectory/loss: element 17: 0.5 vs 0.25 (3 of 301 elements differ)`).
            Exit status: 0 identical, 1 different, 2 a file cannot be read.
            """)

    @Argument(help: ArgumentHelp("The first recording.", valueName: "recording"))
    var a: String

    @Argument(help: ArgumentHelp("The second recording.", valueName: "other"))
    var b: String

    @Flag(help: "Compare the volatile fields too (creation time, history, host, wall-clock times).")
    var includeVolatile = false

    @Flag(name: .shortAndLong, help: "Print nothing; report only through the exit status.")
    var quiet = false

    func run() throws {
        let differences = try reportingErrors(code: CLIExit.unreadable) {
            try RecordingDiff(includeVolatile: includeVolatile).compare(a, b)
        }
        if differences.isEmpty {
            if !quiet { print("\(a) and \(b) are identical") }
            return
        }
        if !quiet {
            for d in differences { print(d) }
            print("\(a) and \(b) differ in \(differences.count) object\(differences.count == 1 ? "" : "s")")
        }
        throw ExitCode(CLIExit.invalid)
    }
}
