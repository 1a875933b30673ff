import EOSNumerics
import Foundation

/// A scalar-output fully connected network built from a `ModelDescription`.
///
/// f(x) = s · (W_L h_{L-1} + b_L), h_l = φ(W_l h_{l-1} + b_l), h_0 = x. The two-layer linear model
/// is the special case widths = [m], φ = identity, no bias, s = 1/√m.
/// θ layout (docs/ARCHITECTURE.md): layer by layer, W_l row-major [out, in], then b_l [out] if bias.
public struct Network: Sendable, Equatable {
    public let description: ModelDescription
    /// Layer sizes [d, w_1, …, w_{L-1}, 1].
    public let sizes: [Int]
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
        try description.validate()
        self.description = description
        switch description {
        case let .mlp(d, widths, act, b, s):
            sizes = [d] + widths + [1]; activation = act; bias = b; outputScale = s
        case let .twoLayerLinear(d, m):
            sizes = [d, m, 1]; activation = .linear; bias = false; outputScale = 1 / Double(m).squareRoot()
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
    /// Width m of the last hidden layer (= length of A).
    public var outputLayerWidth: Int { sizes[sizes.count - 2] }
    /// Range of A (the output layer's weights, bias excluded) in θ.
    public var outputWeightRange: Range<Int> { weightOffsets[layerCount - 1]..<(weightOffsets[layerCount - 1] + outputLayerWidth) }

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

    /// ‖A‖², the squared norm of the output layer's weights (bias excluded).
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
            for i in 0..<m { theta[m * d + i] = scale * rng.normal() }
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
