import ArgumentParser
import EOSCommandLine
import EOSModels
import EOSRecorder
import EOSRun
import Foundation

/// `eostrace-dev bench-record N`: times N plain GD steps and N fully recorded steps of a run
/// (default preset fmnist-tanh), prints the per-step costs as `key value` lines and exits; then
/// the whole-run costs (plain, serial recorder, pipelined recorder). scripts/bench-record.sh reads
/// the lines; keep their keys. (Was `eostrace record --benchmark N`.)
struct BenchRecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-record",
        abstract: "Time N plain GD steps and N fully recorded steps, print per-step costs, and exit.")

    @Argument(help: "Steps timed (at least 2).")
    var steps: Int

    @Option(help: "Preset: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: String = Preset.fmnistTanh.rawValue

    @Option(help: "Run configuration file (JSON, or YAML when named .yaml/.yml) instead of the preset.")
    var config: String?

    func validate() throws {
        if Preset(rawValue: preset) == nil {
            throw ValidationError("unknown preset \"\(preset)\" (expected \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors(code: CLIExit.invalid) {
            let cfg = try config.map { try RunConfig.load(path: $0) } ?? Preset(rawValue: preset)!.config
            try cfg.validate(source: config ?? "preset \(preset)")
            let data = try cfg.data.load()
            let network = try Network(cfg.model)
            let evaluator = try ModelEvaluator(network: network, X: data.X, Y: data.Y)
            let theta0 = network.initialParameters(seed: cfg.initSeed, scale: cfg.initScale)
            let r = try Trainer.benchmark(config: cfg, evaluator: evaluator, theta: theta0, steps: max(steps, 2))
            print(String(format: "plain_step_seconds %.6f\nrecorded_step_seconds %.6f\nratio %.3f\nmean_eigensolver_iterations %.2f\nevaluate_with_gram_seconds %.6f\neigensolver_seconds %.6f\nproducts_seconds %.6f\nn %d\np %d\nk %d",
                         r.plain, r.recorded, r.recorded / r.plain, r.eigenIterations, r.evaluate, r.eigensolver, r.products, data.n, network.parameterCount, cfg.k))
            let w = try Trainer.benchmarkRuns(config: cfg, evaluator: evaluator, theta: theta0, steps: max(steps, 2))
            print(String(format: "plain_run_step_seconds %.6f\nserial_run_step_seconds %.6f\npipelined_run_step_seconds %.6f\npipelined_ratio %.3f",
                         w.plain, w.serial, w.pipelined, w.pipelined / w.plain))
        }
    }
}
