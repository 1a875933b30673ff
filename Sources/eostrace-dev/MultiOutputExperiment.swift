import ArgumentParser
import EOSModels
import EOSNumerics
import EOSPhases
import EOSSystem
import Foundation

// Numerics-level tools for networks with c outputs (docs/MULTI-OUTPUT.md), before the
// multi-output format is recorded: `multi-experiment` (GD with the exact Λ = λ_max(M) every step,
// EOS cycles counted) and `bench-multi` (cost of a recorded step vs a plain GD step).

/// The c-output problem of both tools: Fashion-MNIST classes with one-hot targets, an MLP.
struct MultiOutputSetup {
    let evaluator: ModelEvaluator
    let theta: [Double]
    let c: Int

    init(n: Int, classes: [Int], coding: String, widths: [Int], activation: String, seed: UInt64, dataSeed: UInt64,
         initScale: Double = 1, center: Bool = true) throws {
        guard let cod = FashionMNIST.TargetCoding(rawValue: coding) else { throw ValidationError("--coding: expected onehot or pm1, got \(coding)") }
        guard let act = Activation(rawValue: activation) else { throw ValidationError("--activation: unknown \(activation)") }
        let data = try FashionMNIST.loadClasses(classes: classes, coding: cod, n: n, seed: dataSeed, center: center)
        let net = try Network(.mlp(inputDim: data.d, widths: widths, activation: act, bias: true, outputScale: 1), outputs: data.outputs)
        evaluator = try ModelEvaluator(network: net, X: data.X, Y: data.Y)
        theta = net.initialParameters(seed: seed, scale: initScale)
        c = data.outputs
    }
}

/// The c-output top-k machinery of one recorded step: matrix-free M (dense when forced and
/// n·c ≤ the dense limit), warm-started solver, the M-products of vec(D) and vec(F), λ_max(M_A).
final class MultiOutputStepper {
    let solver: TopKEigensolver
    let dense: Bool
    var lock = true
    /// Use `Lanczos.topK` (one vector per product, start = sum of the previous eigenvectors).
    var lanczos = false
    /// Use `Lanczos.blockTopK` with this block size (start = the previous eigenvectors, folded
    /// into b start vectors).
    var blockLanczos: Int?
    /// Block Lanczos only: Ritz vectors kept for the next step's start (≥ k; thick-restart-like).
    var blockKeep: Int?
    var previous: Matrix?
    /// Shift factor of the output-layer preconditioner (nil: none).
    var preconditionShift: Double?
    var appliedVectors = 0, applyCalls = 0
    var applySeconds = 0.0
    /// Largest resident set seen inside the products (MB).
    var maxRSS = 0.0
    init(k: Int, dense: Bool, tolerance: Double, guardVectors: Int? = nil) {
        solver = TopKEigensolver(k: k, options: TopKOptions(tolerance: tolerance, guardVectors: guardVectors))
        self.dense = dense
    }

    struct Step { var eval: StepEvaluation; var top: TopKResult; var products: Matrix?; var olSharpness: Double?
        var tEval: Double; var tSolve: Double; var tProducts: Double; var tOutputLayer: Double; var applies: Int; var vectors: Int }

