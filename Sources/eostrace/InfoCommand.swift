import ArgumentParser
import EOSCommandLine
import Foundation
import TrajectoryFormat

/// `eostrace info FILE [--json]`: what a recording holds (`TrajectoryFormat.RecordingInfo`).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show what a recording holds: metadata, status, series, cadences, sizes, steps.")

    @Argument(help: ArgumentHelp("The recording to describe.", valueName: "recording"))
    var file: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let r = try TrajectoryReader(path: file)
            defer { r.close() }
            let info = try RecordingInfo.collect(r)
            if json {
                let data = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(RecordingInfo.text(info))
            }
        }
    }
}
