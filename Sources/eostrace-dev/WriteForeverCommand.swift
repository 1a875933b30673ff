import ArgumentParser
import EOSCommandLine
import EOSSystem
import EOSTestSupport
import Foundation
import TrajectoryFormat

/// `eostrace-dev write-forever FILE`: writes synthetic steps until killed (or --max-seconds), printing
/// `flushed <rows>` after each batch flush. Used by the kill test (CLITests).
struct WriteForeverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-forever", abstract: "Test helper: write synthetic steps until killed.")

    @Argument var file: String
    @Option var flushEvery = 10
    @Option var n = 32
    @Option var k = 2
    @Option(help: "Pause per step, milliseconds.") var sleepMs = 1
    @Option(help: "Stop by itself after this many seconds.") var maxSeconds = 60.0
    @Flag var noSwmr = false
    @Flag(help: "Replace FILE if it exists (never one another process is writing).") var force = false

    func run() throws {
        try checkLiveOutput(file, force: force)
        try reportingErrors {
            let syn = SyntheticRecording(n: max(32, n), k: max(1, k), d: 3, p: 0)
            let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                         options: WriterOptions(batchSteps: max(1, flushEvery), flushIntervalSeconds: nil,
                                                                swmr: !noSwmr))
            let start = Date()
            var s: Int64 = 0
            while Date().timeIntervalSince(start) < maxSeconds {
                try w.append(syn.row(step: s, optional: false))
                s += 1
                if w.stepCount % max(1, flushEvery) == 0 {
                    FileHandle.standardOutput.write(Data("flushed \(w.stepCount)\n".utf8))
                }
                StandardStreams.sleep(milliseconds: sleepMs)
            }
            try w.close(status: .interrupted)
        }
    }
}
