import ArgumentParser

@main
struct EOSTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eostrace",
        abstract: "Record and analyze gradient-descent trajectories at the Edge of Stability.",
        version: "0.1.0",
        // One subcommand per file: Sources/eostrace/<Name>Command.swift. Listed in the order of
        // the workflow (record, analyze, look, check); hidden helpers last.
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
            BenchWriteCommand.self,
            // hidden: test and fuzz helpers
            FuzzCommand.self,
            MakeSampleCommand.self,
            BLASCoreCommand.self,
            SyntheticWriterCommand.self,
            WriteForeverCommand.self,
        ])

    static func main() {
        CrashGuard.install(arguments: CommandLine.arguments)
        main(nil)
    }
}
