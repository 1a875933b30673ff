import ArgumentParser

/// `eostrace-dev`: the developer tools (fuzzer, benchmarks, sample and test writers). Not part of
/// the product CLI `eostrace`, which holds user commands only. One subcommand per file:
/// Sources/eostrace-dev/<Name>Command.swift.
@main
struct EOSTraceDev: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eostrace-dev",
        abstract: "Developer tools of eostrace: fuzzer, benchmarks, sample and test writers.",
        version: "0.1.0",
        subcommands: [
            FuzzCommand.self,
            BenchWriteCommand.self,
            BenchRecordCommand.self,
            BenchProductsCommand.self,
            MakeSampleCommand.self,
            BLASCoreCommand.self,
            SyntheticWriterCommand.self,
            WriteForeverCommand.self,
        ])
}