    func step(_ ev: ModelEvaluator, _ theta: [Double], products: Bool, outputLayer: Bool) throws -> Step {
        let t0 = Date()
        let (e, g) = try ev.evaluateMultiOutput(theta)
        let t1 = Date()
        let a0 = applyCalls, v0 = appliedVectors
        // M·V through the matrix-free product, timed and counted (calls, vectors, peak RSS).
        let counted: (Matrix) -> Matrix = { v in
            let s = Date(); defer { self.applySeconds += Date().timeIntervalSince(s) }
            self.applyCalls += 1; self.appliedVectors += v.rows
            let r = g.apply(to: v)
            self.maxRSS = max(self.maxRSS, currentRSSMB())
            return r
        }
        let top: TopKResult
        if dense {
            top = try solver.solve(try g.denseGram())
        } else if let b = blockLanczos {
            let r = try Lanczos.blockTopK(dimension: g.dimension, k: solver.k, blockSize: b, tolerance: solver.options.tolerance,
                                          start: previous, keep: blockKeep, apply: counted)
            previous = r.pairs.vectors
            if let more = r.moreVectors { previous = Matrix(rows: r.pairs.vectors.rows + more.rows, cols: more.cols, data: r.pairs.vectors.data + more.data) }
            top = TopKResult(pairs: r.pairs, iterations: r.iterations, relativeResidual: r.relativeResidual, usedLAPACK: !r.converged)
        } else if lanczos {
            var start: [Double]? = nil
            if let p = previous { var v = [Double](repeating: 0, count: p.cols); for i in 0..<p.rows { BLAS.axpy(1, p.row(i), &v) }; start = v }
            let r = try Lanczos.topK(dimension: g.dimension, k: solver.k, tolerance: solver.options.tolerance, start: start, apply: counted)
            previous = r.pairs.vectors
            top = TopKResult(pairs: r.pairs, iterations: r.iterations, relativeResidual: r.relativeResidual, usedLAPACK: !r.converged)
        } else {
            let pre = try preconditionShift.map { try g.outputLayerPreconditioner(shift: $0) }
            top = try solver.solve(dimension: g.dimension, lockConverged: lock, precondition: pre, apply: counted)
        }
        let t2 = Date()
        var prod: Matrix? = nil
        if products { prod = g.apply(to: Matrix(rows: 2, cols: g.dimension, data: e.residual + e.outputs)) }
        let t3 = Date()
        let ol = outputLayer ? try g.outputLayerSharpness() : nil
        let t4 = Date()
        maxRSS = max(maxRSS, currentRSSMB())
        return Step(eval: e, top: top, products: prod, olSharpness: ol, tEval: t1.timeIntervalSince(t0), tSolve: t2.timeIntervalSince(t1),
                    tProducts: t3.timeIntervalSince(t2), tOutputLayer: t4.timeIntervalSince(t3),
                    applies: applyCalls - a0, vectors: appliedVectors - v0)
    }
}

/// EOS cycles by the default rule of EOSPhases (`PhaseSegmentation`, loss rule, every maximal run
/// above 2/η): the count every command prints, and the first crossing (row of the first run).
func countCycles(sharpness: [Double], loss: [Double], learningRate: Double) -> (runs: Int, complete: Int, firstCrossing: Int?, cycles: [Cycle]) {
    let steps = (0..<sharpness.count).map { Int64($0) }
    let seg = PhaseSegmentation.segment(steps: steps, sharpness: sharpness, loss: loss,
                                        dtf: [Double](repeating: 0, count: sharpness.count),
                                        learningRate: learningRate, rule: .loss)
    let count = CycleCount(cycles: seg.cycles, threshold: StabilityThreshold.of(learningRate: learningRate))
    return (count.cycles, count.complete, seg.cycles.first.map { $0.startRow }, seg.cycles)
}

func parseInts(_ s: String, _ flag: String) throws -> [Int] {
    let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else { throw ValidationError("\(flag): expected comma-separated integers, got \(s)") }
    return v.map { $0! }
}

/// CPU seconds used by this process (all threads): on a shared machine the one-thread cost
/// without the time spent waiting for a core.
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ x: [Double]) -> Double {
    let s = x.sorted(); return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2]))
}

