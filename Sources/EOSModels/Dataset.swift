import EOSNumerics
import Foundation

/// A regression data set: X (n × d, one row per sample) and targets Y (n; for c outputs n × c
/// flattened sample-major, index i·c + a).
public struct Dataset: Sendable {
    public var X: Matrix
    public var Y: [Double]
    /// c, the number of targets per sample (1: the paper's scalar targets).
    public var outputs: Int = 1
    /// Human-readable provenance (source, classes, seed, preprocessing).
    public var source: String
    public var n: Int { X.rows }
    public var d: Int { X.cols }

    public init(X: Matrix, Y: [Double], source: String) {
        precondition(X.rows == Y.count, "Dataset: X has \(X.rows) rows, Y has \(Y.count) entries")
        self.X = X; self.Y = Y; self.source = source
    }

    /// A data set with c = `outputs` targets per sample (Y n·c values, sample-major).
    public init(X: Matrix, Y: [Double], outputs: Int, source: String) {
        precondition(outputs >= 1 && X.rows * outputs == Y.count, "Dataset: X has \(X.rows) rows, Y has \(Y.count) entries for \(outputs) outputs")
        self.X = X; self.Y = Y; self.outputs = outputs; self.source = source
    }

    /// Y as an n × c matrix.
    public var targets: Matrix { Matrix(rows: X.rows, cols: outputs, data: Y) }

    /// Subtracts the per-feature mean over the samples (in place).
    public mutating func center() {
        let n = X.rows, d = X.cols
        guard n > 0 else { return }
        let mean = BLAS.gemv(X, [Double](repeating: 1 / Double(n), count: n), trans: .transpose)
        for i in 0..<n { for j in 0..<d { X.data[i * d + j] -= mean[j] } }
    }
}

/// Errors reading data files. Each names the file and the problem in one line.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(file: String, reason: String)
    case malformed(file: String, problem: String)
    case unsupported(file: String, problem: String)
    case invalidRequest(String)

    public var description: String {
        switch self {
        case let .cannotOpen(f, r): return "\(f): cannot open: \(r)"
        case let .malformed(f, p): return "\(f): malformed: \(p)"
        case let .unsupported(f, p): return "\(f): unsupported: \(p)"
        case let .invalidRequest(s): return s
        }
    }
}
