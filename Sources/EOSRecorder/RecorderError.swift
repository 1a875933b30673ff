/// Errors of the recorder (shapes handed to `Recorder`, resume, and the API's own checks). The
/// configuration's errors are `RunError` (EOSRun); the messages read the same.
public enum RecorderError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(source: String, problem: String)
    case shapeMismatch(object: String, expected: String, got: String)
    case nonFinite(object: String)
    case cannotResume(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(s, p): return "\(s): invalid configuration: \(p)"
        case let .shapeMismatch(o, e, g): return "\(o): expected \(e), got \(g)"
        case let .nonFinite(o): return "\(o): contains NaN or Inf"
        case let .cannotResume(f, p): return "\(f): cannot resume: \(p)"
        }
    }
}
