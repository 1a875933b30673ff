import ArgumentParser
import EOSCommandLine
import EOSAnalysis
import EOSReport
import Foundation

/// `eostrace compare RUN... [-o compare.html]`: several runs side by side at the Edge of Stability.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare runs: Λ·η/2 over steps, first step above 2/η, EOS plateau, cycles, anomaly rate.",
        discussion: """
        Prints the comparison table; with -o also writes one self-contained HTML page with Λ·η/2 of every \
        run on one figure. Runs are labelled by η when their learning rates differ, else by seed, else by \
        file name (--label chooses). Phases and anomalies come from the analysis (the Gram matrix is not \
        needed for them, so compare uses the fast top-k approximation). An existing -o file is replaced only \
        with --force, never one another process is writing; it is written beside the target and renamed \
        into place when complete (refusals exit 1, failed writes 2).
        """)

    enum LabelBy: String, ExpressibleByArgument, CaseIterable { case auto, eta, seed, file }

    @Argument(help: "Recordings to compare (a merged sweep file stands for its runs).")
    var runs: [String]

    @Option(name: [.short, .customLong("output")], help: "Also write the comparison as an HTML page (an existing file only with --force).")
    var output: String?

    @Flag(help: forceHelp)
    var force = false

    @Option(help: "Label runs by: auto, eta, seed or file.")
    var label: LabelBy = .auto

    @Option(name: .customLong("phase-rule"), help: "Phase IV end rule: loss (SPEC default) or dtf.")
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
            let analysed = try runs.map { try ReportRunLoader.load(path: $0, choice: choice, quiet: true) }
            let labels = RunComparison.labels(paths: runs, etas: analysed.map(\.input.learningRate),
                                              seeds: analysed.map(\.seed), by: RunLabelRule(rawValue: label.rawValue) ?? .auto)
            let inputs = zip(labels, analysed).map { CompareInput(label: $0, analysisInput: $1.input, result: $1.result) }
            print(try RunComparison.text(inputs), terminator: "")
            if let output {
                try ReportRunLoader.write(try RunComparison.html(inputs), to: output, force: force)
                FileHandle.standardError.write(Data("eostrace: wrote \(output)\n".utf8))
            }
        }
    }
}
