import ArgumentParser
import EOSCommandLine
import EOSAnalysis
import EOSReport
import Foundation
import TrajectoryFormat

/// `eostrace report RECORDING -o report.html [--steps A:B]`: the paper's Figures 1–4, the checks
/// table and the run metadata of one recording, as one self-contained HTML page.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the paper's figures (1-4), the checks and the metadata of a recording as one self-contained HTML page.",
        discussion: """
        Analyses the recording (phases, c1/R decomposition, R′ tracking, anomaly points, checks), then draws. \
        The page has no scripts and no external references: it opens offline. --steps A:B restricts the \
        figures to the steps from A to B, both included (the analysis itself always covers the whole run). --svg-dir also writes \
        each figure as a standalone SVG file (fig1.svg, fig2.svg, fig3a.svg, …) for papers. A merged sweep \
        file (eostrace merge) stands for its runs: its report is their comparison page, as eostrace compare -o writes it.

        Existing output files (the HTML page, the SVG files) are replaced only with --force, and never \
        a file another process is writing; each is written beside its target and renamed into place \
        when complete. Refusals exit 1, failed writes 2.
        """)

    @Argument(help: ArgumentHelp("The recording to report on (HDF5).", valueName: "recording"))
    var recording: String

    @Option(name: .shortAndLong, help: ArgumentHelp("HTML file to write; an existing one only with --force. Default: the recording's name with .report.html (run.h5 → run.report.html).", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("Draw only the steps from A to B, both included (A: or :B leaves an end open). Default: every step.", valueName: "A:B"))
    var steps: String?

    /// The old spellings of --steps A:B (hidden; scripts may use them): first and last step, both included.
    @Option(help: .hidden)
    var from: Int?
    @Option(help: .hidden)
    var to: Int?

    @Flag(name: .shortAndLong, help: "No progress lines on stderr (errors are still printed).")
    var quiet = false

    @Option(name: .customLong("y-scale"), help: "y-axes: auto (log when positive values span > 2 decades), linear or log.")
    var yScale: YScaleOption = .auto

    @Option(name: .customLong("svg-dir"), help: "Also write each figure as a standalone .svg file into this directory (existing .svg files only with --force). Default: none.")
    var svgDir: String?

    @Flag(help: forceHelp)
    var force = false

    @OptionGroup var analysis: ReportAnalysisOptions

    /// Every file name `--svg-dir` can write (`RunReport.svgFiles`; which ones depends on the run),
    /// checked against the output rule before the analysis starts.
    static let figureFiles = ["fig1.svg", "fig2.svg", "fig3a.svg", "fig3b.svg", "fig3c.svg", "fig4.svg"]

    func validate() throws {
        if let steps {
            _ = try StepWindow.parse(steps, option: "--steps")
            if from != nil || to != nil { throw ValidationError("--steps and --from/--to (its old spelling) are exclusive") }
        }
        if let from, let to, from > to {
            throw ValidationError("--from \(from) is greater than --to \(to)")
        }
    }

    /// The step window: --steps, else the old --from/--to.
    private var window: StepWindow {
        steps.flatMap { StepWindow($0) } ?? StepWindow(first: from, last: to)
    }

    func run() throws {
        let run = recording
        let out = output ?? ReportRunLoader.defaultOutput(for: run, suffix: ".report.html")
        // A merged sweep file (eostrace merge) stands for its runs: its report is their comparison page.
        let runs = try reportingErrors { try SweepInputs.expand([run]) }
        if runs != [run] {
            if window.first != nil || window.last != nil || svgDir != nil {
                throw failure("\(run): a sweep file; --steps and --svg-dir apply to one recording (report one of its runs)",
                              code: CLIExit.invalid)
            }
            if !quiet {
                FileHandle.standardError.write(Data("\(run): a sweep of \(runs.count) runs; its report is the comparison page (eostrace compare)\n".utf8))
            }
            var compare = try CompareCommand.parse([run, "-o", out] + (force ? ["--force"] : []) + (quiet ? ["--quiet"] : []))
            try compare.run()
            return
        }
        // Before the analysis: the page and every figure file --svg-dir may write.
        let svgCandidates = (svgDir.map { d in Self.figureFiles.map { (d as NSString).appendingPathComponent($0) } } ?? [])
            .filter { FileManager.default.fileExists(atPath: $0) }.map { (path: Optional($0), option: "--svg-dir") }
        try checkOutputs([(out, "--output")] + svgCandidates, inputs: [run], force: force)
        let (from, to) = (window.first, window.last)
        try reportingErrors {
            let analysed = try ReportRunLoader.load(path: run, choice: analysis, window: (from, to), quiet: quiet)
            let input = analysed.reportInput(runName: (run as NSString).lastPathComponent)
            let options = RunReport.Options(from: from, to: to, yScale: yScale.choice)
            let html: String
            do {
                html = try RunReport.html(input, options: options)
            } catch let e as ReportError {
                throw failure(e.description, code: CLIExit.invalid)
            }
            if let svgDir {
                let files = try RunReport.svgFiles(input, options: options)
                    .map { (path: (svgDir as NSString).appendingPathComponent($0.name), svg: $0.svg) }
                if !FileManager.default.fileExists(atPath: svgDir) {
                    try FileManager.default.createDirectory(atPath: svgDir, withIntermediateDirectories: true)
                }
                // Every file is checked before the first is written.
                try checkOutputs(files.map { ($0.path, "--svg-dir") } + [(out, "--output")], inputs: [run], force: force)
                for f in files { try ReportRunLoader.write(f.svg, to: f.path, force: force) }
            }
            try ReportRunLoader.write(html, to: out, force: force)
            if !quiet { FileHandle.standardError.write(Data("wrote \(out)\n".utf8)) }
        }
    }
}

