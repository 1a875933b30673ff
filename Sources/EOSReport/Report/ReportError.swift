import Foundation

/// Why a report or comparison could not be built. `description` is one line naming the run
/// (its file or label), the object and the problem.
public enum ReportError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A per-step series has another length than `steps`.
    case lengthMismatch(run: String, field: String, expected: Int, actual: Int)
    /// `steps` is not strictly increasing at `index`.
    case stepsNotIncreasing(run: String, index: Int)
    /// η is not a positive finite number.
    case invalidLearningRate(run: String, value: Double)
    /// A phase value outside 1...4.
    case invalidPhase(run: String, index: Int, value: Int)
    /// `--from` is greater than `--to`.
    case invalidWindow(run: String, from: Int?, to: Int?)
    /// The window holds no recorded step.
    case emptyWindow(run: String, from: Int?, to: Int?, first: Int?, last: Int?)
    /// `compare` was given no runs.
    case noRuns

    public var description: String {
        func w(_ v: Int?) -> String { v.map(String.init) ?? "-" }
        switch self {
        case let .lengthMismatch(run, field, expected, actual):
            return "\(run): \(field) has \(actual) entries but steps has \(expected)"
        case let .stepsNotIncreasing(run, index):
            return "\(run): steps are not strictly increasing at index \(index)"
        case let .invalidLearningRate(run, value):
            return "\(run): learning rate η = \(value) is not a positive finite number"
        case let .invalidPhase(run, index, value):
            return "\(run): phase[\(index)] = \(value) is not in 1...4"
        case let .invalidWindow(run, from, to):
            return "\(run): step window --from \(w(from)) --to \(w(to)) is empty (from > to)"
        case let .emptyWindow(run, from, to, first, last):
            return "\(run): step window --from \(w(from)) --to \(w(to)) holds no recorded step (recorded steps \(w(first))...\(w(last)))"
        case .noRuns:
            return "compare: no runs given"
        }
    }
}
