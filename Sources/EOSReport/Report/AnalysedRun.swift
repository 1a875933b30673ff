import EOSAnalysis
import Foundation
import TrajectoryFormat

/// One recording read and analysed for `report` and `compare`: the analysis of the whole run
/// (`Analyzer.analyzeRecording(reader:…)`, the same entry `analyze` uses) plus what only the
/// report shows, read through the same reader (metadata table, seed, Hessian sharpness).
public struct AnalysedRun {
    /// The analyzer's input (the series the figures draw) and its result.
    public var input: AnalysisInput
    public var result: AnalysisResult
    /// The report's metadata table (key, value), in display order.
    public var metadata: [(key: String, value: String)]
    /// `/run@seed`, when recorded (compare labels runs by it).
    public var seed: Int64?
    /// Hessian sharpness on its own cadence, when recorded.
    public var hessian: (steps: [Int], values: [Double])?

    /// Analyses the recording open in `reader` (whole run; the reader may be closed afterwards).
    ///
    /// - Parameters:
    ///   - window: when given with a bound, throws `ReportError.emptyWindow` before analysing if
    ///     no recorded step lies in [from, to].
    ///   - gramSelected: called with the analysis' note on M(t) before it runs (see
    ///     `Analyzer.analyzeRecording`).
    ///   - progress: (rows done, total rows).
    public static func load(reader: TrajectoryReader, options: AnalysisOptions = .init(), gram: GramChoice = .auto,
                            window: (from: Int?, to: Int?)? = nil, gramSelected: ((_ note: String?) -> Void)? = nil,
                            progress: ((Int, Int) -> Void)? = nil) throws -> AnalysedRun {
        let path = reader.path
        let md = reader.metadata
        let steps = try reader.steps()
        if let (from, to) = window, from != nil || to != nil {
            let lo = Int64(from ?? Int.min), hi = Int64(to ?? Int.max)
            if !steps.contains(where: { $0 >= lo && $0 <= hi }) {
                throw ReportError.emptyWindow(run: (path as NSString).lastPathComponent, from: from, to: to,
                                              first: steps.first.map { Int($0) }, last: steps.last.map { Int($0) })
            }
        }
        let analysed = try Analyzer.analyzeRecording(reader: reader, options: options, gram: gram,
                                                     gramSelected: gramSelected, progress: progress)
        let result = analysed.result

        var meta: [(key: String, value: String)] = [
            ("file", path),
            ("format", "\(Layout.formatName) \(reader.formatVersion.map(String.init).joined(separator: "."))"),
            ("status", (try? reader.status().rawValue) ?? "unknown"),
            ("software", "\(md.software) \(md.softwareVersion)"),
        ]
        if let c = md.created { meta.append(("created", c)) }
        meta += [
            ("learning rate η", "\(md.learningRate)"),
            ("n (samples)", "\(md.n)"), ("p (parameters)", "\(md.p)"), ("k (eigenpairs)", "\(md.k)"), ("d (input dim)", "\(reader.d)"),
            ("loss", md.loss), ("model", md.model),
        ]
        if md.outputCount > 1 {
            // Several outputs: every vector the analysis uses is vec(D) over n·c entries.
            meta.append(("c (outputs)", "\(md.outputCount): vectors over n·c = \(md.n * md.outputCount) entries (sample-major); "
                         + "L = ‖D‖_F²/n, ‖A‖² = ‖A‖_F², DᵀF = ⟨D, F⟩_F"))
            if md.storedEigenvectorCount < md.k { meta.append(("eigenvectors stored", "top \(md.storedEigenvectorCount) of k = \(md.k)")) }
        }
        meta += [
            ("recorded steps", "\(steps.count) (\(steps.first.map(String.init) ?? "-") … \(steps.last.map(String.init) ?? "-"))"),
        ]
        if let s = md.seed { meta.append(("seed", "\(s)")) }
        if let s = md.dataSeed { meta.append(("data seed", "\(s)")) }
        if let s = md.dataDescription { meta.append(("data", s)) }
        if let s = md.cadences { meta.append(("cadences", s)) }
        if let s = md.config { meta.append(("config", s)) }
        meta.append(("analysis", "version \(result.analysisVersion), phase rule \(options.phaseRule.rawValue), M(t): \(result.gram.label)"))
        var hessian: (steps: [Int], values: [Double])?
        if reader.has(Layout.Series.hessianSharpness) {
            hessian = (try reader.hessianSteps().map { Int($0) }, try reader.hessianSharpness())
        }
        return AnalysedRun(input: analysed.input, result: result, metadata: meta, seed: md.seed, hessian: hessian)
    }

    /// The report's input: the analysis, the metadata table and the Hessian sharpness.
    public func reportInput(runName: String) -> ReportInput {
        var input = ReportInput(runName: runName, analysisInput: self.input, result: result, metadata: metadata)
        input.hessianSharpness = hessian
        return input
    }
}

/// How `compare` labels its runs.
public enum RunLabelRule: String, Sendable, CaseIterable {
    /// By η when the learning rates differ, else by seed when all are known and differ, else by file.
    case auto, eta, seed, file
}

extension RunComparison {
    /// Run labels: by η when they differ (auto), else seed, else file name; made unique by
    /// appending the file name where two labels coincide.
    public static func labels(paths: [String], etas: [Double], seeds: [Int64?], by: RunLabelRule) -> [String] {
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
