import TrajectoryFormat

/// Everything the analyzer needs from one recording, held in memory.
///
/// Rows are recorded steps, in increasing step order. Steps may have gaps (a recording made at a
/// cadence): every analysis that needs two consecutive GD steps (anomalies, R′ tracking,
/// first-order errors, ε2, Lemma 3.2 ratios, monotonicity) uses only *consecutive pairs*, i.e. rows
/// `i, i+1` with `steps[i+1] == steps[i] + 1`. Phase segmentation works on rows (a run of rows with
/// Λ > 2/η is a run even across a gap). R′ tracking restarts (R′ := R) after every gap.
///
/// Shapes (T rows, n samples, c outputs, k eigenpairs), all row-major: every vector over the
/// outputs has `dimension` = n·c entries, flattened sample-major (index i·c + a; c = 1 is the
/// paper's scalar output, where n·c = n): `residual` T×nc, `outputs` T×nc, `eigenvalues` T×k
/// (descending), `eigenvectors` T×k×nc — or only v₁, T×1×nc, with the rest read on demand
/// (`vectorsPerRow`, `topEigenvectors(row:)`). Scalars divide by the *sample* count n:
/// L = ‖D‖_F²/n, ‖R‖²/n, the (4η/n) of the ‖A‖² line.
public struct AnalysisInput: Sendable {
    /// GD step index t of each row, strictly increasing.
    public var steps: [Int64]
    /// Constant step size η.
    public var learningRate: Double
    /// Number of samples n (the divisor of L = ‖D‖_F²/n; not the vector length when c > 1).
    public var n: Int
    /// Number of outputs c (1: the paper's scalar output).
    public var outputCount: Int
    /// Length of every vector over the outputs (D, F, v_i, M-products): n·c.
    public var dimension: Int { n &* outputCount }
    /// Eigenvectors stored per row in the recording (the top-j option of format 2.0: v₁…v_j,
    /// j ≤ k; the eigenvalues are still k; nil when all k are stored). The top-k approximation of M
    /// uses these j pairs.
    public var storedEigenvectors: Int {
        get { storedEigenvectorCount ?? k }
        set { storedEigenvectorCount = newValue }
    }
    private var storedEigenvectorCount: Int?
    /// Number of recorded eigenpairs per row (≥ 1).
    public var k: Int
    /// L(t) = ‖D(t)‖_F²/n.
    public var loss: [Double]
    /// D(t) = F(t) − Y, T×nc.
    public var residual: [Double]
    /// F(t), T×nc, when recorded.
    public var outputs: [Double]?
    /// Targets Y (nc), when known. Needed for Propositions 3.1/3.2 (‖Y‖).
    public var targets: [Double]?
    /// ‖A(t)‖² (‖A‖_F² for c outputs).
    public var outputNormSq: [Double]
    /// Λ(t) = λ_1(M(t)).
    public var sharpness: [Double]
    /// Top-k eigenvalues of M(t), T×k, descending.
    public var eigenvalues: [Double]
    /// Unit eigenvectors, T×`vectorsPerRow`×nc, signs continuous in t.
    public var eigenvectors: [Double]
    /// Row → its j×nc eigenvectors (j = `storedEigenvectors`). When set, `eigenvectors` holds only v₁ (T×1×nc) and the others
    /// are read on demand — what `AnalysisInput(reader:)` does, since only rows that fall back to
    /// the top-k approximation need them (memory T·n·3 instead of T·n·(k+2)).
    public var loadEigenvectors: (@Sendable (Int) throws -> [Double])?
    /// Eigenvectors per row held in `eigenvectors`: j (= k unless fewer are stored), or 1 when
    /// `loadEigenvectors` is set.
    public var vectorsPerRow: Int { loadEigenvectors == nil ? storedEigenvectors : 1 }
    /// D(t)ᵀF(t) (⟨D, F⟩_F for c outputs).
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

