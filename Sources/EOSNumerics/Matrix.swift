/// A dense row-major matrix of `Double`: `m[i, j] == m.data[i * m.cols + j]`.
///
/// Value semantics (copy on write through the `data` array). Shapes are checked with
/// `precondition` — a mismatch is programmer misuse inside the library, not bad input.
public struct Matrix: Sendable, Equatable {
    public private(set) var rows: Int
    public private(set) var cols: Int
    public var data: [Double]

    /// A `rows × cols` matrix filled with `value`.
    public init(rows: Int, cols: Int, repeating value: Double = 0) {
        precondition(rows >= 0 && cols >= 0, "Matrix: negative shape")
        self.rows = rows
        self.cols = cols
        self.data = [Double](repeating: value, count: rows * cols)
    }

    /// Wraps `data` (row-major, `rows * cols` entries).
    public init(rows: Int, cols: Int, data: [Double]) {
        precondition(data.count == rows * cols, "Matrix: data has \(data.count) entries, shape \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Builds a matrix from nested rows (all of equal length).
    public init(_ rowsArray: [[Double]]) {
        let r = rowsArray.count
        let c = rowsArray.first?.count ?? 0
        precondition(rowsArray.allSatisfy { $0.count == c }, "Matrix: ragged rows")
        self.init(rows: r, cols: c, data: rowsArray.flatMap { $0 })
    }

    /// The `n × n` identity.
    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, cols: n)
        for i in 0..<n { m.data[i * n + i] = 1 }
        return m
    }

    public subscript(i: Int, j: Int) -> Double {
        get { data[i * cols + j] }
        set { data[i * cols + j] = newValue }
    }

    /// Row `i` as an array (copy).
    public func row(_ i: Int) -> [Double] { Array(data[(i * cols)..<((i + 1) * cols)]) }

    /// Column `j` as an array (copy).
    public func column(_ j: Int) -> [Double] { (0..<rows).map { data[$0 * cols + j] } }

    /// Replaces row `i`.
    public mutating func setRow(_ i: Int, _ values: [Double]) {
        precondition(values.count == cols)
        data.replaceSubrange((i * cols)..<((i + 1) * cols), with: values)
    }

    /// The transpose (a copy, O(rows·cols)).
    public var transposed: Matrix {
        var t = Matrix(rows: cols, cols: rows)
        data.withUnsafeBufferPointer { src in
            t.data.withUnsafeMutableBufferPointer { dst in
                for i in 0..<rows {
                    for j in 0..<cols { dst[j * rows + i] = src[i * cols + j] }
                }
            }
        }
        return t
    }

    /// Reinterprets the same data with a new shape of equal size.
    public func reshaped(rows r: Int, cols c: Int) -> Matrix { Matrix(rows: r, cols: c, data: data) }

    /// Frobenius norm.
    public var frobeniusNorm: Double { BLAS.nrm2(data) }

    /// Largest absolute difference between entries of two equally shaped matrices.
    public func maxAbsDifference(_ other: Matrix) -> Double {
        precondition(rows == other.rows && cols == other.cols)
        var m = 0.0
        for k in 0..<data.count { m = Swift.max(m, abs(data[k] - other.data[k])) }
        return m
    }

    /// Whether every entry is finite.
    public var isFinite: Bool { data.allSatisfy { $0.isFinite } }

    /// Copies the lower triangle from the upper one (after `syrk` with `.upper`).
    public mutating func symmetrizeFromUpper() {
        precondition(rows == cols)
        let n = rows
        data.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { for j in 0..<i { p[i * n + j] = p[j * n + i] } }
        }
    }

    /// Sub-matrix of rows `range` (copy).
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, data: Array(data[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }
}

extension Matrix: CustomStringConvertible {
    public var description: String {
        var s = "Matrix(\(rows)×\(cols))"
        if rows * cols <= 64 {
            for i in 0..<rows { s += "\n  " + row(i).map { String(format: "%.6g", $0) }.joined(separator: " ") }
        }
        return s
    }
}

import Foundation