/// Current resident set (MB) from /proc/self/statm (0 where unavailable).
func currentRSSMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let f = s.split(separator: " ")
    guard f.count > 1, let pages = Double(f[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

func peakRSSMB() -> Double {
    var u = rusage(); getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) / 1024   // Linux: kilobytes
}

/// `eostrace-dev multi-experiment`: GD on Fashion-MNIST with c outputs, the exact Λ = λ_max(M)
/// (top-k, warm-started, matrix-free) every step, EOS cycles counted; `key value` lines.
struct MultiExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multi-experiment",
        abstract: "GD with c outputs and the exact top eigenvalue of M every step; prints the first crossing of 2/η and the EOS cycles.")

    @Option var n: Int = 1000
    @Option(name: .customLong("lr")) var eta: Double = 0.1
    @Option var steps: Int = 500
    @Option(help: "Classes, comma-separated (default all ten).") var classes: String = "0,1,2,3,4,5,6,7,8,9"
    @Option(help: "onehot (1/0) or pm1 (+1/-1).") var coding: String = "onehot"
    @Option var widths: String = "200,200"
    @Option var activation: String = "tanh"
    @Option var seed: UInt64 = 0
    @Option var dataSeed: UInt64 = 0
    @Option(help: "Eigenpairs solved per step.") var k: Int = 1
    @Option(help: "Guard vectors beyond k (default max(2, k/2)).") var guardVectors: Int?
    @Option(help: "Print Λ and L every P steps (0: never).") var printEvery: Int = 0
    @Option(help: "Residual tolerance of the eigensolver (‖Mv − λv‖ ≤ tol·‖M‖). The Ritz value's error is ≤ ‖r‖²/gap, so 1e-6 still gives Λ to ~1e-12 relative.") var tolerance: Double = 1e-10
    @Option(help: "Stop after this many complete cycles (0: run all steps).") var stopAfterCycles: Int = 0
    @Option(help: "Hessian sharpness (Lanczos on exact HVPs) every H steps, printed (0: never).") var hessianEvery: Int = 0
    @Option(help: "Scale of the initialization (PyTorch's default uniform bound times S).") var initScale: Double = 1
    @Flag(help: "Do not center the inputs (default: centered, as the Fashion-MNIST loader does).") var noCenter = false
    @Flag(help: "Lanczos (one Krylov sequence) instead of the block solver.") var lanczos = false
    @Option(help: "Write one line per step (step, Λ, λ_2…λ_k, loss) to this file.") var trace: String?
    @Flag(help: "Check the conventions at step 0: L = ‖D‖²/n, ‖∇L‖² = (2/n)·vec(D)ᵀ M vec(D) (the Gram of this loss), and a central difference of L along ∇L.") var checkConventions = false

    func run() throws {
        let setup = try MultiOutputSetup(n: n, classes: try parseInts(classes, "--classes"), coding: coding,
                                         widths: try parseInts(widths, "--widths"), activation: activation, seed: seed, dataSeed: dataSeed,
                                         initScale: initScale, center: !noCenter)
        let ev = setup.evaluator
        var theta = setup.theta
        let stepper = MultiOutputStepper(k: k, dense: false, tolerance: tolerance, guardVectors: guardVectors)
        stepper.lanczos = lanczos
        var lam: [Double] = [], loss: [Double] = []
        let start = Date()
        let thr = StabilityThreshold.of(learningRate: eta)
        var out: FileHandle? = nil
        if let trace {
            FileManager.default.createFile(atPath: trace, contents: nil)
            out = FileHandle(forWritingAtPath: trace)
        }
        print("n \(n)\nc \(setup.c)\neta \(eta)\nthreshold \(thr)\ntolerance \(tolerance)\nblas_threads \(BLAS.threads)")
        print("coding \(coding)\ncentered \(!noCenter)\ninit_scale \(initScale)\nseed \(seed)")
        if checkConventions {
            let (e, g) = try ev.evaluateMultiOutput(theta)
            let d2 = e.residual.reduce(0) { $0 + $1 * $1 }
            let md = g.apply(to: Matrix(rows: 1, cols: g.dimension, data: e.residual)).data
            var dmd = 0.0
            for i in 0..<md.count { dmd += e.residual[i] * md[i] }
            let gg = e.gradient.reduce(0) { $0 + $1 * $1 }
            let h = 1e-4 / gg.squareRoot()
            var tp = theta, tm = theta
            BLAS.axpy(h, e.gradient, &tp); BLAS.axpy(-h, e.gradient, &tm)
            let fd = (try ev.lossAndGradient(tp).loss - ev.lossAndGradient(tm).loss) / (2 * h)
            print(String(format: "check_loss %.12g\ncheck_D2_over_n %.12g", e.loss, d2 / Double(ev.n)))
            print(String(format: "check_grad_sq %.12g\ncheck_2_over_n_DMD %.12g\ncheck_fd_directional %.12g", gg, 2 / Double(ev.n) * dmd, fd))
        }
        for t in 0...steps {
            let s = try stepper.step(ev, theta, products: false, outputLayer: false)
            lam.append(s.top.pairs.values[0]); loss.append(s.eval.loss)
            if let out {
                let line = "\(t) " + s.top.pairs.values.map { String(format: "%.9g", $0) }.joined(separator: " ") + String(format: " %.9g\n", s.eval.loss)
                out.write(line.data(using: .utf8)!)
            }
            if hessianEvery > 0 && t % hessianEvery == 0 {
                let hs = try HessianOperator(evaluator: ev, theta: theta).sharpness(maxIterations: 150, tolerance: 1e-8)
                print(String(format: "step %d hessian_sharpness %.6g sharpness %.6g threshold %.6g", t, hs.value, lam[t], thr))
            }
            if printEvery > 0 && t % printEvery == 0 {
                print(String(format: "step %d sharpness %.6g loss %.6g iters %d elapsed %.1f", t, lam[t], loss[t], s.top.iterations, Date().timeIntervalSince(start)))
                fflush(nil)
            }
            if stopAfterCycles > 0 && t % 10 == 0 && countCycles(sharpness: lam, loss: loss, learningRate: eta).complete >= stopAfterCycles { break }
            if t < steps { BLAS.axpy(-eta, s.eval.gradient, &theta) }
        }
        try out?.close()
        let elapsed = Date().timeIntervalSince(start)
        let cc = countCycles(sharpness: lam, loss: loss, learningRate: eta)
        print("steps_done \(lam.count - 1)")
        print("first_crossing \(cc.firstCrossing.map(String.init) ?? "none")")
        print("runs_above \(cc.runs)\ncomplete_cycles \(cc.complete)")
        for c in cc.cycles.prefix(12) {
            print(String(format: "cycle %d steps %d-%d peak %d (%.5g) iv_end %@ %@ complete %@", c.index, c.startStep, c.endStep, c.peakStep, c.peakSharpness,
                         c.ivEndStep.map { String($0) } ?? "-", c.ivEndReason.rawValue, c.complete ? "yes" : "no"))
        }
        print(String(format: "max_sharpness %.6g\nfinal_sharpness %.6g\nfinal_loss %.6g\nseconds %.1f\nseconds_per_step %.4f\ncpu_seconds %.1f\npeak_rss_mb %.0f",
                     lam.max() ?? .nan, lam.last ?? .nan, loss.last ?? .nan, elapsed, elapsed / Double(lam.count), cpuSeconds(), peakRSSMB()))
    }
}

