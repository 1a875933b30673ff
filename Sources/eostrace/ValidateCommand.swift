import ArgumentParser
import EOSCommandLine
import Foundation
import TrajectoryFormat

/// `eostrace validate FILE...`: checks recordings against the schema.
/// Exit 0 when every file is valid, 1 when one is invalid, 2 when one cannot be read at all.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check recordings against schemas/trajectory-v1.json.",
        discussion: """
            Prints one line per problem, `FILE: /object: problem`, and `FILE: ok` for a valid file.
            Exit status: 0 all valid, 1 some file invalid, 2 some file unreadable (missing, not HDF5,
            truncated, not an eostrace recording, newer major format version).
            """)

    @Argument(help: ArgumentHelp("The recordings to check.", valueName: "recording"))
    var files: [String]

    @Flag(name: .shortAndLong, help: "Print only problems.")
    var quiet = false

    func run() throws {
        var code = CLIExit.ok
        for file in files {
            do {
                let problems = try Validator().validate(path: file)
                if problems.isEmpty {
                    if !quiet { print("\(file): ok") }
                } else {
                    for p in problems { print("\(file): \(p)") }
                    code = max(code, CLIExit.invalid)
                }
            } catch {
                _ = failure(String(describing: error), code: CLIExit.unreadable)
                code = max(code, CLIExit.unreadable)
            }
        }
        if code != CLIExit.ok { throw ExitCode(code) }
    }
}
