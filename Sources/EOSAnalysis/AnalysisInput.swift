import TrajectoryFormat

/// Everything the analyzer needs from one recording, held in memory.
///
/// Rows are recorded steps, in increasing step order. Steps may have gaps (a recording made at a
/// cadence): every analysis that needs two consecutive GD steps (anomalies, R′ tracking,
/// first-order errors, ε2, Lemma 3.2 ratios, monotonicity) uses only *consecutive pairs*, i.e. rows
/// `i, i+1` with `steps[i+1] == steps[i] + 1`. Phase segmentation works on rows (a run of rows with
/// Λ > 2/η is a run even across a gap). R′ tracking restarts (R′ := R) after every gap.
///
/// Shapes (T rows, n samples, k eigenpairs), all row-major, sample index last:
/// `residual` T×n, `outputs` T×n, `eigenvalues` T×k (descending), `eigenvectors` T×k×n — or only
/// v₁, T×1×n, with the rest read on demand (`vectorsPerRow`, `topEigenvectors(row:)`).
public struct AnalysisInput: Sendable {
    /// GD step index t of each row, strictly increasing.
    public var steps: [Int64]
    /// Constant step size η.
    public var learningRate: Double
    /// Number of samples n.
    public var n: Int
    /// Number of recorded eigenpairs per row (≥ 1).
    public var k: Int
    /// L(t) = ‖D(t)‖²/n.
    public var loss: [Double]
    /// D(t) = F(t) − Y, T×n.
    public var residual: [Double]
    /// F(t), T×n, when recorded.
    public var outputs: [Double]?
    /// Targets Y (n), when known. Needed for Propositions 3.1/3.2 (‖Y‖).
    public var targets: [Double]?
    /// ‖A(t)‖².
    public var outputNormSq: [Double]
    /// Λ(t) = λ_1(M(t)).
    public var sharpness: [Double]
    /// Top-k eigenvalues of M(t), T×k, descending.
    public var eigenvalues: [Double]
    /// Unit eigenvectors, T×`vectorsPerRow`×n, signs continuous in t.
    public var eigenvectors: [Double]
    /// Row → its k×n eigenvectors. When set, `eigenvectors` holds only v₁ (T×1×n) and the others
    /// are read on demand — what `AnalysisInput(reader:)` does, since only rows that fall back to
    /// the top-k approximation need them (memory T·n·3 instead of T·n·(k+2)).
    public var loadEigenvectors: (@Sendable (Int) throws -> [Double])?
    /// Eigenvectors per row held in `eigenvectors`: k, or 1 when `loadEigenvectors` is set.
    public var vectorsPerRow: Int { loadEigenvectors == nil ? k : 1 }
    /// D(t)ᵀF(t).
    public var dtf: [Double]
    /// λ_max(M_A(t)), when recorded.
    public var outputLayerSharpness: [Double]?
    /// Model kind from the model description ("mlp", "two_layer_linear", "external", …).
    public var modelKind: String?
    /// The recorder's eigensolver tolerance (‖Mv − λv‖ ≤ tol·‖M‖; `/run@config` `eigen_tolerance`),
    /// when the recording states it; it sets the accuracy floor of c1 (`Analyzer.c1AccuracyFloor`).
    public var eigenTolerance: Double?
    /// The recorded M-products (format 1.1), when the file has them: the analysis then takes
    /// M(t)D(t) and both R′ chains from the file (exact, no replay).
    public var products: ProductSource?

    public init(steps: [Int64], learningRate: Double, n: Int, k: Int, loss: [Double], residual: [Double],
                outputs: [Double]? = nil, targets: [Double]? = nil, outputNormSq: [Double], sharpness: [Double],
                eigenvalues: [Double], eigenvectors: [Double], dtf: [Double],
                outputLayerSharpness: [Double]? = nil, modelKind: String? = nil) {
        self.steps = steps
        self.learningRate = learningRate
        self.n = n
        self.k = k
        self.loss = loss
        self.residual = residual
        self.outputs = outputs
        self.targets = targets
        self.outputNormSq = outputNormSq
        self.sharpness = sharpness
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.loadEigenvectors = nil
        self.dtf = dtf
        self.outputLayerSharpness = outputLayerSharpness
        self.modelKind = modelKind
    }

    /// Number of rows T.
    public var count: Int { steps.count }

