import ArgumentParser
import EOSCommandLine
import EOSSystem

@main
struct EOSTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eostrace",
        abstract: "Record and analyze gradient-descent trajectories at the Edge of Stability.",
        version: "0.1.0",
        // One subcommand per file: Sources/eostrace/<Name>Command.swift, user commands only (the
        // developer tools are the separate executable eostrace-dev). Listed in the order of the
        // workflow: record, analyze, look, check.
        subcommands: [
            RecordCommand.self,
            AnalyzeCommand.self,
            ReportCommand.self,
            CompareCommand.self,
            FollowCommand.self,
            ValidateCommand.self,
            InfoCommand.self,
            DumpCommand.self,
            DiffCommand.self,
            SweepCommand.self,
            MergeCommand.self,
        ])

    static func main() {
        CrashGuard.install(arguments: CommandLine.arguments)
        // Past `ulimit -f` a write fails with EFBIG (reported in one line) instead of SIGXFSZ
        // killing the process without a word.
        StopRequest.ignoreFileSizeLimitSignal()
        CommandRunner.main(EOSTrace.self, arguments: Array(CommandLine.arguments.dropFirst()))
    }
}
