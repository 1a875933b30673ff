import ArgumentParser

@main
struct EOSTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eostrace",
        abstract: "Record and analyze gradient-descent trajectories at the Edge of Stability.")
}
