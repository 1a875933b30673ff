/// Failures of numerical routines (LAPACK `info != 0`, bad arguments from data).
public enum NumericsError: Error, CustomStringConvertible, Equatable {
    /// A LAPACK routine returned `info != 0`.
    case lapack(routine: String, info: Int32)
    /// Input contained NaN or ±Inf.
    case nonFinite(what: String)
    /// Arguments out of range (e.g. k larger than n).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .lapack(routine, info):
            let reason = info < 0 ? "argument \(-info) had an illegal value" : "failed to converge (info=\(info))"
            return "LAPACK \(routine): \(reason)"
        case let .nonFinite(what): return "\(what): contains NaN or Inf"
        case let .invalidArgument(s): return s
        }
    }
}
