import ArgumentParser
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
        needed for them, so compare uses the fast top-k approximation).
        """)

    enum LabelBy: String, ExpressibleByArgument, CaseIterable { case auto, eta, seed, file }

    @Argument(help: "Recordings to compare.")
    var runs: [String]

    @Option(name: [.short, .customLong("output")], help: "Also write the comparison as an HTML page.")
    var output: String?

    @Option(help: "Label runs by: auto, eta, seed or file.")
    var label: LabelBy = .auto

    @Option(name: .customLong("phase-rule"), help: "Phase IV end rule: loss (SPEC default) or dtf.")
    var phaseRule: String = "loss"

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one recording") }
    }

    func run() throws {
        try refuseOverwritingInputs(output: output, option: "--output", inputs: runs)
        try reportingErrors {
            var choice = try ReportAnalysisOptions.parse([])
            choice.gram = GramChoice.topk.rawValue
            choice.phaseRule = phaseRule
            let analysed = try runs.map { try ReportRunLoader.load(path: $0, choice: choice, quiet: true) }
            let labels = CompareCommand.labels(paths: runs, etas: analysed.map(\.input.learningRate),
                                               seeds: analysed.map(\.seed), by: label)
            let inputs = zip(labels, analysed).map { CompareInput(label: $0, analysisInput: $1.input, result: $1.result) }
            print(try RunComparison.text(inputs), terminator: "")
            if let output {
                try ReportRunLoader.write(try RunComparison.html(inputs), to: output)
                FileHandle.standardError.write(Data("eostrace: wrote \(output)\n".utf8))
            }
        }
    }

    /// Run labels: by η when they differ (auto), else seed, else file name; made unique by
    /// appending the file name where two labels coincide.
    static func labels(paths: [String], etas: [Double], seeds: [Int64?], by: LabelBy) -> [String] {
        let files = paths.map { ($0 as NSString).lastPathComponent }
        var mode = by
        if mode == .auto {
            if Set(etas).count == etas.count { mode = .eta }
            else if seeds.allSatisfy({ $0 != nil }) && Set(seeds.map { $0! }).count == seeds.count { mode = .seed }
            else { mode = .file }
        }
        var labels: [String] = paths.indices.map { i in
            switch mode {
            case .eta: return "η = \(etas[i])"
            case .seed: return seeds[i].map { "seed \($0)" } ?? files[i]
            case .file, .auto: return files[i]
            }
        }
        let counts = Dictionary(labels.map { ($0, 1) }, uniquingKeysWith: +)
        for i in labels.indices where counts[labels[i]]! > 1 && labels[i] != files[i] { labels[i] += " (\(files[i]))" }
        return labels
    }
}