/// `--y-scale` values.
enum YScaleOption: String, ExpressibleByArgument, CaseIterable {
    case auto, linear, log
    var choice: AxisScaleChoice {
        switch self { case .auto: return .automatic; case .linear: return .linear; case .log: return .log }
    }
}

/// How `report` and `compare` run the analysis (same meanings as in `eostrace analyze`).
struct ReportAnalysisOptions: ParsableArguments {
    @Option(help: "Source of M(t) for R′ tracking: auto (replay when possible, else stored gram, else top-k), replay, stored, topk.")
    var gram: String = GramChoice.auto.rawValue

    @Option(name: .customLong("phase-rule"), help: "Phase IV end rule: loss (L ≤ L(peak), the paper's rule) or dtf (DᵀF < 0).")
    var phaseRule: String = AnalysisOptions.PhaseRule.loss.rawValue

    @OptionGroup var excursion: ExcursionOptions

    func validate() throws {
        guard AnalysisOptions.PhaseRule(rawValue: phaseRule) != nil else {
            throw ValidationError("--phase-rule must be one of: \(AnalysisOptions.PhaseRule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard GramChoice(rawValue: gram) != nil else {
            throw ValidationError("--gram must be one of: \(GramChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }
}

/// The CLI side of `AnalysedRun.load` for report and compare: opens the file, prints the note on
/// M(t) and the progress on stderr, maps an empty window to exit 1; writes output files.
enum ReportRunLoader {
    static func defaultOutput(for run: String, suffix: String) -> String {
        let base = (run as NSString).deletingPathExtension
        return base + suffix
    }

    /// Writes `text` under the output rule (`TrajectoryFormat.OutputFile`: an existing file only
    /// with `force`, never a live one, atomically); refusals exit 1, failed writes 2.
    static func write(_ text: String, to path: String, force: Bool) throws {
        try writingOutputs { try OutputFile.write(text, to: path, force: force) }
    }

    /// - Parameter window: when given, fails early (before analysing) if no recorded step lies in it.
    static func load(path: String, choice: ReportAnalysisOptions, window: (Int?, Int?)? = nil, quiet: Bool = false,
                     label: String? = nil) throws -> AnalysedRun {
        let reader = try TrajectoryReader(path: path)
        defer { reader.close() }
        let options = AnalysisOptions(phaseRule: AnalysisOptions.PhaseRule(rawValue: choice.phaseRule) ?? .loss,
                                      excursions: choice.excursion.rule)
        var progress = ProgressLine()
        let name = (path as NSString).lastPathComponent
        do {
            let analysed = try AnalysedRun.load(
                reader: reader, options: options, gram: GramChoice(rawValue: choice.gram) ?? .auto,
                window: window.map { (from: $0.0, to: $0.1) },
                gramSelected: { note in
                    if let note, !quiet { FileHandle.standardError.write(Data("note: \(path): \(note)\n".utf8)) }
                },
                progress: { done, total in
                    if !quiet { progress.update(label ?? "analyzing \(name):", done: done, total: total) }
                })
            if !quiet { progress.finish() }
            return analysed
        } catch let e as ReportError {
            throw failure(e.description, code: CLIExit.invalid)
        }
    }
}
