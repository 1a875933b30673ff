/// Errors of a run's configuration and data: a config that does not parse or is out of range, and
/// a recording whose stored configuration or data cannot be rebuilt (resume, replay).
public enum RunError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(source: String, problem: String)
    case cannotResume(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(s, p): return "\(s): invalid configuration: \(p)"
        case let .cannotResume(f, p): return "\(f): cannot resume: \(p)"
        }
    }
}
