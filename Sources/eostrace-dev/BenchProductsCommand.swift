import ArgumentParser
import EOSCommandLine
import EOSRecorder
import EOSRun
import Foundation
import TrajectoryFormat

/// `eostrace-dev bench-products`: the cost of recording the M-products (format 1.1). Runs the
/// recorder (`Trainer.run` into a real file, serial, cadenced extras off) for `--steps` steps with
/// and without the products, `--rounds` times interleaved (the order alternates), and measures the
/// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID; with OpenBLAS on one thread all the work is
/// here) of each run: data loading and file creation are outside the measurement. Prints the
/// medians per recorded step and their ratio. scripts/bench-products.sh runs it.
struct BenchProductsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-products",
        abstract: "CPU time per recorded step with and without the M-products (interleaved runs, medians).")

    @Option(help: "Steps per run.")
    var steps = 40
    @Option(help: "Rounds (each: one run with and one without the products).")
    var rounds = 10
    @Option(help: "Preset: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: String = Preset.fmnistTanh.rawValue
    @Option(help: "Directory for the temporary recordings.")
    var dir: String = NSTemporaryDirectory()

    func validate() throws {
        if Preset(rawValue: preset) == nil { throw ValidationError("unknown preset \"\(preset)\"") }
        if steps < 1 || rounds < 1 { throw ValidationError("--steps and --rounds must be ≥ 1") }
    }

    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    func run() throws {
        try reportingErrors(code: CLIExit.invalid) {
            var base = Preset(rawValue: preset)!.config
            base.steps = steps
            base.spectrumEvery = 0; base.hessianEvery = 0; base.crossCheckEvery = 0
            var with: [Double] = [], without: [Double] = []
            let path = (dir as NSString).appendingPathComponent("eostrace-bench-products-\(getpid()).h5")
            // A scratch recording of its own (removed afterwards): never one that was already there.
            if FileManager.default.fileExists(atPath: path) {
                throw failure("\(path): exists; not replacing it (remove it or give another --dir)", code: CLIExit.invalid)
            }
            defer { try? FileManager.default.removeItem(atPath: path) }
            for round in 0..<rounds {
                for products in (round % 2 == 0 ? [true, false] : [false, true]) {
                    var c = base
                    c.products = products
                    try? FileManager.default.removeItem(atPath: path)
                    let s = try RecordingSession.start(config: c, path: path)
                    let t0 = Self.threadCPU()
                    let out = try s.trainer.run(sink: s.sink)
                    try s.sink.finish(outcome: out, tolerance: c.eigenTolerance)
                    let cpu = (Self.threadCPU() - t0) / Double(steps + 1)
                    if products { with.append(cpu) } else { without.append(cpu) }
                }
            }
            func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            let mw = median(with), mo = median(without)
            print(String(format: "rounds %d, steps per run %d (+ step 0), preset %@", rounds, steps, preset))
            print(String(format: "cpu_per_step_with_products_s %.6f", mw))
            print(String(format: "cpu_per_step_without_products_s %.6f", mo))
            print(String(format: "products_overhead_ratio %+.4f  (bound +0.05)", mw / mo - 1))
            print("raw_with_s " + with.map { String(format: "%.5f", $0) }.joined(separator: " "))
            print("raw_without_s " + without.map { String(format: "%.5f", $0) }.joined(separator: " "))
        }
    }
}
