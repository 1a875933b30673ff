import ArgumentParser
import EOSCommandLine
import EOSSystem
import EOSTestSupport
import Foundation
import TrajectoryFormat

/// Test writer: `eostrace-dev synthetic-writer FILE --steps N --delay-ms M`.
///
/// Writes a `SyntheticRecording` (deterministic data, no network behind it) with the real
/// `TrajectoryWriter` (SWMR, batched), so that `follow`, the soak script and the robustness tests
/// have a live writer to watch and to kill. After every flush it prints `flushed STEP ROWS` on
/// stdout (flushed immediately): a process that kills the writer knows that the file must hold
/// at least ROWS steps. `--resume` reopens FILE (`TrajectoryWriter.resume`) and continues after its
/// last readable step, writing exactly the rows an uninterrupted run would have written.
struct SyntheticWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic-writer",
        abstract: "Write a synthetic recording slowly (test helper for follow/soak).")

    @Argument(help: "Output file.") var file: String
    @Option(help: "Total steps of the run.") var steps: Int = 100
    @Option(name: .customLong("delay-ms"), help: "Sleep after each step (milliseconds).") var delayMs: Int = 0
    @Option(name: .customLong("flush-every"), help: "Steps per batch (write + flush).") var flushEvery: Int = 10
    @Option(help: "Samples n (≥ 32).") var n: Int = 32
    @Option(help: "Eigenpairs per step k.") var k: Int = 2
    @Option(help: "Learning rate η.") var lr: Double = 0.01
    @Option(help: "Seed of the synthetic data.") var seed: UInt64 = 1
    @Option(help: "Final status written on success (completed, diverged, interrupted).") var status: String = "completed"
    @Option(name: .customLong("checkpoint-every"), help: "Also record parameter checkpoints (p = 16) every this many steps (0: none).")
    var checkpointEvery: Int = 0
    @Flag(help: "Continue an existing FILE after its last readable step.") var resume = false
    @Flag(name: .customLong("no-swmr"), help: "Write without SWMR.") var noSWMR = false
    @Flag(help: "Replace FILE if it exists (never one another process is writing).") var force = false

    func run() throws {
        guard let final = RunStatus(rawValue: status) else {
            throw failure("\(file): --status: unknown status '\(status)'")
        }
        guard n >= 32, k >= 1, k <= n, steps >= 0, flushEvery >= 1 else {
            throw failure("\(file): bad sizes (need n ≥ 32, 1 ≤ k ≤ n, steps ≥ 0, flush-every ≥ 1)")
        }
        let p = checkpointEvery > 0 ? 16 : 0
        let syn = SyntheticRecording(n: n, k: k, d: 3, p: p, learningRate: lr, seed: seed)
        if !resume { try checkLiveOutput(file, force: force) }
        let writer: TrajectoryWriter = try reportingErrors {
            if resume {
                return try TrajectoryWriter.resume(path: file, truncatingAfter: nil, swmr: !noSWMR,
                                                   batchSteps: flushEvery, flushIntervalSeconds: nil)
            }
            var options = WriterOptions(checkpoints: p > 0, batchSteps: flushEvery, flushIntervalSeconds: nil,
                                        swmr: !noSWMR)
            options.outputs = true
            return try TrajectoryWriter(path: file, metadata: syn.metadata(cadences: p > 0 ? "{\"checkpoint\":\(checkpointEvery)}" : nil),
                                        X: .stored(values: syn.X, d: 3), Y: syn.Y, options: options)
        }
        let first = Int(writer.lastStep.map { $0 + 1 } ?? 0)
        printFlushed(writer)
        do {
            for s in first..<max(first, steps) {
                let step = Int64(s)
                if p > 0 && s % checkpointEvery == 0 {
                    try writer.appendCheckpoint(step: step, parameters: syn.parameters(step: step))
                }
                try writer.append(syn.row(step: step))
                if writer.stepCount % flushEvery == 0 {
                    try writer.flush()
                    printFlushed(writer)
                }
                StandardStreams.sleep(milliseconds: delayMs)
            }
            try writer.close(status: final)
        } catch {
            // Best effort: say in the file that the run stopped (may fail again, e.g. disk full).
            try? writer.close(status: .interrupted)
            throw failure(String(describing: error))
        }
        print("closed \(writer.lastStep ?? -1) \(writer.stepCount) \(final.rawValue)")
        StandardStreams.flushAll()
    }

    private func printFlushed(_ w: TrajectoryWriter) {
        print("flushed \(w.lastStep ?? -1) \(w.stepCount)")
        StandardStreams.flushAll()
    }
}
