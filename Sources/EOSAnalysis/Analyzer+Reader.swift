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
    public static func analyzeRecording(reader: TrajectoryReader, options: AnalysisOptions = .init(),
                                        gram: GramChoice = .auto, steps: ClosedRange<Int64>? = nil,
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
        let input = try AnalysisInput(reader: reader, rows: rows)
        let selection = try GramSelection.make(reader: reader, input: input, choice: gram)
        gramSelected?(selection.note)
        var result = try analyze(input, gram: selection.provider, options: options, gramNote: selection.note,
                                 outputBias: OutputBias.from(reader: reader, input: input), progress: progress)
        if let r = selection.replay { result.gram.replay = r.report }
        return AnalyzedRecording(input: input, result: result, gramNote: selection.note)
    }

    /// `analyzeRecording(reader:options:gram:steps:progress:)`'s result only.
    public static func analyze(reader: TrajectoryReader, options: AnalysisOptions = .init(), gram: GramChoice = .auto,
                               steps: ClosedRange<Int64>? = nil,
                               progress: ((Int, Int) -> Void)? = nil) throws -> AnalysisResult {
        try analyzeRecording(reader: reader, options: options, gram: gram, steps: steps, progress: progress).result
    }
}
