import ArgumentParser

@main
struct EOSTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eostrace",
        abstract: "Record and analyze gradient-descent trajectories at the Edge of Stability.",
        version: "0.1.0",
        // One subcommand per file: Sources/eostrace/<Name>Command.swift. Keep this list sorted.
        subcommands: [
            BenchWriteCommand.self,
            DumpCommand.self,
            FollowCommand.self,
            FuzzCommand.self,
            InfoCommand.self,
            RecordCommand.self,
            ValidateCommand.self,
            MakeSampleCommand.self,
            SyntheticWriterCommand.self,
            WriteForeverCommand.self,
            AnalyzeCommand.self,
            CompareCommand.self,
            ReportCommand.self,
        ])

    static func main() {
        CrashGuard.install(arguments: CommandLine.arguments)
        main(nil)
    }
}