    /// v₁(t) at `row` (n values).
    @inlinable public func leadingEigenvector(row: Int) -> ArraySlice<Double> {
        let base = row * vectorsPerRow * n
        return eigenvectors[base..<(base + n)]
    }

    /// The k eigenvectors at `row` (k×n), from memory or read on demand.
    public func topEigenvectors(row: Int) throws -> [Double] {
        if vectorsPerRow == k { return Array(eigenvectors[(row * k * n)..<((row + 1) * k * n)]) }
        guard let load = loadEigenvectors else {
            throw AnalysisError.invalidInput(object: "eigenvectors", problem: "only v1 is loaded and no reader is attached")
        }
        let v = try load(row)
        guard v.count == k * n else {
            throw AnalysisError.invalidInput(object: "eigenvectors", problem: "row \(row) has \(v.count) values, expected \(k * n)")
        }
        if let bad = v.firstIndex(where: { !$0.isFinite }) {
            throw AnalysisError.invalidInput(object: "eigenvectors", problem: "non-finite value \(v[bad]) at row \(row)")
        }
        return v
    }

    /// True when rows `i` and `i+1` are consecutive GD steps.
    @inlinable public func isConsecutive(_ i: Int) -> Bool {
        i + 1 < steps.count && steps[i + 1] == steps[i] &+ 1
    }

    /// ‖Y‖, from `targets`, else from `outputs − residual` at row 0; nil when neither is known.
    public var targetNorm: Double? {
        if let y = targets { return norm2(y[...]) }
        if let f = outputs, count > 0 {
            var s = 0.0
            for j in 0..<n { let y = f[j] - residual[j]; s += y * y }
            return s.squareRoot()
        }
        return nil
    }

    /// Checks shapes, ordering and finiteness; throws `AnalysisError.invalidInput` naming the series.
    public func validate() throws {
        let t = count
        func need(_ ok: Bool, _ object: String, _ problem: @autoclosure () -> String) throws {
            if !ok { throw AnalysisError.invalidInput(object: object, problem: problem()) }
        }
        try need(t >= 1, "step", "no recorded steps")
        try need(n >= 1, "residual", "n must be ≥ 1, got \(n)")
        try need(k >= 1, "eigenvalues", "k must be ≥ 1, got \(k)")
        try need(SeriesInvariants.isValidLearningRate(learningRate), "learning_rate", "must be finite and > 0, got \(learningRate)")
        if let i = SeriesInvariants.firstNonIncreasingIndex(steps) {
            throw AnalysisError.invalidInput(object: "step", problem: "not strictly increasing at row \(i) (\(steps[i - 1]) then \(steps[i]))")
        }
        // Overflow-checked: n and k come from the file (/run@n_samples = 2^62 must not trap).
        func times(_ a: Int...) -> Int? { SeriesInvariants.checkedProduct(a) }
        let series: [(String, [Double]?, Int?)] = [
            ("loss", loss, t), ("residual", residual, times(t, n)), ("outputs", outputs, times(t, n)), ("Y", targets, n),
            ("output_norm_sq", outputNormSq, t), ("sharpness", sharpness, t), ("eigenvalues", eigenvalues, times(t, k)),
            ("eigenvectors", eigenvectors, times(t, vectorsPerRow, n)), ("dtf", dtf, t), ("output_layer_sharpness", outputLayerSharpness, t),
        ]
        for (name, values, expectedOrNil) in series {
            guard let values else { continue }
            guard let expected = expectedOrNil else {
                throw AnalysisError.invalidInput(object: name, problem: "has \(values.count) values, expected more than 2^63 (n = \(n), k = \(k))")
            }
            try need(values.count == expected, name, "has \(values.count) values, expected \(expected)")
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw AnalysisError.invalidInput(object: name, problem: "non-finite value \(values[bad]) at flat index \(bad)")
            }
        }
    }
}

/// Errors of the analysis layer. `description` is one line naming the object and the problem.
public enum AnalysisError: Error, CustomStringConvertible, Equatable {
    /// The input series are inconsistent or contain values that may not occur.
    case invalidInput(object: String, problem: String)
    /// A Gram provider failed or returned a matrix of the wrong shape.
    case gram(row: Int, problem: String)
    /// Replay of the recorded run failed.
    case replay(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidInput(object, problem): return "analysis input \(object): \(problem)"
        case let .gram(row, problem): return "Gram matrix at row \(row): \(problem)"
        case let .replay(file, problem): return "\(file): replay: \(problem)"
        }
    }
}
