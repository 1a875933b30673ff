/// What a Gram matrix M(t) handed to the analyzer is.
public enum GramSource: String, Codable, Sendable, CaseIterable {
    /// The exact Gram of the recorded network at θ(t) (replayed, or known in closed form).
    case exact
    /// The full M stored in the recording (`/trajectory/gram`), only at its own steps.
    case storedGram = "stored_gram"
    /// Σ_{i≤k} λ_i v_i v_iᵀ from the recorded top-k eigenpairs: exact on span{v_1..v_k}, zero
    /// elsewhere. Results that depend on it are labelled approximate.
    case topK = "top_k_approximation"
}

/// Supplies M(t) row by row. The analyzer asks for rows in increasing order, each row once
/// (per operator), so implementations may replay GD forward and cache only the current state.
///
/// Implement `gram(atRow:)` (dense) or override `applyGram(atRow:to:count:)` (matrix-free, e.g.
/// per-layer kernels); returning nil means "not available at this row" and the analyzer falls back
/// to the top-k approximation there, counting such rows.
public protocol GramProvider: AnyObject {
    /// What this provider's matrices are.
    var source: GramSource { get }
    /// Human description, e.g. "exact Gram by replay from 51 checkpoints".
    var label: String { get }
    /// M(t) at `row`, nc×nc row-major (n·c: samples × outputs, sample-major; n×n for one output),
    /// or nil when not available.
    func gram(atRow row: Int) throws -> [Double]?
    /// M(t) applied to `count` vectors stored as rows of `vectors` (count×nc); same layout out.
    func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]?
    /// For models whose residual update is exactly linear, D(t+1) = (I − η M*(t)) D(t) (the
    /// two-layer linear network of README, What it computes): M*(t) applied to `vector`. nil when not applicable.
    func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]?
}

extension GramProvider {
    public func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]? {
        guard let m = try gram(atRow: row) else { return nil }
        let n = count == 0 ? 0 : vectors.count / count
        guard m.count == n * n else {
            throw AnalysisError.gram(row: row, problem: "has \(m.count) entries, expected \(n)×\(n)")
        }
        return applyDense(m, n: n, to: vectors, count: count)
    }

    public func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]? { nil }
}

/// M(t) ≈ Σ_{i≤j} λ_i v_i v_iᵀ built from the recorded eigenpairs of an `AnalysisInput` (j = the
/// eigenvectors stored per step, k unless the recording stored fewer). Applying it costs O(j·nc)
/// per vector.
public final class TopKGramProvider: GramProvider {
    private let input: AnalysisInput
    public init(_ input: AnalysisInput) { self.input = input }

    public var source: GramSource { .topK }
    public var label: String { "top-\(input.storedEigenvectors) approximation Σ λ_i v_i v_iᵀ of the recorded eigenpairs" }

    public func gram(atRow row: Int) throws -> [Double]? {
        let n = input.dimension, k = input.k
        let vecs = try input.topEigenvectors(row: row)
        var m = [Double](repeating: 0, count: n * n)
        for e in 0..<input.storedEigenvectors {
            let lam = input.eigenvalues[row * k + e]
            let base = e * n
            for i in 0..<n {
                let vi = lam * vecs[base + i]
                for j in 0..<n { m[i * n + j] += vi * vecs[base + j] }
            }
        }
        return m
    }

    public func applyGram(atRow row: Int, to vectors: [Double], count: Int) throws -> [Double]? {
        let n = input.dimension, k = input.k
        let vecs = try input.topEigenvectors(row: row)
        var out = [Double](repeating: 0, count: count * n)
        for e in 0..<input.storedEigenvectors {
            let lam = input.eigenvalues[row * k + e]
            let base = e * n
            let v = vecs[base..<(base + n)]
            for c in 0..<count {
                let coef = lam * dot(v, vectors[(c * n)..<((c + 1) * n)])
                for j in 0..<n { out[c * n + j] += coef * vecs[base + j] }
            }
        }
        return out
    }
}

/// A provider from closures, for matrices known in closed form (tests, analytic models) or read
/// from the file's stored `gram`.
public final class ClosureGramProvider: GramProvider {
    public let source: GramSource
    public let label: String
    private let dense: (Int) throws -> [Double]?
    private let exactUpdate: ((Int) throws -> [Double]?)?
    private let n: Int

    /// - Parameters:
    ///   - n: the vector length, n·c for c outputs (the sample count for one output).
    ///   - dense: row → M(t) (n×n row-major) or nil.
    ///   - exactUpdate: row → M*(t) (n×n) for exactly linear residual updates, or nil.
    public init(source: GramSource, label: String, n: Int, dense: @escaping (Int) throws -> [Double]?,
                exactUpdate: ((Int) throws -> [Double]?)? = nil) {
        self.source = source
        self.label = label
        self.n = n
        self.dense = dense
        self.exactUpdate = exactUpdate
    }

    public func gram(atRow row: Int) throws -> [Double]? { try dense(row) }

    public func applyExactUpdateOperator(atRow row: Int, to vector: [Double]) throws -> [Double]? {
        guard let exactUpdate, let m = try exactUpdate(row) else { return nil }
        guard m.count == n * n, vector.count == n else {
            throw AnalysisError.gram(row: row, problem: "M* has \(m.count) entries, expected \(n)×\(n)")
        }
        return applyDense(m, n: n, to: vector, count: 1)
    }
}
