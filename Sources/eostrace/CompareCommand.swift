import ArgumentParser
import EOSCommandLine
import EOSAnalysis
import EOSReport
import Foundation
import TrajectoryFormat

/// `eostrace compare RUN... [-o compare.html]`: several runs side by side at the Edge of Stability.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare runs: Λ·η/2 over steps, first step above 2/η, EOS plateau, cycles, anomaly rate.",
        discussion: """
        Prints the comparison table; with -o also writes one self-contained HTML page naming every input \
        file, with Λ·η/2 and the loss of every run on one figure each. Runs are labelled by η when their learning rates differ, else by seed, else by \
        file name (--label chooses). Phases and anomalies come from the analysis (the Gram matrix is not \
        needed for them: compare uses a recording's M-products (format 1.1) when it has them and the \
        fast top-k approximation otherwise, never a replay). An existing -o file is replaced only \
        with --force, never one another process is writing; it is written beside the target and renamed \
        into place when complete (refusals exit 1, failed writes 2).
        """)

    enum LabelBy: String, ExpressibleByArgument, CaseIterable { case auto, eta, seed, file }

    @Argument(help: ArgumentHelp("The recordings to compare (HDF5; a merged sweep file stands for its runs).", valueName: "recording"))
    var runs: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Also write the comparison as an HTML page to this file (an existing one only with --force). Default: none (the table only).", valueName: "file"))
    var output: String?

    @Flag(name: .shortAndLong, help: "No progress lines on stderr (errors are still printed).")
    var quiet = false

    @Flag(help: forceHelp)
    var force = false

    @Option(help: "Label runs by: auto, eta, seed or file.")
    var label: LabelBy = .auto

    @Option(name: .customLong("phase-rule"), help: "Phase IV end rule: loss (L ≤ L(peak), the paper's rule) or dtf (DᵀF < 0).")
    var phaseRule: String = "loss"

    @OptionGroup var excursion: ExcursionOptions

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one recording") }
    }

    func run() throws {
        // A merged sweep file stands for its runs (EOSReport/Compare/SweepInputs.swift).
        let runs = try reportingErrors { try SweepInputs.expand(self.runs) { FileHandle.standardError.write(Data("eostrace: \($0)\n".utf8)) } }
        try checkOutputs([(output, "--output")], inputs: runs, force: force)
        try reportingErrors {
            var choice = try ReportAnalysisOptions.parse([])
            choice.gram = GramChoice.topk.rawValue
            choice.phaseRule = phaseRule
            choice.excursion = excursion
            // Every input opens before the first is analysed: a bad file is one line, no progress.
            for path in runs { try TrajectoryReader(path: path).close() }
            let analysed = try runs.enumerated().map { i, path in
                // The recorded M-products cost nothing to use; without them, the top-k approximation.
                var choice = choice
                let reader = try TrajectoryReader(path: path)
                if reader.hasProduct(RecordedProducts.gramResidual) { choice.gram = GramChoice.products.rawValue }
                reader.close()
                return try ReportRunLoader.load(path: path, choice: choice, quiet: quiet,
                                         label: "analyzing \((path as NSString).lastPathComponent) (run \(i + 1) of \(runs.count)):")
            }
            let labels = RunComparison.labels(paths: runs, etas: analysed.map(\.input.learningRate),
                                              seeds: analysed.map(\.seed), by: RunLabelRule(rawValue: label.rawValue) ?? .auto)
            let inputs = zip(zip(labels, analysed), runs).map { CompareInput(label: $0.0, analysisInput: $0.1.input, result: $0.1.result, file: $1) }
            print(try RunComparison.text(inputs), terminator: "")
            if let output {
                try ReportRunLoader.write(try RunComparison.html(inputs), to: output, force: force)
                if !quiet { FileHandle.standardError.write(Data("wrote \(output)\n".utf8)) }
            }
        }
    }
}
