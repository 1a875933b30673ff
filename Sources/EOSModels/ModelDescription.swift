import Foundation

/// Pointwise activation functions with exact first and second derivatives.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case linear, tanh, relu, elu, softplus, sigmoid
    /// GELU, tanh approximation: 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))).
    case gelu

    /// φ(x), φ′(x), φ″(x). ReLU/ELU use the right derivative at 0.
    @inline(__always)
    public func evaluate(_ x: Double) -> (value: Double, d1: Double, d2: Double) {
        switch self {
        case .linear: return (x, 1, 0)
        case .tanh:
            let t = Foundation.tanh(x); let s = 1 - t * t
            return (t, s, -2 * t * s)
        case .relu: return x > 0 ? (x, 1, 0) : (0, 0, 0)
        case .elu:
            if x > 0 { return (x, 1, 0) }
            let e = Foundation.exp(x); return (e - 1, e, e)
        case .softplus:
            let v = x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
            let s = Activation.logistic(x)
            return (v, s, s * (1 - s))
        case .sigmoid:
            let s = Activation.logistic(x)
            return (s, s * (1 - s), s * (1 - s) * (1 - 2 * s))
        case .gelu:
            let c = 0.7978845608028654, a = 0.044715
            let u = c * (x + a * x * x * x)
            let du = c * (1 + 3 * a * x * x)
            let d2u = c * 6 * a * x
            let t = Foundation.tanh(u); let s = 1 - t * t
            return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * s * du, s * (du - x * t * du * du + 0.5 * x * d2u))
        }
    }

    @inline(__always) static func logistic(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : { let e = Foundation.exp(x); return e / (1 + e) }()
    }
}

/// The network of a run, as stored in `/run@model` (JSON). See docs/ARCHITECTURE.md.
///
///     {"kind":"mlp","input_dim":784,"widths":[200,200],"activation":"tanh","bias":true,"output_scale":1}
///     {"kind":"two_layer_linear","input_dim":50,"width":1000}
public enum ModelDescription: Codable, Sendable, Equatable {
    /// Fully connected network: hidden `widths`, scalar output f = output_scale · (A·h + b).
    case mlp(inputDim: Int, widths: [Int], activation: Activation, bias: Bool, outputScale: Double)
    /// f(x) = (1/√m) Aᵀ W x, θ = [W (m×d row-major), A (m)].
    case twoLayerLinear(inputDim: Int, width: Int)

    private enum Keys: String, CodingKey {
        case kind, input_dim, widths, activation, bias, output_scale, width
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "mlp":
            self = .mlp(inputDim: try c.decode(Int.self, forKey: .input_dim),
                        widths: try c.decode([Int].self, forKey: .widths),
                        activation: try c.decodeIfPresent(Activation.self, forKey: .activation) ?? .tanh,
                        bias: try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true,
                        outputScale: try c.decodeIfPresent(Double.self, forKey: .output_scale) ?? 1)
        case "two_layer_linear":
            self = .twoLayerLinear(inputDim: try c.decode(Int.self, forKey: .input_dim),
                                   width: try c.decode(Int.self, forKey: .width))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                debugDescription: "unknown model kind \"\(kind)\" (expected \"mlp\" or \"two_layer_linear\")")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case let .mlp(d, widths, act, bias, scale):
            try c.encode("mlp", forKey: .kind)
            try c.encode(d, forKey: .input_dim)
            try c.encode(widths, forKey: .widths)
            try c.encode(act, forKey: .activation)
            try c.encode(bias, forKey: .bias)
            try c.encode(scale, forKey: .output_scale)
        case let .twoLayerLinear(d, m):
            try c.encode("two_layer_linear", forKey: .kind)
            try c.encode(d, forKey: .input_dim)
            try c.encode(m, forKey: .width)
        }
    }

    /// Canonical JSON (sorted keys), as stored in files.
    public func jsonString() -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parses JSON; errors name `source` and the problem in one line.
    public static func parse(json: String, source: String = "model description") throws -> ModelDescription {
        do {
            let d = try JSONDecoder().decode(ModelDescription.self, from: Data(json.utf8))
            try d.validate(source: source)
            return d
        } catch let e as ModelError { throw e
        } catch let DecodingError.dataCorrupted(ctx) { throw ModelError.invalidDescription(source: source, problem: ctx.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) { throw ModelError.invalidDescription(source: source, problem: "missing key \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ModelError.invalidDescription(source: source, problem: "wrong type at \(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))")
        } catch { throw ModelError.invalidDescription(source: source, problem: "\(error)") }
    }

    /// Checks dimensions are positive and finite.
    public func validate(source: String = "model description") throws {
        switch self {
        case let .mlp(d, widths, _, _, scale):
            guard d >= 1 else { throw ModelError.invalidDescription(source: source, problem: "input_dim must be ≥ 1, got \(d)") }
            guard widths.allSatisfy({ $0 >= 1 }) else { throw ModelError.invalidDescription(source: source, problem: "widths must be ≥ 1, got \(widths)") }
            guard scale.isFinite && scale != 0 else { throw ModelError.invalidDescription(source: source, problem: "output_scale must be finite and non-zero") }
        case let .twoLayerLinear(d, m):
            guard d >= 1 && m >= 1 else { throw ModelError.invalidDescription(source: source, problem: "input_dim and width must be ≥ 1") }
        }
    }

    public var inputDim: Int {
        switch self { case let .mlp(d, _, _, _, _): return d; case let .twoLayerLinear(d, _): return d }
    }
}

/// Errors from model descriptions and parameter vectors.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidDescription(source: String, problem: String)
    case shapeMismatch(object: String, expected: String, got: String)
    case nonFinite(object: String)

    public var description: String {
        switch self {
        case let .invalidDescription(source, problem): return "\(source): invalid model description: \(problem)"
        case let .shapeMismatch(object, expected, got): return "\(object): expected \(expected), got \(got)"
        case let .nonFinite(object): return "\(object): contains NaN or Inf"
        }
    }
}
