import HDF5Kit

/// The M-products of format 1.1 (optional series on the `step` coordinate, written by a recorder
/// that holds M(t)): with them the analysis needs no replay and no checkpoint.
///
/// - `gram_residual` = M(t)D(t), [step, sample];
/// - `r_prime` = R′(t) restarted (R′ := R) at every causal phase-II start — a step a with
///   Λ(a) > 2/η whose predecessor is not recorded or has Λ(a−1) ≤ 2/η — and otherwise
///   R′(t+1) = (I − ηM(t)(I − v1(t)v1(t)ᵀ))R′(t), [step, sample];
/// - `r_prime_from_start` = the same recursion started at the first recorded step, [step, sample];
/// - per-step solver cost: `eigensolver_iterations`, `eigensolver_matvecs`, `step_seconds`.
public enum RecordedProducts {
    // The names are the layout's (one place: `Layout.Series`).
    public static let gramResidual = Layout.Series.gramResidual
    public static let rPrime = Layout.Series.rPrime
    public static let rPrimeFromStart = Layout.Series.rPrimeFromStart
    public static let eigensolverIterations = Layout.Series.eigensolverIterations
    public static let eigensolverMatvecs = Layout.Series.eigensolverMatvecs
    public static let stepSeconds = Layout.Series.stepSeconds
    /// The [step, sample] products.
    public static let vectorSeries = [gramResidual, rPrime, rPrimeFromStart]
    /// The per-step cost series.
    public static let costSeries = [eigensolverIterations, eigensolverMatvecs, stepSeconds]
    /// `/run@loss_convention`.
    public static let lossConventionAttribute = "loss_convention"
}

extension TrajectoryReader {
    /// Whether the file holds the [step, sample] product `name` (one of `RecordedProducts.vectorSeries`).
    public func hasProduct(_ name: String) -> Bool { has(name) }

    /// Rows `rows` of the [step, sample] ([step, sample, output] for c > 1) product `name`,
    /// row-major (rows.count × n·c).
    ///
    /// - Throws: `TrajectoryError(.invalidData)` naming the file and the object when the dataset is
    ///   not [step, n] with at least `rows.upperBound` recorded rows or holds NaN/Inf;
    ///   `.missingObject` when it is absent.
    public func productRows(_ name: String, rows: Range<Int>) throws -> [Double] {
        let p = Layout.path(name)
        let ds = try dataset(p)
        let shape = try ds.shape()
        let c = outputCount, n = flatCount
        guard c > 1 ? (shape.count == 3 && shape[1] == self.n && shape[2] == c) : (shape.count == 2 && shape[1] == n) else {
            throw TrajectoryError(.invalidData, file: path, object: p,
                                  c > 1 ? "expected shape [step, \(self.n), \(c)] (n_samples, n_outputs), got \(shape)"
                                        : "expected shape [step, \(n)] (n_samples = \(n)), got \(shape)")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
            throw TrajectoryError(.invalidData, file: path, object: p,
                                  "has \(shape[0]) rows, /trajectory/step needs \(rows.upperBound)")
        }
        if rows.isEmpty { return [] }
        let values = try ds.readRows(rows, as: Double.self)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw TrajectoryError(.invalidData, file: path, object: p,
                                  "non-finite value \(values[bad]) at row \(rows.lowerBound + bad / max(n, 1))")
        }
        return values
    }

    /// Rows `rows` of a per-step cost series (`RecordedProducts.costSeries`), or nil when absent.
    ///
    /// - Throws: `TrajectoryError(.invalidData)` when it is not 1-D with enough rows.
    public func costSeries(_ name: String, rows: Range<Int>) throws -> [Double]? {
        guard has(name) else { return nil }
        let p = Layout.path(name)
        let ds = try dataset(p)
        let shape = try ds.shape()
        guard shape.count == 1, rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
            throw TrajectoryError(.invalidData, file: path, object: p,
                                  "expected shape [step] with ≥ \(rows.upperBound) rows, got \(shape)")
        }
        return rows.isEmpty ? [] : try ds.readRows(rows, as: Double.self)
    }

    /// `/run@loss_convention` as stored (nil when the file does not state it: the paper's ‖D‖²/n).
    ///
    /// - Throws: `TrajectoryError(.invalidData)` when the attribute is not a string.
    public func lossConventionAttribute() throws -> String? {
        let run = try file.group(Layout.run)
        let name = RecordedProducts.lossConventionAttribute
        guard run.hasAttribute(name) else { return nil }
        do { return try run.stringAttribute(name) } catch {
            throw TrajectoryError(.invalidData, file: path, object: "/run@\(name)", "not a string attribute (\(error))")
        }
    }

    /// `/run@gram_definition` as stored, or nil.
    public func gramDefinitionAttribute() -> String? {
        guard let run = try? file.group(Layout.run), run.hasAttribute("gram_definition") else { return nil }
        return try? run.stringAttribute("gram_definition")
    }
}

/// Reads the [step, sample] products in blocks of rows as the analysis walks forward (bounded
/// memory: one block per product). Not thread-safe.
public final class ProductBlockReader {
    public let name: String
    private let reader: TrajectoryReader
    private let rows: Range<Int>
    private let blockRows: Int
    private var block: [Double] = []
    private var blockStart = -1
    private let n: Int

    /// - Parameters:
    ///   - rows: the file rows the analysis reads (its row 0 is `rows.lowerBound`).
    /// - Throws: as `TrajectoryReader.productRows` for the shape (checked now, on the first block).
    public init(reader: TrajectoryReader, name: String, rows: Range<Int>, blockRows: Int = 256) throws {
        self.reader = reader
        self.name = name
        self.rows = rows
        self.blockRows = max(1, blockRows)
        n = reader.flatCount
        _ = try vector(atRow: 0)
    }

    /// The product at analysis row `row` (N = n·c values, sample-major).
    public func vector(atRow row: Int) throws -> ArraySlice<Double> {
        if blockStart < 0 || row < blockStart || row >= blockStart + block.count / max(n, 1) {
            let lo = rows.lowerBound + row
            let hi = min(rows.upperBound, lo + blockRows)
            block = try reader.productRows(name, rows: lo..<hi)
            blockStart = row
        }
        let base = (row - blockStart) * n
        return block[base..<(base + n)]
    }
}
