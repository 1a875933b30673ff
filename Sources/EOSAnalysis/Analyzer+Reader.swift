import EOSPhases
import Foundation
import TrajectoryFormat

/// A recording analysed by `Analyzer.analyzeRecording(reader:…)`: the loaded input (what the
/// report draws), the result, and why a better M(t) was not used.
public struct AnalyzedRecording {
    /// The series the analysis read (`AnalysisInput(reader:rows:)`).
    public var input: AnalysisInput
    public var result: AnalysisResult
    /// Why a better source of M was not used (nil when replaying); also `result.gram.note`.
    public var gramNote: String?
}

extension Analyzer {
    /// Analyzes a recording: loads it (`AnalysisInput(reader:)`), picks M(t) per `gram`
    /// (`GramSelection`), runs `analyze`, and attaches the replay report. The one library entry
    /// of `analyze`, `report` and `compare` (`analyze(reader:…)` returns only the result).
    ///
    /// - Parameters:
    ///   - steps: analyze only recorded steps in this closed range (nil: all).
    ///   - gramSelected: called once M(t) is chosen, before the analysis runs, with the note
    ///     saying why a better source was not used (nil when replaying).
    ///   - progress: called with (rows done, total rows) now and then.
    ///   - verifyReplay: also replay GD (when the file has products, as a verification compared
    ///     with them; without products replay is the fallback anyway) and report the drift per
    ///     checkpoint interval (`result.gram.verification`).
    public static func analyzeRecording(reader: TrajectoryReader, options: AnalysisOptions = .init(),
                                        gram: GramChoice = .auto, steps: ClosedRange<Int64>? = nil,
                                        verifyReplay: Bool = false,
                                        gramSelected: ((_ note: String?) -> Void)? = nil,
                                        progress: ((Int, Int) -> Void)? = nil) throws -> AnalyzedRecording {
        var rows: Range<Int>?
        if let steps {
            let all = try reader.steps()
            let lo = all.firstIndex { $0 >= steps.lowerBound } ?? all.count
            let hi = all.lastIndex { $0 <= steps.upperBound }.map { $0 + 1 } ?? 0
            guard lo < hi else {
                throw TrajectoryError(.invalidArgument, file: reader.path, object: "/trajectory/step",
                                      "no recorded step in \(steps.lowerBound)...\(steps.upperBound)")
            }
            rows = lo..<hi
        }
        var input = try AnalysisInput(reader: reader, rows: rows)
        if gram == .auto || gram == .products {
            input.products = try ProductSource(reader: reader, rows: rows ?? 0..<input.count, modelKind: input.modelKind)
            if gram == .products && input.products == nil {
                throw TrajectoryError(.missingObject, file: reader.path, object: "/trajectory/gram_residual",
                                      "no recorded M-products (gram_residual, r_prime, r_prime_from_start) in this file")
            }
        }
        // Products that serve every M-dependent result need no other M (no replay, no checkpoint)
        // unless replay is asked for as a verification.
        let probe = try makePlan(input, options: options,
                                 restartRows: EOSPhases.PhaseSegmentation.runsAbove(sharpness: input.sharpness,
                                                                                    threshold: 2 / input.learningRate).map(\.start),
                                 pairs: (0..<input.count).filter { input.isConsecutive($0) }.count, verify: verifyReplay)
        var selection: GramSelection
        if input.products != nil && !probe.needsProvider {
            selection = GramSelection(provider: nil, replay: nil, note: nil)
        } else if gram == .products {
            selection = verifyReplay ? try GramSelection.make(reader: reader, input: input, choice: .replay)
                                     : GramSelection(provider: nil, replay: nil, note: "M-products only (--gram products): top-k elsewhere")
        } else {
            selection = try GramSelection.make(reader: reader, input: input, choice: verifyReplay && gram == .auto ? .replay : gram)
        }
        gramSelected?(selection.note)
        var result = try analyze(input, gram: selection.provider, options: options, gramNote: selection.note,
                                 outputBias: OutputBias.from(reader: reader, input: input), verifyReplay: verifyReplay,
                                 progress: progress)
        if let r = selection.replay { result.gram.replay = r.report }
        // Conventions are checked, not trusted (on the recording's first steps).
        result.conventions = try ConventionCheck.run(reader: reader)
        let costRows = (rows ?? 0..<input.count)
        let it = try reader.costSeries(RecordedProducts.eigensolverIterations, rows: costRows)
        let mv = try reader.costSeries(RecordedProducts.eigensolverMatvecs, rows: costRows)
        let sec = try reader.costSeries(RecordedProducts.stepSeconds, rows: costRows)
        if it != nil || mv != nil || sec != nil {
            result.solverCost = SolverCost(rows: costRows.count, iterations: it.map(Distribution.init),
                                           matvecs: mv.map(Distribution.init), matvecsTotal: mv?.reduce(0, +),
                                           stepSeconds: sec.map(Distribution.init), secondsTotal: sec?.reduce(0, +))
        }
        return AnalyzedRecording(input: input, result: result, gramNote: selection.note)
    }

    /// `analyzeRecording(reader:options:gram:steps:progress:)`'s result only.
    public static func analyze(reader: TrajectoryReader, options: AnalysisOptions = .init(), gram: GramChoice = .auto,
                               steps: ClosedRange<Int64>? = nil, verifyReplay: Bool = false,
                               progress: ((Int, Int) -> Void)? = nil) throws -> AnalysisResult {
        try analyzeRecording(reader: reader, options: options, gram: gram, steps: steps, verifyReplay: verifyReplay,
                             progress: progress).result
    }
}