    /// - Parameters:
    ///   - outputCount: c (vectors have n·c entries, sample-major).
    ///   - storedEigenvectors: j ≤ k eigenvectors per row (nil: all k).
    public init(steps: [Int64], learningRate: Double, n: Int, outputCount: Int = 1, k: Int, loss: [Double], residual: [Double],
                outputs: [Double]? = nil, targets: [Double]? = nil, outputNormSq: [Double], sharpness: [Double],
                eigenvalues: [Double], eigenvectors: [Double], storedEigenvectors: Int? = nil, dtf: [Double],
                outputLayerSharpness: [Double]? = nil, modelKind: String? = nil) {
        self.steps = steps
        self.learningRate = learningRate
        self.n = n
        self.outputCount = outputCount
        self.k = k
        self.storedEigenvectorCount = storedEigenvectors == k ? nil : storedEigenvectors
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

    /// v₁(t) at `row` (nc values).
    @inlinable public func leadingEigenvector(row: Int) -> ArraySlice<Double> {
        let nc = dimension
        let base = row * vectorsPerRow * nc
        return eigenvectors[base..<(base + nc)]
    }

    /// D(t) at `row` (nc values, sample-major).
    @inlinable public func residualVector(row: Int) -> ArraySlice<Double> {
        let nc = dimension
        return residual[(row * nc)..<((row + 1) * nc)]
    }

    /// The j stored eigenvectors at `row` (j×nc, j = `storedEigenvectors`), from memory or read on demand.
    public func topEigenvectors(row: Int) throws -> [Double] {
        let j = storedEigenvectors, nc = dimension
        if vectorsPerRow == j { return Array(eigenvectors[(row * j * nc)..<((row + 1) * j * nc)]) }
        guard let load = loadEigenvectors else {
            throw AnalysisError.invalidInput(object: "eigenvectors", problem: "only v1 is loaded and no reader is attached")
        }
        let v = try load(row)
        guard v.count == j * nc else {
            throw AnalysisError.invalidInput(object: "eigenvectors", problem: "row \(row) has \(v.count) values, expected \(j * nc)")
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
            for j in 0..<dimension { let y = f[j] - residual[j]; s += y * y }
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
        try need(outputCount >= 1, "residual", "the number of outputs c must be ≥ 1, got \(outputCount)")
        try need(storedEigenvectors >= 1 && storedEigenvectors <= k, "eigenvectors",
                 "\(storedEigenvectors) eigenvectors stored per step, expected 1…k = \(k) (v1 is needed for c1)")
        try need(SeriesInvariants.isValidLearningRate(learningRate), "learning_rate", "must be finite and > 0, got \(learningRate)")
        if let i = SeriesInvariants.firstNonIncreasingIndex(steps) {
            throw AnalysisError.invalidInput(object: "step", problem: "not strictly increasing at row \(i) (\(steps[i - 1]) then \(steps[i]))")
        }
        // Overflow-checked: n and k come from the file (/run@n_samples = 2^62 must not trap).
        func times(_ a: Int...) -> Int? { SeriesInvariants.checkedProduct(a) }
        let nc = times(n, outputCount)
        let series: [(String, [Double]?, Int?)] = [
            ("loss", loss, t), ("residual", residual, nc.flatMap { times(t, $0) }), ("outputs", outputs, nc.flatMap { times(t, $0) }),
            ("Y", targets, nc),
            ("output_norm_sq", outputNormSq, t), ("sharpness", sharpness, t), ("eigenvalues", eigenvalues, times(t, k)),
            ("eigenvectors", eigenvectors, nc.flatMap { times(t, vectorsPerRow, $0) }), ("dtf", dtf, t),
            ("output_layer_sharpness", outputLayerSharpness, t),
        ]
        for (name, values, expectedOrNil) in series {
            guard let values else { continue }
            guard let expected = expectedOrNil else {
                throw AnalysisError.invalidInput(object: name, problem: "has \(values.count) values, expected more than 2^63 (n = \(n)\(outputCount > 1 ? ", c = \(outputCount)" : ""), k = \(k))")
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
