import EOSNumerics
import Foundation

/// A fully connected network built from a `ModelDescription`, with one output (the default) or
/// c outputs (`init(_:outputs:)`; docs/MULTI-OUTPUT.md).
///
/// f(x) = s · (W_L h_{L-1} + b_L), h_l = φ(W_l h_{l-1} + b_l), h_0 = x; f(x) ∈ R^c, W_L is c × m
/// (the output layer A = W_Lᵀ ∈ R^{m×c}). The two-layer linear model is the special case
/// widths = [m], φ = identity, no bias, s = 1/√m.
/// θ layout (docs/ARCHITECTURE.md): layer by layer, W_l row-major [out, in], then b_l [out] if bias.
public struct Network: Sendable, Equatable {
    public let description: ModelDescription
    /// Layer sizes [d, w_1, …, w_{L-1}, c] (c = 1 for the paper's scalar output).
    public let sizes: [Int]
    /// c, the number of outputs (1 unless built with `init(_:outputs:)`).
    public var outputCount: Int { sizes[sizes.count - 1] }
    public let activation: Activation
    public let bias: Bool
    /// s: multiplies the output.
    public let outputScale: Double
    /// Offset of W_l in θ, for each layer l = 0..<L.
    public let weightOffsets: [Int]
    /// Offset of b_l in θ (meaningless when `bias` is false).
    public let biasOffsets: [Int]
    /// p, the number of parameters.
    public let parameterCount: Int

    public init(_ description: ModelDescription) throws {
        try self.init(description, outputs: 1)
    }

    /// The network of `description` with c = `outputs` outputs (the output layer W_L is c × m).
    /// c = 1 is exactly `init(_:)`.
    public init(_ description: ModelDescription, outputs c: Int) throws {
        try description.validate()
        guard c >= 1 else { throw ModelError.invalidDescription(source: "model description", problem: "outputs must be ≥ 1, got \(c)") }
        self.description = description
        switch description {
        case let .mlp(d, widths, act, b, s):
            sizes = [d] + widths + [c]; activation = act; bias = b; outputScale = s
        case let .twoLayerLinear(d, m):
            sizes = [d, m, c]; activation = .linear; bias = false; outputScale = 1 / Double(m).squareRoot()
        }
        var off = 0
        var wo: [Int] = [], bo: [Int] = []
        for l in 0..<(sizes.count - 1) {
            wo.append(off); off += sizes[l + 1] * sizes[l]
            bo.append(off); if bias { off += sizes[l + 1] }
        }
        weightOffsets = wo; biasOffsets = bo; parameterCount = off
    }

    /// Number of weight layers L.
    public var layerCount: Int { sizes.count - 1 }
    /// Width m of the last hidden layer (= length of A for one output; A is m × c for c outputs).
    public var outputLayerWidth: Int { sizes[sizes.count - 2] }
    /// Range of A (the output layer's weights W_L, c·m values, bias excluded) in θ.
    public var outputWeightRange: Range<Int> {
        weightOffsets[layerCount - 1]..<(weightOffsets[layerCount - 1] + outputLayerWidth * outputCount)
    }

    /// W_l as a matrix [out, in] (copy).
    public func weight(_ l: Int, _ theta: [Double]) -> Matrix {
        let o = sizes[l + 1], i = sizes[l], s = weightOffsets[l]
        return Matrix(rows: o, cols: i, data: Array(theta[s..<(s + o * i)]))
    }

    /// b_l (copy); zeros when the network has no bias.
    public func biasVector(_ l: Int, _ theta: [Double]) -> [Double] {
        guard bias else { return [Double](repeating: 0, count: sizes[l + 1]) }
        return Array(theta[biasOffsets[l]..<(biasOffsets[l] + sizes[l + 1])])
    }

    /// ‖A‖² (‖A‖_F² for c outputs), the squared norm of the output layer's weights (bias excluded).
    public func outputNormSquared(_ theta: [Double]) -> Double {
        let r = outputWeightRange
        var s = 0.0
        for i in r { s += theta[i] * theta[i] }
        return s
    }

    /// Initial parameters from `seed`.
    ///
    /// MLP: every weight and bias ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's `nn.Linear` default) times
    /// `scale` (use scale < 1 for the small-initialization regime).
    /// Two-layer linear (paper §4): W_ij ~ N(0, 1/d), A_i ~ N(0, 1) · `scale`.
    public func initialParameters(seed: UInt64, scale: Double = 1) -> [Double] {
        var rng = SeededRNG(seed: seed)
        var theta = [Double](repeating: 0, count: parameterCount)
        switch description {
        case .twoLayerLinear:
            let d = sizes[0], m = sizes[1]
            let sd = 1 / Double(d).squareRoot()
            for i in 0..<(m * d) { theta[i] = sd * rng.normal() }
            for i in 0..<(m * outputCount) { theta[m * d + i] = scale * rng.normal() }
        case .mlp:
            for l in 0..<layerCount {
                let bound = scale / Double(sizes[l]).squareRoot()
                let nW = sizes[l + 1] * sizes[l]
                for i in 0..<nW { theta[weightOffsets[l] + i] = rng.uniform(-bound, bound) }
                if bias { for i in 0..<sizes[l + 1] { theta[biasOffsets[l] + i] = rng.uniform(-bound, bound) } }
            }
        }
        return theta
    }

    /// Checks θ has p finite entries.
    public func checkParameters(_ theta: [Double], object: String = "parameters") throws {
        guard theta.count == parameterCount else {
            throw ModelError.shapeMismatch(object: object, expected: "\(parameterCount) parameters", got: "\(theta.count)")
        }
        guard theta.allSatisfy({ $0.isFinite }) else { throw ModelError.nonFinite(object: object) }
    }
}
