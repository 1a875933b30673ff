import Foundation
import TrajectoryFormat

extension Analyzer {
    /// Analyzes a recording: loads it (`AnalysisInput(reader:)`), picks M(t) per `gram`
    /// (`GramSelection`), runs `analyze`, and attaches the replay report.
    ///
    /// - Parameter steps: analyze only recorded steps in this closed range (nil: all).
    public static func analyze(reader: TrajectoryReader, options: AnalysisOptions = .init(), gram: GramChoice = .auto,
                               steps: ClosedRange<Int64>? = nil,
                               progress: ((Int, Int) -> Void)? = nil) throws -> AnalysisResult {
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
        var result = try analyze(input, gram: selection.provider, options: options, gramNote: selection.note,
                                 progress: progress)
        if let r = selection.replay { result.gram.replay = r.report }
        return result
    }
}
