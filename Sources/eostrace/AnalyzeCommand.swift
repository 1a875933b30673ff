import ArgumentParser
import EOSCommandLine
import EOSAnalysis
import EOSSystem
import Foundation
import TrajectoryFormat

/// `eostrace analyze RUN`: docs/ANALYSIS.md on a recording.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Analyze a recording: phases, c1/R decomposition, R′ tracking, anomaly points, assumption checks.",
        discussion: """
        Prints a human summary. The results that need M(t) (R′ tracking, the first-order error of D)
        come from the recording's M-products (format 1.1: gram_residual, r_prime, r_prime_from_start),
        exact with no replay; without them (or for options they cannot serve, such as
        --r-prime-window) from GD replayed from the parameter checkpoints, checked row by row against
        the recorded residuals (rows drifting past 1e-9 are labelled not exact and left out of the
        verdicts), else the stored `gram`, else the top-k approximation Σ λ_i v_i v_iᵀ. Each result
        names its M. --verify-replay also replays a file with products and compares. The stated
        conventions (η, loss convention, Gram) are checked against the data; a mismatch prints one
        warning line naming the attribute. The recording is only read unless --in-place is given.

        Output files (-o/--output, --csv) never replace an existing file without --force, and never a file \
        another process is writing (a live recording), even with --force; they are written beside \
        the target and renamed into place when complete, so a failed or killed run leaves the old \
        file as it was. --in-place writes a complete copy of the recording with /analysis beside it \
        and renames it over the recording (same permissions): killed at any moment, the recording \
        is either unchanged or holds the complete /analysis. It needs a writable directory and \
        refuses a recording that is being written. Refusals exit 1, failed writes 2.
        """)

    @Argument(help: ArgumentHelp("The recording to analyze (HDF5).", valueName: "recording"))
    var recording: String

    @Flag(help: "Print every number as JSON (sorted keys; NaN and ±Inf as null) instead of the summary.")
    var json = false

    @Option(help: "Write the per-step table as CSV to this file (- for stdout, instead of the summary). Default: none.")
    var csv: String?

    @Option(name: .shortAndLong,
            help: ArgumentHelp("Write the /analysis group to this new HDF5 file (an existing one only with --force). Default: none (nothing is written).",
                               valueName: "file"))
    var output: String?
    /// The old spelling of --output (hidden; scripts may use it).
    @Option(name: .customLong("out"), help: .hidden)
    var outAlias: String?

    @Flag(help: "Write the /analysis group into the recording itself (crash-safe: a complete copy is renamed over it).")
    var inPlace = false

    @Flag(help: forceHelp)
    var force = false

    @Option(help: "Phase IV end rule: loss (L ≤ L(peak)) or dtf (DᵀF < 0).")
    var phaseRule: String = AnalysisOptions.PhaseRule.loss.rawValue

    @Flag(inversion: .prefixedNo, help: "Restart R′ := R at every phase-II start (the r_prime_error series).")
    var rPrimeRestarts = true

    @Option(help: "Also restart R′ every W steps (tracking horizon). Default: never.")
    var rPrimeWindow: Int?

    @Option(help: "Anomaly points within W steps of a sign change of Δ‖A‖² count as near it.")
    var anomalyWindow: Int = 2

    @Option(help: "Lower bound F of the accuracy floor of c1: Lemma 3.2 ratios and the phase-II growth are measured only where |c1| > max(F, tol·λ1/(λ1−λ2))·‖D‖ (tol: the recording's eigensolver tolerance; docs/ANALYSIS.md §6).")
    var c1Floor: Double = 1e-10

    @Option(help: "Source of M(t): auto (recorded M-products where they serve, else replay, stored gram, top-k), products, replay, stored, topk.")
    var gram: String = GramChoice.auto.rawValue

    @Flag(help: "Also replay GD from the checkpoints as a verification: drift per checkpoint interval, rows beyond the 1e-9 tolerance labelled, replayed products compared with the recorded ones.")
    var verifyReplay = false

    @Option(help: ArgumentHelp("Analyze only the recorded steps from A to B, both included (A: or :B leaves an end open). Default: every step.", valueName: "A:B"))
    var steps: String?

    @OptionGroup var excursion: ExcursionOptions

    @Flag(name: .shortAndLong, help: "No progress lines on stderr.")
    var quiet = false

    /// --output, or its old spelling --out.
    private var outputFile: String? { output ?? outAlias }

    func validate() throws {
        if output != nil && outAlias != nil { throw ValidationError("give the output once (--output; --out is its old spelling)") }
        guard AnalysisOptions.PhaseRule(rawValue: phaseRule) != nil else {
            throw ValidationError("--phase-rule must be one of: \(AnalysisOptions.PhaseRule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard GramChoice(rawValue: gram) != nil else {
            throw ValidationError("--gram must be one of: \(GramChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let w = rPrimeWindow, w < 1 { throw ValidationError("--r-prime-window must be ≥ 1") }
        guard anomalyWindow >= 0 else { throw ValidationError("--anomaly-window must be ≥ 0") }
        guard c1Floor >= 0 && c1Floor.isFinite else { throw ValidationError("--c1-floor must be finite and ≥ 0") }
        if inPlace && outputFile != nil { throw ValidationError("--in-place and --output are exclusive") }
        if let steps { _ = try StepWindow.parse(steps, option: "--steps") }
        if steps != nil && inPlace { throw ValidationError("--in-place needs the whole recording (no --steps)") }
        if csv == "-" && json { throw ValidationError("--csv - and --json both write to stdout; give --csv a file") }
    }

    private var stepRange: ClosedRange<Int64>? {
        guard let steps, let w = StepWindow(steps) else { return nil }
        return Int64(w.first ?? Int(Int64.min))...Int64(w.last ?? Int(Int64.max))
    }

    func run() throws {
        // The replay allocates several n×n matrices per step; keep freed blocks in the heap instead
        // of returning them to the kernel (mmap/munmap churn cost ~1/3 of the CPU time as page faults).
        Memory.keepLargeAllocationsInHeap()
        if let output = outputFile, URL(fileURLWithPath: output).standardizedFileURL == URL(fileURLWithPath: recording).standardizedFileURL {
            throw failure("\(output): --output is the recording itself; use --in-place to write into it", code: CLIExit.invalid)
        }
        let csvFile = csv == "-" ? nil : csv
        try checkOutputs([(outputFile, "--output"), (csvFile, "--csv")], inputs: [recording], force: force)
        if inPlace { try writingOutputs { try AnalysisResults.checkInPlace(recording: recording) } }
        let options = AnalysisOptions(phaseRule: AnalysisOptions.PhaseRule(rawValue: phaseRule)!, rPrimeRestarts: rPrimeRestarts,
                                      rPrimeWindow: rPrimeWindow, anomalyWindow: anomalyWindow, c1Floor: c1Floor,
                                      excursions: excursion.rule)
        let version = EOSTrace.configuration.version
        let result: AnalysisResult = try reportingErrors {
            let reader = try TrajectoryReader(path: recording)
            defer { reader.close() }
            var progress = ProgressLine()
            let name = (recording as NSString).lastPathComponent
            let r = try Analyzer.analyze(reader: reader, options: options, gram: GramChoice(rawValue: gram)!,
                                         steps: stepRange, verifyReplay: verifyReplay) { done, total in
                if !quiet { progress.update("analyzing \(name):", done: done, total: total) }
            }
            if !quiet { progress.finish() }
            if let w = r.conventions?.warning { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            return r
        }
        try reportingErrors { try writingOutputs {
            if let csvFile {
                try OutputFile.write(result.csv(), to: csvFile, force: force)
            }
            if let out = outputFile {
                try AnalysisFile.write(result, to: out, force: force, sourceFile: recording, softwareVersion: version)
            }
            if inPlace {
                try AnalysisFile.writeInPlace(result, recording: recording, softwareVersion: version)
            }
            if csv == "-" {
                print(result.csv(), terminator: "")
            } else if json {
                FileHandle.standardOutput.write(try result.jsonData())
                FileHandle.standardOutput.write(Data("\n".utf8))
            } else {
                print(result.summaryText(), terminator: "")
            }
        } }
    }
}
