import EOSNumerics
import Foundation
import HDF5Kit

/// Reader of a user's data set stored in an HDF5 file: X (n × d) and Y (n, or n × 1) as two
/// numeric datasets (float32/float64/integer), converted to Double.
public enum HDF5Data {
    /// Loads X and Y from the datasets `x` and `y` of `file` (absolute names, e.g. "/X"; a name
    /// without a leading slash is taken from the root group). With `multiOutput`, Y may be
    /// [n, c] (c targets per sample).
    public static func loadDataset(file: String, x: String, y: String, multiOutput: Bool = false) throws -> Dataset {
        guard FileManager.default.fileExists(atPath: file) else { throw DataError.cannotOpen(file: file, reason: "no such file") }
        let h: HDF5File
        do { h = try HDF5File.open(file, mode: .readOnly) } catch {
            throw DataError.cannotOpen(file: file, reason: "not a readable HDF5 file")
        }
        defer { try? h.close() }
        func path(_ s: String) -> String { s.hasPrefix("/") ? s : "/" + s }
        func read(_ name: String, what: String) throws -> (shape: [Int], values: [Double]) {
            let p = path(name)
            guard h.exists(p) else { throw DataError.malformed(file: file, problem: "\(what) dataset \(p) not found") }
            do {
                let ds = try h.dataset(p)
                let info = try ds.typeInfo()
                guard info.typeClass == .float || info.typeClass == .integer else {
                    throw DataError.unsupported(file: file, problem: "\(what) dataset \(p) is not numeric (\(info))")
                }
                return (try ds.shape(), try ds.read(Double.self))
            } catch let e as DataError { throw e } catch {
                throw DataError.malformed(file: file, problem: "\(what) dataset \(p) cannot be read (\(error))")
            }
        }
        let (xs, xv) = try read(x, what: "X")
        let (ys, yv) = try read(y, what: "Y")
        return try makeDataset(xShape: xs, x: xv, yShape: ys, y: yv, xName: "\(file):\(path(x))", yName: "\(file):\(path(y))",
                               source: "hdf5 \(file) X=\(path(x)) Y=\(path(y))", multiOutput: multiOutput)
    }

    /// Checks shapes ([n, d] and [n] or [n, 1]) and finiteness; errors name `xName`/`yName`.
    /// With `multiOutput`, Y may be [n, c] for any c ≥ 1 (the data set then has c outputs).
    static func makeDataset(xShape: [Int], x: [Double], yShape: [Int], y: [Double], xName: String, yName: String,
                            source: String, multiOutput: Bool = false) throws -> Dataset {
        guard xShape.count == 2 else { throw DataError.malformed(file: xName, problem: "X must be 2-D (n × d), shape \(xShape)") }
        guard xShape[0] > 0, xShape[1] > 0 else { throw DataError.malformed(file: xName, problem: "X is empty, shape \(xShape)") }
        if multiOutput && yShape.count == 2 && yShape[1] != 1 {
            guard yShape[0] == xShape[0], yShape[1] >= 1 else {
                throw DataError.malformed(file: yName, problem: "Y shape \(yShape) does not match the \(xShape[0]) samples of X (need [\(xShape[0]), c] with c ≥ 1)")
            }
            if let i = x.firstIndex(where: { !$0.isFinite }) {
                throw DataError.malformed(file: xName, problem: "X contains NaN or Inf (first at row \(i / xShape[1]), column \(i % xShape[1]))")
            }
            if let i = y.firstIndex(where: { !$0.isFinite }) {
                throw DataError.malformed(file: yName, problem: "Y contains NaN or Inf (first at row \(i / yShape[1]), column \(i % yShape[1]))")
            }
            return Dataset(X: Matrix(rows: xShape[0], cols: xShape[1], data: x), Y: y, outputs: yShape[1], source: source)
        }
        let yn = yShape.count == 1 ? yShape[0] : (yShape.count == 2 && yShape[1] == 1 ? yShape[0] : -1)
        guard yn == xShape[0] else {
            throw DataError.malformed(file: yName, problem: "Y shape \(yShape) does not match the \(xShape[0]) samples of X (need [\(xShape[0])] or [\(xShape[0]), 1])")
        }
        if let i = x.firstIndex(where: { !$0.isFinite }) {
            throw DataError.malformed(file: xName, problem: "X contains NaN or Inf (first at row \(i / xShape[1]), column \(i % xShape[1]))")
        }
        if let i = y.firstIndex(where: { !$0.isFinite }) {
            throw DataError.malformed(file: yName, problem: "Y contains NaN or Inf (first at index \(i))")
        }
        return Dataset(X: Matrix(rows: xShape[0], cols: xShape[1], data: x), Y: y, source: source)
    }
}
