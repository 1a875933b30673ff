import ArgumentParser
import EOSCommandLine
import EOSModels
import EOSPhases
import EOSNumerics
import EOSRecorder
import EOSRun
import EOSSystem
import Foundation
import TrajectoryFormat

/// `eostrace record`: full-batch GD with every step recorded.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Train with full-batch GD and record the trajectory (loss, residual, top-k eigenpairs of M, ...).",
        discussion: """
        The run is described by a preset (default fmnist-tanh), optionally a config file (JSON or YAML), and flags \
        (flags override the config, which overrides the preset; a config may hold only the keys it changes, \
        e.g. {"learning_rate": 0.04, "steps": 50}). --show-config prints the resulting configuration and \
        exits. The full configuration is stored in the recording (/run@config).

        Presets (η, GD steps, n, model):
        \(Preset.allCases.map { "  \($0.rawValue): \(RecordCommand.presetLine($0.config))" }.joined(separator: "\n"))

        SIGINT/SIGTERM stop after the current step, flush, mark the run \
        interrupted and exit 130 (SIGINT) or 143 (SIGTERM); --resume continues it from its last \
        checkpoint with the recording's own settings: flags that contradict the file are refused, \
        and only --steps may change (applied explicitly, stored in /run@config).
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("The recording to write (an HDF5 file); with --sweep-lr, the directory of the runs' files (lr-<η>.h5). Required (no default) unless --no-output or --show-config.", valueName: "file"))
    var output: String?

    @Option(help: "Preset: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")). Default: \(Preset.fmnistTanh.rawValue).")
    var preset: String?

    @Option(help: "Run configuration file: JSON, or YAML when named .yaml/.yml (keys as in /run@config; only the keys that change the preset are needed). Default: none.")
    var config: String?

    @Flag(help: "Print the fully resolved configuration (preset, then --config, then flags) as JSON and exit; usable as --config.")
    var showConfig = false

    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: ArgumentHelp("Step size η (positive). \(defaults { "\($0.learningRate)" })", valueName: "η"))
    var learningRate: Double?
    @Option(help: "Number of GD updates (steps 0...N are recorded). \(defaults { "\($0.steps)" })")
    var steps: Int?
    @Option(help: "Top-k eigenpairs of M recorded per step. \(defaults { "\($0.k)" })")
    var k: Int?
    @Option(help: "Full spectrum of M every S steps (0: never). \(defaults { "\($0.spectrumEvery)" })")
    var spectrumEvery: Int?
    @Option(help: "Hessian sharpness (Lanczos on exact HVPs) every H steps (0: never). \(defaults { "\($0.hessianEvery)" })")
    var hessianEvery: Int?
    @Option(help: "Parameter checkpoints every C steps (plus first and last). \(defaults { "\($0.checkpointEvery)" })")
    var checkpointEvery: Int?
    @Option(help: "Cross-check the iterative eigensolver against LAPACK every X steps (0: never). \(defaults { "\($0.crossCheckEvery)" })")
    var crossCheckEvery: Int?
    @Option(help: "Store the full Gram matrix every G steps (0: never). \(defaults { "\($0.gramEvery)" })")
    var gramEvery: Int?
    @Option(help: "Residual tolerance of the iterative eigensolver (‖Mv − λv‖ ≤ tol·‖M‖). \(defaults { "\($0.eigenTolerance)" })")
    var eigenTolerance: Double?
    @Flag(help: "Do not record the M-products (gram_residual, r_prime, r_prime_from_start) at every step (config key products: false).")
    var noProducts = false
    @Option(help: "Also record every eigenvalue of M above X per step (LAPACK; eigenvalues_above_threshold, at most min(n, 64) stored, and their count; config key eigenvalue_threshold). Default: off.")
    var eigenvalueThreshold: Double?
    @Option(name: .customLong("eigenvectors"), help: ArgumentHelp("Several outputs (c > 1; data.targets, or users' Y [n, c]): store the top J of the k eigenvectors per step, each n·c doubles (config key eigenvectors_stored; the eigenvalues keep all k). Default: 1 (v_1, what the analysis uses). One output: all k are stored.", valueName: "J"))
    var eigenvectors: Int?
    @Option(help: "Seed of the parameter initialization. \(defaults { "\($0.initSeed)" })")
    var seed: UInt64?
    @Option(help: "Seed of the data selection/generation. \(defaults { "\($0.data.seed.map { "\($0)" } ?? "none")" })")
    var dataSeed: UInt64?
    @Option(help: "Number of samples n. \(defaults { "\($0.data.n.map { "\($0)" } ?? "all")" })")
    var n: Int?
    @Option(help: "Initialization scale factor. \(defaults { "\($0.initScale)" })")
    var initScale: Double?
    @Option(help: "Hidden widths of the MLP, comma-separated (e.g. 200,200). \(defaults { RecordCommand.widthsText($0.model) })")
    var widths: String?
    @Option(help: "Activation of the MLP: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")). \(defaults { RecordCommand.activationText($0.model) })")
    var activation: String?

    @Option(help: "Fork: start from θ at STEP of the recording RUN (RUN@STEP; a checkpoint, or replayed from the one before and checked against the recorded residual). Its configuration is the base unless --preset/--config; /run@config records the source (file digest, run id, step). Default: none (θ(0) from --seed).")
    var from: String?

    @Flag(help: "Continue an interrupted recording at --output from its last checkpoint.")
    var resume = false
    @Flag(help: "Run without writing a file (prints the summary only).")
    var noOutput = false
    @Flag(name: .shortAndLong, help: "No progress line.")
    var quiet = false
    @Flag(help: "Replace --output if it exists (without it, an existing file is never touched).")
    var force = false
    @Option(help: "Store X in the recording when smaller than this many bytes (float64), else only its location and SHA-256 (default 67108864 = 64 MiB).")
    var storeDataBelow: Int?

    @Option(help: "Overlap the recording work of step t with step t+1 on a second thread: auto (when the load average leaves a core idle), on, off. Results are bit-identical.")
    var pipeline: String = "auto"
    @Option(help: "Deflate level 1-9 (with shuffle) for the per-sample series (default: none).")
    var compression: Int?
    @Option(help: "Steps per write batch and chunk of the per-step series (default: chunks of about 1 MiB).")
    var batchSteps: Int?

    @Option(help: "Sweep: record one run per step size (comma-separated, e.g. 0.02,0.05,0.1), each in its own process, into the directory -o DIR as lr-<η>.h5. Default: none (one run).")
    var sweepLr: String?
    /// The old spelling of `--sweep-lr … -o DIR` (hidden; scripts may use it).
    @Option(help: .hidden)
    var outputDir: String?
    @Option(help: "Sweep: runs at once (default: number of active processors).")
    var jobs: Int?

    /// "Default: 0.05 (every preset)" or "Default: from the preset (fmnist-tanh 0.05, …)".
    static func defaults(_ value: (RunConfig) -> String) -> String {
        let values = Preset.allCases.map { value($0.config) }
        if Set(values).count == 1 { return "Default: \(values[0]) (every preset)." }
        return "Default: from the preset (" + zip(Preset.allCases, values).map { "\($0.rawValue) \($1)" }.joined(separator: ", ") + ")."
    }

    static func widthsText(_ m: ModelDescription) -> String {
        if case let .mlp(_, w, _, _, _) = m { return w.map(String.init).joined(separator: ",") }
        return "-"
    }

    static func activationText(_ m: ModelDescription) -> String {
        if case let .mlp(_, _, a, _, _) = m { return a.rawValue }
        return "-"
    }

    /// One preset in a line of `record --help`.
    static func presetLine(_ c: RunConfig) -> String {
        let model: String
        switch c.model {
        case let .mlp(d, w, a, _, _): model = "\(([d] + w + [1]).map(String.init).joined(separator: "-")) \(a.rawValue)"
        case let .twoLayerLinear(d, m): model = "two-layer linear \(d)-\(m)-1"
        }
        return "η = \(c.learningRate), \(c.steps) steps, n = \(c.data.n.map(String.init) ?? "all"), \(model)"
    }

    /// The output directory of a sweep: -o DIR, or the old --output-dir DIR.
    var sweepDirectory: String? { outputDir ?? output }

    func validate() throws {
        if let preset, Preset(rawValue: preset) == nil {
            throw ValidationError("unknown preset \"\(preset)\" (expected \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let v = learningRate, !(v > 0 && v.isFinite) {
            throw ValidationError(v < 0 ? "--lr \(v): negative learning rate; η must be positive (e.g. --lr 0.05)"
                                        : "--lr \(v): the learning rate η must be positive and finite (e.g. --lr 0.05)")
        }
        if let j = eigenvectors, j < 1 { throw ValidationError("--eigenvectors \(j): must be ≥ 1 (and ≤ k)") }
        for (flag, value) in [("--steps", steps), ("--k", k), ("--n", n), ("--spectrum-every", spectrumEvery), ("--hessian-every", hessianEvery),
                              ("--checkpoint-every", checkpointEvery), ("--cross-check-every", crossCheckEvery), ("--gram-every", gramEvery)] {
            if let value, value < 0 { throw ValidationError("\(flag) \(value): must be ≥ 0") }
        }
        if let v = initScale, !(v > 0 && v.isFinite) { throw ValidationError("--init-scale \(v): must be positive and finite") }
        if showConfig {
            if resume || sweepLr != nil { throw ValidationError("--show-config prints one run's configuration: drop --resume and --sweep-lr") }
            return
        }
        if let sweepLr {
            _ = try Sweep.parseRates(sweepLr)
            guard sweepDirectory != nil else { throw ValidationError("--sweep-lr needs -o DIR (the directory of the runs' files)") }
            guard output == nil || outputDir == nil, !resume, !noOutput else {
                throw ValidationError("--sweep-lr cannot be combined with --resume or --no-output, nor -o with --output-dir (its old spelling)")
            }
            if let jobs, jobs < 1 { throw ValidationError("--jobs must be ≥ 1") }
        }
        guard ["auto", "on", "off"].contains(pipeline) else { throw ValidationError("--pipeline: expected auto, on or off") }
        if let c = compression, !(1...9).contains(c) { throw ValidationError("--compression must be 1...9") }
        if let b = batchSteps, b < 1 { throw ValidationError("--batch-steps must be ≥ 1") }
        if sweepLr != nil {
            return
        }
        if outputDir != nil || jobs != nil { throw ValidationError("--output-dir and --jobs apply to --sweep-lr only") }
        if output == nil && !noOutput { throw ValidationError("give -o/--output FILE (or --no-output)") }
        if resume && output == nil { throw ValidationError("--resume needs -o/--output FILE") }
        if resume && from != nil { throw ValidationError("--from starts a new run; --resume continues one (the file knows its source)") }
        if let output, !resume, !noOutput, !force, FileManager.default.fileExists(atPath: output) {
            throw failure("\(output): exists; pass --force to replace it, or --resume to continue it", code: CLIExit.invalid)
        }
        if let output, !noOutput {
            let dir = (output as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                throw failure("\(output): the directory \(dir) does not exist", code: CLIExit.invalid)
            }
        }
    }

    /// "file size: … per step, about … for the N steps to record" (uncompressed; the main
    /// cadence plus the cadenced series' share), printed before recording starts.
    static func sizeLine(writer w: TrajectoryWriter, config c: RunConfig, from first: Int) -> String {
        let rows = w.bytesPerRow
        let steps = max(0, c.steps - first + 1)
        func count(_ every: Int) -> Int { every > 0 ? steps / every + 1 : 0 }
        let perStep = rows["step"] ?? 0
        var total = perStep * steps
        total += (rows["spectrum_step"] ?? 0) * count(c.spectrumEvery)
        total += (rows["gram_step"] ?? 0) * count(c.gramEvery)
        total += (rows["hessian_step"] ?? 0) * count(c.hessianEvery)
        total += (rows["checkpoint_step"] ?? 0) * (count(c.checkpointEvery) + 1)
        func mb(_ b: Int) -> String { b >= 1 << 30 ? String(format: "%.2f GB", Double(b) / 1e9) : String(format: "%.3g MB", Double(b) / 1e6) }
        let m = w.metadata
        let what = m.outputCount > 1
            ? "n·c = \(m.n)·\(m.outputCount) = \(m.flatCount) outputs, \(m.storedEigenvectorCount) of k = \(m.k) eigenvectors stored"
            : "n = \(m.n), k = \(m.k) eigenvectors stored"
        return "file size: \(mb(perStep)) per step (\(what)), about \(mb(total)) for \(steps) steps with the cadenced series (uncompressed)"
    }

    /// Preset, then config file, then flags.
    func resolvedConfig() throws -> RunConfig {
        let fork = try from.map { try Fork.resolve($0) }
        let base = (preset == nil ? fork?.config : nil) ?? presetConfig
        var c = try config.map { try RunConfig.load(path: $0, base: base) } ?? base
        if let fork { c.from = fork.source }
        if let v = learningRate { c.learningRate = v }
        if let v = steps { c.steps = v }
        if let v = k { c.k = v }
        if let v = spectrumEvery { c.spectrumEvery = v }
        if let v = hessianEvery { c.hessianEvery = v }
        if let v = checkpointEvery { c.checkpointEvery = v }
        if let v = crossCheckEvery { c.crossCheckEvery = v }
        if let v = gramEvery { c.gramEvery = v }
        if let v = seed { c.initSeed = v }
        if let v = eigenTolerance { c.eigenTolerance = v }
        if let v = dataSeed { c.data.seed = v }
        if let v = n { c.data.n = v }
        if let v = initScale { c.initScale = v }
        if let v = storeDataBelow { c.storeDataBelow = v }
        if noProducts { c.products = false }
        if let v = eigenvalueThreshold { c.eigenvalueThreshold = v }
        if let v = eigenvectors { c.eigenvectorsStored = v }
        if widths != nil || activation != nil { c.model = try applyingModelFlags(to: c.model) }
        try c.validate(source: config ?? "preset \(preset ?? Preset.fmnistTanh.rawValue)")
        return c
    }

    /// `model` with --widths/--activation applied (MLP models only).
    func applyingModelFlags(to model: ModelDescription) throws -> ModelDescription {
        guard case let .mlp(d, w, act, bias, s) = model else {
            throw ValidationError("--widths/--activation apply to MLP models only")
        }
        var newW = w
        if let widths {
            let parts = widths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--widths: expected positive integers, e.g. 200,200") }
            newW = parts.map { $0! }
        }
        var newA = act
        if let activation {
            guard let a = Activation(rawValue: activation) else {
                throw ValidationError("--activation: unknown \"\(activation)\" (expected \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            newA = a
        }
        return .mlp(inputDim: d, widths: newW, activation: newA, bias: bias, outputScale: s)
    }

    private var presetConfig: RunConfig { Preset(rawValue: preset ?? Preset.fmnistTanh.rawValue)!.config }

    /// For `--resume`: the stored configuration with `--steps` applied; any other setting given
    /// (flag, `--preset`, `--config`) must agree with the recording, else one line names the flag,
    /// the file's value and the fix.
    func resumedConfig(stored s: RunConfig, file: String) throws -> RunConfig {
        func refuse(_ flag: String, _ given: String, _ stored: String) -> ExitCode {
            failure("\(file): /run@config: \(flag) \(given) contradicts the recording (\(stored)); drop \(flag): --resume continues with the file's settings (only --steps may change)", code: CLIExit.invalid)
        }
        func check<T: Equatable>(_ flag: String, _ given: T?, _ stored: T, _ key: String) throws {
            if let given, given != stored { throw refuse(flag, "\(given)", "\(key) = \(stored)") }
        }
        if let v = learningRate, v.bitPattern != s.learningRate.bitPattern { throw refuse("--lr", "\(v)", "learning_rate = \(s.learningRate)") }
        try check("--k", k, s.k, "k")
        try check("--spectrum-every", spectrumEvery, s.spectrumEvery, "spectrum_every")
        try check("--hessian-every", hessianEvery, s.hessianEvery, "hessian_every")
        try check("--checkpoint-every", checkpointEvery, s.checkpointEvery, "checkpoint_every")
        try check("--cross-check-every", crossCheckEvery, s.crossCheckEvery, "cross_check_every")
        try check("--gram-every", gramEvery, s.gramEvery, "gram_every")
        try check("--eigen-tolerance", eigenTolerance, s.eigenTolerance, "eigen_tolerance")
        try check("--seed", seed, s.initSeed, "init_seed")
        try check("--data-seed", dataSeed, s.data.seed ?? 0, "data.seed")
        try check("--n", n, s.data.n ?? 0, "data.n")
        try check("--init-scale", initScale, s.initScale, "init_scale")
        try check("--store-data-below", storeDataBelow, s.storeDataBelow ?? RunConfig.defaultStoreDataBelow, "store_data_below")
        if noProducts && s.recordsProducts { throw refuse("--no-products", "", "products = true") }
        if let v = eigenvalueThreshold, v.bitPattern != s.eigenvalueThreshold?.bitPattern {
            throw refuse("--eigenvalue-threshold", "\(v)", "eigenvalue_threshold = \(s.eigenvalueThreshold.map { "\($0)" } ?? "none")")
        }
        if compression != nil { throw refuse("--compression", "\(compression!)", "its datasets' filters are fixed") }
        if let v = eigenvectors, v != s.eigenvectorsStored ?? 1 {
            throw refuse("--eigenvectors", "\(v)", "eigenvectors_stored = \(s.eigenvectorsStored ?? 1)")
        }
        if widths != nil || activation != nil {
            let (flag, value) = widths.map { ("--widths", $0) } ?? ("--activation", activation ?? "")
            if (try? applyingModelFlags(to: s.model)) != s.model {
                throw refuse(flag, value, "model = \(s.model.jsonString())")
            }
        }
        func withoutSteps(_ c: RunConfig) -> RunConfig { var c = c; c.steps = s.steps; return c }
        if let path = config {
            let given = try RunConfig.load(path: path, base: presetConfig)
            if withoutSteps(given) != s {
                throw refuse("--config", path, "its settings differ from the file's /run@config")
            }
        }
        if let name = preset {
            // The preset's model must be the file's (its other settings may have been overridden).
            if Preset(rawValue: name)!.config.model != s.model {
                throw refuse("--preset", name, "model = \(s.model.jsonString())")
            }
        }
        var out = s
        if let steps { out.steps = steps }
        return out
    }

    func run() throws {
        try reportingErrors(code: CLIExit.invalid) {
            // --resume takes its settings from the file (checked against the flags there).
            let cfg = resume ? presetConfig : try resolvedConfig()
            if showConfig {
                var shown = cfg
                shown.storeDataBelow = shown.storeDataBelow ?? RunConfig.defaultStoreDataBelow
                print(shown.prettyJSON())
                return
            }
            if let sweepLr, let outputDir = sweepDirectory {
                let rates = try Sweep.parseRates(sweepLr)
                // The configuration is resolved once here; every run gets it with its own η.
                var extra = pipeline == "auto" ? [] : ["--pipeline", pipeline]
                if let compression { extra += ["--compression", String(compression)] }
                if let batchSteps { extra += ["--batch-steps", String(batchSteps)] }
                // Ctrl-C reaches the children (same process group): they stop after their current
                // step and mark their files interrupted; the parent waits for them and reports.
                let stop = StopRequest.install()
                let runs = try Sweep.recordSweepLR(config: cfg, rates: rates, outputDir: outputDir,
                                                   jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount,
                                                   force: force, quiet: quiet, recordArguments: extra)
                print(Sweep.table(runs))
                let failed = runs.filter { $0.exitCode != 0 && $0.status != "interrupted" }
                if !failed.isEmpty {
                    throw failure("sweep: \(failed.count) of \(runs.count) runs failed (lr \(failed.map(\.label).joined(separator: ", ")))", code: CLIExit.invalid)
                }
                if runs.contains(where: { $0.exitCode != 0 }) { throw ExitCode(stop.exitStatus) }
                return
            }
            let stop = StopRequest.install()
            let trainer: Trainer
            let base: TrajectorySink
            var writerSink: WriterSink?
            if resume, let output {
                let r = try RecordingSession.resume(path: output, batchSteps: batchSteps) { stored in
                    try resumedConfig(stored: stored, file: output)
                }
                trainer = r.trainer; base = r.sink; writerSink = r.sink
                if !quiet { FileHandle.standardError.write(Data("resuming \(output) from step \(trainer.step)\n".utf8)) }
            } else if let output, !noOutput {
                var opts = RecordingSession.defaultWriterOptions(config: cfg)
                opts.compression = compression
                opts.batchSteps = batchSteps
                let r = try RecordingSession.start(config: cfg, path: output, writerOptions: opts)
                trainer = r.trainer; base = r.sink; writerSink = r.sink
            } else {
                let setup = try RunSetup(config: cfg)
                trainer = try Trainer(config: cfg, evaluator: setup.evaluator, theta: try setup.startingParameters())
                base = MemorySink(keep: false)
            }
            if let w = writerSink?.writer, !quiet {
                FileHandle.standardError.write(Data((RecordCommand.sizeLine(writer: w, config: trainer.config, from: trainer.step) + "\n").utf8))
            }
            trainer.pipelined = pipeline == "on" || (pipeline == "auto" && Trainer.pipeliningLikelyHelps())
            let sink = CountingSink(base: base, learningRate: trainer.config.learningRate)
            var line = ProgressLine()
            let outcome: TrainerOutcome
            do {
                outcome = try trainer.run(sink: sink, shouldStop: { stop.isSet }) { p in
                    if quiet { return }
                    let remaining = Double(p.totalSteps - p.step) / max(p.stepsPerSecond, 1e-9)
                    let percent = p.totalSteps > 0 ? 100 * p.step / p.totalSteps : 100
                    line.update(String(format: "step %d/%d (%d%%)  loss %.4e  Λ %.4g (2/η %.4g)  %.1f steps/s  ETA ",
                                       p.step, p.totalSteps, percent, p.loss, p.sharpness, p.threshold, p.stepsPerSecond)
                                + durationText(remaining),
                                fraction: p.totalSteps > 0 ? Double(p.step) / Double(p.totalSteps) : 1, final: p.step == p.totalSteps)
                }
            } catch {
                try? writerSink?.close(status: .interrupted)
                throw error
            }
            try writerSink?.finish(outcome: outcome, tolerance: trainer.config.eigenTolerance)
            if !quiet { line.finish() }
            let cc = sink.counter
            if let output, !noOutput { print("output \(output)") }
            print("status \(outcome.status.rawValue)")
            print("last_step \(outcome.lastStep)")
            print(String(format: "seconds %.2f", outcome.seconds))
            print("eos_first_crossing \(cc.firstCrossing.map(String.init) ?? "none")")
            let cycles = CycleCount(online: cc.runs)
            print("eos_cycles \(cycles.cycles)\(resume ? " (resumed part only)" : "")")
            print("eos_cycles_text \(cycles.text)")
            print(String(format: "max_sharpness %.6g (2/eta %.6g)", cc.maxSharpness, cc.threshold))
            print(String(format: "eigensolver_max_lapack_discrepancy %.3e over %d checks, %d fallbacks, %.2f mean iterations",
                         outcome.maxCrossCheckDiscrepancy, outcome.crossChecks, outcome.lapackFallbacks, outcome.meanEigenIterations))
            if let why = outcome.divergenceReason { print("diverged: \(why)") }
            if outcome.status == .interrupted {
                let subject = noOutput ? "" : "\(output ?? ""): "
                let how = noOutput ? "" : "; continue with: eostrace record -o \(output ?? "") --resume"
                FileHandle.standardError.write(Data("eostrace: \(subject)interrupted at step \(outcome.lastStep) (\(stop.signalName))\(how)\n".utf8))
                throw ExitCode(stop.exitStatus)
            }
        }
    }
}
