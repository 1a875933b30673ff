import EOSNumerics
import Foundation
import TrajectoryFormat

/// A deterministic, mutually consistent synthetic recording (no network behind it), for tests,
/// benchmarks and the sample files (eostrace-dev), seeded by `EOSNumerics.SplitMix64`:
/// - eigenvectors are rows of the Householder matrix Q(t) = I − 2 w(t) w(t)ᵀ (‖w‖ = 1), so they
///   are exactly orthonormal (up to round-off) and vary smoothly with t; v_i = e_i − 2 w_i w has
///   its largest-magnitude entry at index i, positive: the unnormalized entries lie in
///   [0.4, 1.1] in magnitude, so w_j² ≤ 1.21/(0.16 n) < 0.24 for n ≥ 32, hence
///   1 − 2w_i² > 0.52 > 2|w_i w_j|;
/// - M(t) = Q diag(λ) Q with λ_1 > λ_2 > … > λ_n > 0, so `spectrum` and `gram` agree with the
///   eigenpairs, and sharpness = λ_1;
/// - loss = ‖D‖²/n, outputs F = Y + D, dtf = DᵀF exactly as computed here.
public struct SyntheticRecording: Sendable {
    public let n: Int, k: Int, d: Int, p: Int
    public let learningRate: Double
    public let seed: UInt64
    /// Inputs, n × d row-major.
    public let X: [Double]
    /// Targets ±1.
    public let Y: [Double]
    private let wA: [Double]
    private let wB: [Double]
    private let residualShape: [Double]

    /// - Precondition: n ≥ 32 (so that w is spread out, see above), 1 ≤ k ≤ n, d ≥ 1, p ≥ 0.
    public init(n: Int, k: Int, d: Int, p: Int, learningRate: Double = 0.01, seed: UInt64 = 1) {
        precondition(n >= 32 && k >= 1 && k <= n && d >= 1 && p >= 0, "SyntheticRecording sizes")
        self.n = n
        self.k = k
        self.d = d
        self.p = p
        self.learningRate = learningRate
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        X = (0..<(n * d)).map { _ in rng.uniform() * 2 - 1 }
        Y = (0..<n).map { _ in rng.uniform() < 0.5 ? -1 : 1 }
        // Entries of magnitude in [0.5, 1]; w(t) perturbs them by at most 0.1 (see `w`).
        wA = (0..<n).map { _ in (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rng.uniform()) }
        wB = (0..<n).map { _ in (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rng.uniform()) }
        residualShape = (0..<n).map { _ in rng.uniform() * 2 - 1 }
    }

    public func metadata(softwareVersion: String = "0.1.0", cadences: String? = nil) -> RunMetadata {
        RunMetadata(learningRate: learningRate, n: n, p: p, k: k,
                    model: "{\"kind\":\"external\",\"description\":\"synthetic recording (no network)\",\"input_dim\":\(d)}",
                    seed: Int64(bitPattern: seed), dataSeed: Int64(bitPattern: seed),
                    config: "{\"synthetic\":true}", dataDescription: "synthetic: X uniform in [-1,1], Y = ±1",
                    cadences: cadences, software: "eostrace", softwareVersion: softwareVersion)
    }

    /// Unit vector w(t) defining Q(t).
    func w(_ t: Double) -> [Double] {
        let a = 0.1 * sin(t / 150)
        var v = [Double](repeating: 0, count: n)
        var s = 0.0
        for j in 0..<n {
            v[j] = wA[j] + a * wB[j]
            s += v[j] * v[j]
        }
        let inv = 1 / s.squareRoot()
        return v.map { $0 * inv }
    }

    /// All n eigenvalues at step t, strictly descending and positive.
    public func eigenvalues(step: Int64, count: Int? = nil) -> [Double] {
        let t = Double(step)
        let edge = 2 / learningRate
        let l1 = edge * (0.6 + 0.5 * (1 - exp(-t / 300)) + 0.05 * sin(t / 7))
        return (0..<(count ?? n)).map { i in l1 * pow(0.8, Double(i)) }
    }

    /// v_i(t) = e_i − 2 w_i w, for i < k, row-major [k, n].
    public func eigenvectors(step: Int64) -> [Double] {
        let w = self.w(Double(step))
        var out = [Double](repeating: 0, count: k * n)
        for i in 0..<k {
            for j in 0..<n { out[i * n + j] = -2 * w[i] * w[j] }
            out[i * n + i] += 1
        }
        return out
    }

    /// M(t) = Q diag(λ) Q, n × n row-major, in O(n²).
    public func gram(step: Int64) -> [Double] {
        let w = self.w(Double(step))
        let lam = eigenvalues(step: step)
        let lw = zip(lam, w).map { $0 * $1 }
        let wlw = zip(w, lw).reduce(0) { $0 + $1.0 * $1.1 }
        var m = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var v = -2 * w[i] * lw[j] - 2 * lw[i] * w[j] + 4 * wlw * w[i] * w[j]
                if i == j { v += lam[i] }
                m[i * n + j] = v
            }
        }
        return m
    }

    /// The step's row; optional fields filled when `optional`.
    public func row(step: Int64, optional: Bool = true) -> StepRow {
        let t = Double(step)
        let decay = exp(-t / 500)
        let osc = 0.1 * sin(t / 3)
        let v1 = Array(eigenvectors(step: step).prefix(n))
        var D = [Double](repeating: 0, count: n)
        for j in 0..<n { D[j] = decay * residualShape[j] + osc * v1[j] }
        let F = zip(Y, D).map { $0 + $1 }
        var ss = 0.0
        var dtf = 0.0
        for j in 0..<n {
            ss += D[j] * D[j]
            dtf += D[j] * F[j]
        }
        let loss = ss / Double(n)
        let lam = eigenvalues(step: step, count: k)
        return StepRow(step: step, loss: loss, residual: D, outputNormSq: 1 + 0.5 * tanh(t / 300) + 0.01 * sin(t / 5),
                       sharpness: lam[0], eigenvalues: lam, eigenvectors: eigenvectors(step: step), dtf: dtf,
                       outputs: optional ? F : nil, outputLayerSharpness: optional ? 0.6 * lam[0] : nil,
                       gradNorm: optional ? loss.squareRoot() * lam[0] * 0.1 : nil)
    }

    /// θ(t), p values.
    public func parameters(step: Int64) -> [Double] {
        let t = Double(step)
        return (0..<p).map { j in 0.1 * sin(0.001 * Double(j) + 0.01 * t) }
    }

    /// A Hessian-sharpness value close to λ_1.
    public func hessianSharpness(step: Int64) -> Double { 1.02 * eigenvalues(step: step, count: 1)[0] }
}
