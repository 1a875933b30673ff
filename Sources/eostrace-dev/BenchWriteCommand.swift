import ArgumentParser
import EOSCommandLine
import EOSTestSupport
import Foundation
import TrajectoryFormat

/// `eostrace-dev bench-write --out DIR`: times the TrajectoryWriter on a realistic recording and
/// prints {"seconds":…, "bytes":…, …}. scripts/bench-write.py compares it with h5py and a raw
/// file; keep the options and the two keys stable.
struct BenchWriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-write",
        abstract: "Time writing a realistic recording; prints JSON {\"seconds\":…, \"bytes\":…}.",
        discussion: """
            Writes DIR/eostrace-bench.h5: every step has residual [n], eigenvalues [k], eigenvectors
            [k, n] and the scalar series; a checkpoint of --params values every --checkpoint-every
            steps. Rows come from a small precomputed pool so that only writing is timed (file
            creation to close, flushes included).
            """)

    @Option(help: "Directory for the file.")
    var out: String

    @Option(help: "Samples n (≥ 32).")
    var n = 1000

    @Option(help: "Eigenpairs per step k.")
    var k = 8

    @Option(help: "Recorded steps.")
    var steps = 5000

    @Option(help: "Parameters p per checkpoint (0: no checkpoints).")
    var params = 200_000

    @Option(help: "Steps between checkpoints (0: none).")
    var checkpointEvery = 10

    @Option(help: "Steps per batch (default: automatic, ~1 MiB chunks).")
    var batch: Int?

    @Option(help: "Deflate level 1-9 (default: no compression).")
    var compression: Int?

    @Flag(help: "Write without SWMR.")
    var noSwmr = false

    @Flag(help: "Delete the file after measuring.")
    var remove = false

    @Flag(help: "Replace DIR/eostrace-bench.h5 if it exists (it is written beside it and renamed into place when complete).")
    var force = false

    func validate() throws {
        guard n >= 32 else { throw ValidationError("--n must be at least 32") }
        guard k >= 1, k <= n else { throw ValidationError("--k must be in 1...n") }
        guard steps >= 1 else { throw ValidationError("--steps must be positive") }
        guard params >= 0, checkpointEvery >= 0 else { throw ValidationError("--params and --checkpoint-every must be ≥ 0") }
        if let c = compression, !(1...9).contains(c) { throw ValidationError("--compression must be 1...9") }
    }

    func run() throws {
        try reportingErrors {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let path = URL(fileURLWithPath: out).appendingPathComponent("eostrace-bench.h5").path
            let checkpoints = params > 0 && checkpointEvery > 0
            let syn = SyntheticRecording(n: n, k: k, d: 4, p: checkpoints ? params : 0, learningRate: 0.01, seed: 3)
            let pool = (0..<4).map { syn.row(step: Int64($0 * 37), optional: false) }
            let thetas = checkpoints ? (0..<2).map { syn.parameters(step: Int64($0)) } : []
            let options = WriterOptions(checkpoints: checkpoints, batchSteps: batch, compression: compression,
                                        swmr: !noSwmr)
            var seconds = 0.0, bytes = 0, batchSteps = 0
            try writeOutput(path, force: force) { temporary in
                let start = DispatchTime.now().uptimeNanoseconds
                let w = try TrajectoryWriter(path: temporary, metadata: syn.metadata(), X: .stored(values: syn.X, d: 4),
                                             Y: syn.Y, options: options)
                for s in 0..<steps {
                    var row = pool[s % pool.count]
                    row.step = Int64(s)
                    try w.append(row)
                    if checkpoints && s % checkpointEvery == 0 {
                        try w.appendCheckpoint(step: Int64(s), parameters: thetas[(s / checkpointEvery) % 2])
                    }
                }
                try w.close(status: .completed)
                seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                bytes = (try FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int) ?? 0
                batchSteps = w.batchSteps
            }
            let payload = steps * (8 * (n + k + k * n + 5)) + (checkpoints ? ((steps + checkpointEvery - 1) / checkpointEvery) * (8 * params + 8) : 0)
            if remove { try? FileManager.default.removeItem(atPath: path) }
            let mbps = Double(payload) / 1e6 / seconds
            print("{\"seconds\":\(seconds),\"bytes\":\(bytes),\"payload_bytes\":\(payload),\"mb_per_s\":\(mbps),"
                  + "\"steps\":\(steps),\"n\":\(n),\"k\":\(k),\"params\":\(params),\"checkpoint_every\":\(checkpointEvery),"
                  + "\"batch_steps\":\(batchSteps),\"swmr\":\(!noSwmr),\"compression\":\(compression.map(String.init) ?? "null"),"
                  + "\"file\":\(jsonString(path))}")
        }
    }
}