/// `eostrace-dev bench-multi`: median cost of a plain GD step and of a "recorded step" (exact
/// top-k every step, warm-started, plus M·vec(D), M·vec(F) and λ_max(M_A)) for c outputs.
struct BenchMultiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-multi",
        abstract: "Time plain GD steps and recorded steps (top-k of the c-output M every step) and print key value lines.")

    @Option var n: Int = 1000
    @Option(name: .customLong("lr")) var eta: Double = 0.1
    @Option var widths: String = "200,200"
    @Option var classes: String = "0,1,2,3,4,5,6,7,8,9"
    @Option var k: Int = 8
    @Option(help: "Steps before timing (warm start settles).") var warmup: Int = 3
    @Option(help: "Timed steps (medians).") var steps: Int = 7
    @Option(help: "Plain steps timed.") var plainSteps: Int = 10
    @Option(help: "GD steps taken before the benchmark starts (moves away from the initialization).") var pretrain: Int = 0
    @Flag(help: "Solve on the dense M (only when n·c ≤ the dense limit).") var dense = false
    @Option(help: "Guard vectors beyond k (default max(2, k/2)).") var guardVectors: Int?
    @Flag(help: "No soft locking of converged pairs.") var noLock = false
    @Flag(help: "Lanczos (one vector per product, warm start = sum of the previous eigenvectors) instead of the block solver.") var lanczos = false
    @Option(help: "Block Lanczos (Lanczos.blockTopK) with this block size, warm-started from the previous eigenvectors.") var blockLanczos: Int?
    @Option(help: "Block Lanczos: keep this many Ritz vectors (≥ k) as the next step's start.") var blockKeep: Int?
    @Flag(help: "Check the true residual ‖Mv − λv‖/λ_1 of the last step's pairs (k more products, not timed).") var verify = false
    @Option(help: "Precondition the solver with the output layer's term, shift σ = S·θ_1 (e.g. 1.05).") var precondition: Double?
    @Flag(help: "Skip the recorded steps (plain steps only).") var plainOnly = false
    @Option(help: "Print the top S eigenvalues of the dense M at the start (n·c ≤ the dense limit).") var spectrum: Int = 0
    @Option(help: "Write X.npy, Y.npy, theta.npy (the benchmark's starting point) into this directory (existing files only with --force).") var dump: String?
    @Flag(help: "Replace existing files of --dump.") var force = false

    func run() throws {
        let setup = try MultiOutputSetup(n: n, classes: try parseInts(classes, "--classes"), coding: "onehot",
                                         widths: try parseInts(widths, "--widths"), activation: "tanh", seed: 0, dataSeed: 0)
        let ev = setup.evaluator
        var theta = setup.theta
        for _ in 0..<pretrain { try ev.gradientStep(&theta, learningRate: eta) }
        if let dir = dump {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for name in ["X", "Y", "theta"] { try checkOutput(dir + "/\(name).npy", force: force) }  // all or none
            try writeNPY(dir + "/X.npy", shape: [ev.n, ev.X.cols], ev.X.data, force: force)
            try writeNPY(dir + "/Y.npy", shape: [ev.n, setup.c], ev.Y, force: force)
            try writeNPY(dir + "/theta.npy", shape: [theta.count], theta, force: force)
        }
        let rssAfterSetup = currentRSSMB()
        if spectrum > 0 {
            let m = try ev.evaluateMultiOutput(theta).1.denseGram()
            let top = try SymmetricEigen.topK(m, k: spectrum).values
            print("spectrum " + top.map { String(format: "%.5g", $0) }.joined(separator: " "))
        }
        print("n \(n)\nc \(setup.c)\nnc \(n * setup.c)\nwidths \(widths)\nk \(k)\nparameters \(theta.count)\nblas_threads \(BLAS.threads)\nblas_core \(BLAS.coreName)")
        // Plain steps.
        var plain: [Double] = [], plainCPU: [Double] = []
        var tp = theta
        for _ in 0..<plainSteps {
            let s = Date(), c0 = cpuSeconds()
            try ev.gradientStep(&tp, learningRate: eta)
            plain.append(Date().timeIntervalSince(s)); plainCPU.append(cpuSeconds() - c0)
        }
        let plainMedian = median(plain)
        print(String(format: "plain_step_ms %.2f\nplain_step_cpu_ms %.2f", 1000 * plainMedian, 1000 * median(plainCPU)))
        if plainOnly { print(String(format: "peak_rss_mb %.0f", peakRSSMB())); return }
        let stepper = MultiOutputStepper(k: k, dense: dense, tolerance: 1e-10, guardVectors: guardVectors)
        stepper.lock = !noLock
        stepper.preconditionShift = precondition
        stepper.lanczos = lanczos
        stepper.blockLanczos = blockLanczos
        stepper.blockKeep = blockKeep
        var lastPairs: EigenPairs? = nil
        var lastTheta = theta
        var rec: [Double] = [], te: [Double] = [], ts: [Double] = [], tpr: [Double] = [], tol: [Double] = []
        var iters: [Double] = [], vecs: [Double] = [], resid: [Double] = []
        var applyTime: [Double] = [], recCPU: [Double] = []
        for t in 0..<(warmup + steps) {
            let a0 = stepper.applySeconds
            let s0 = Date(), c0 = cpuSeconds()
            lastTheta = theta
            let st = try stepper.step(ev, theta, products: true, outputLayer: true)
            let total = Date().timeIntervalSince(s0)
            lastPairs = st.top.pairs
            if t >= warmup { recCPU.append(cpuSeconds() - c0) }
            BLAS.axpy(-eta, st.eval.gradient, &theta)
            if t >= warmup {
                rec.append(total); te.append(st.tEval); ts.append(st.tSolve); tpr.append(st.tProducts); tol.append(st.tOutputLayer)
                iters.append(Double(st.top.iterations)); vecs.append(Double(st.vectors)); resid.append(st.top.relativeResidual)
                applyTime.append(stepper.applySeconds - a0)
            }
            if st.top.usedLAPACK { print("note step \(t) used LAPACK") }
        }
        if verify, let pairs = lastPairs {
            let g = try ev.evaluateMultiOutput(lastTheta).1
            let mv = g.apply(to: pairs.vectors)
            var worst = 0.0
            for i in 0..<pairs.values.count {
                var s = 0.0
                for j in 0..<mv.cols { let d = mv.data[i * mv.cols + j] - pairs.values[i] * pairs.vectors.data[i * mv.cols + j]; s += d * d }
                worst = max(worst, s.squareRoot())
            }
            print(String(format: "verified_true_relative_residual_max %.2e", worst / pairs.values[0]))
        }
        let r = median(rec)
        print(String(format: "recorded_step_ms %.2f\nratio_recorded_to_plain %.1f", 1000 * r, r / plainMedian))
        print(String(format: "recorded_step_cpu_ms %.2f\nratio_cpu_recorded_to_plain %.1f", 1000 * median(recCPU), median(recCPU) / median(plainCPU)))
        print(String(format: "eval_ms %.2f\nsolve_ms %.2f\nsolve_apply_ms %.2f\nproducts_ms %.2f\noutput_layer_ms %.2f",
                     1000 * median(te), 1000 * median(ts), 1000 * median(applyTime), 1000 * median(tpr), 1000 * median(tol)))
        print(String(format: "solver_iterations_median %.1f\nsolver_iterations_max %.0f\napplied_vectors_median %.1f\nrelative_residual_max %.2e",
                     median(iters), iters.max() ?? .nan, median(vecs), resid.max() ?? .nan))
        print(String(format: "sharpness %.6g\nrss_after_setup_mb %.0f\nrss_max_during_steps_mb %.0f\npeak_rss_mb %.0f",
                     try stepper.step(ev, theta, products: false, outputLayer: false).top.pairs.values[0], rssAfterSetup, stepper.maxRSS, peakRSSMB()))
        let (_, g) = try ev.evaluateMultiOutput(theta)
        print(String(format: "factor_mb %.1f", g.factorBytes / 1_048_576))
    }
}

/// A little-endian float64 C-order .npy file, under the output rule (`writeOutput`).
func writeNPY(_ path: String, shape: [Int], _ v: [Double], force: Bool) throws {
    let shp = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shp), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let len = header.utf8.count
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(len & 255), UInt8(len >> 8)] + Array(header.utf8)
    bytes.reserveCapacity(bytes.count + 8 * v.count)
    v.withUnsafeBytes { bytes += $0 }   // little-endian hosts (x86-64, arm64)
    let payload = bytes
    try writeOutput(path, force: force) { temporary in try AtomicFile.writeContents(payload, into: temporary, target: path) }
}
