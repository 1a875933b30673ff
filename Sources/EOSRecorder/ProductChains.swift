import EOSNumerics
import TrajectoryFormat

/// The M-products of format 1.1, computed by a recorder that holds the dense M(t):
/// `gram_residual` = M(t)D(t); `r_prime_from_start` = R′ from the first recorded step;
/// `r_prime` = R′ restarted at every causal phase-II start (a step a with Λ(a) > 2/η and either
/// a is the first recorded step or Λ(a−1) ≤ 2/η). At a start R′(a) = R(a) = (I − v1v1ᵀ)D(a);
/// otherwise R′(t+1) = (I − ηM(t)(I − v1(t)v1(t)ᵀ))R′(t) (Lemma 3.5 of the paper).
///
/// `step` returns the row of step t and prepares R′(t+1) while M(t) is at hand: one `dgemm` of
/// M with [D; P R′_start] (2 products) while the two chains coincide, [D; P R′_start; P R′] (3)
/// after. While they coincide (before the first restart, or when the first step is a restart)
/// one chain is computed and copied, so that `r_prime` equals `r_prime_from_start` bit for bit.
///
/// A resume reproduces the chains exactly: `resuming` rebuilds the state before step c from
/// the recorded rows at c (R′(c), R′_start(c)) and Λ(c−1); calling `step` with D(c), v1(c), Λ(c)
/// and the recomputed M(c) then gives R′(c+1) with the same arithmetic as the uninterrupted run.
public struct ProductChains: Sendable {
    public let learningRate: Double
    /// R′(t) and R′_start(t) for the next step to record (nil before the first recorded step).
    public private(set) var rPrime: [Double]?
    public private(set) var fromStart: [Double]?
    /// Λ of the last step handed to `step` (nil before the first).
    public private(set) var lastSharpness: Double?

    public init(learningRate: Double) { self.learningRate = learningRate }

    /// The state before step c of a recording whose row c holds `rPrime` and `fromStart` and
    /// whose row c − 1 has sharpness `previousSharpness` (nil when c is the first recorded step).
    public static func resuming(learningRate: Double, rPrime: [Double], fromStart: [Double],
                                previousSharpness: Double?) -> ProductChains {
        var c = ProductChains(learningRate: learningRate)
        c.rPrime = rPrime
        c.fromStart = fromStart
        c.lastSharpness = previousSharpness
        return c
    }

    /// Whether step t with sharpness Λ(t) restarts R′ (Λ(t−1) = `previous`, nil at the first step).
    public static func isRestart(sharpness: Double, previous: Double?, learningRate: Double) -> Bool {
        let threshold = 2 / learningRate
        return sharpness > threshold && (previous.map { $0 <= threshold } ?? true)
    }

    /// The products of step t (D = D(t), v1 = v1(t) unit, M = M(t)), and the state for t + 1.
    public mutating func step(residual d: [Double], v1: [Double], sharpness: Double, gram m: Matrix) -> StepProducts {
        precondition(m.rows == d.count && m.cols == d.count, "ProductChains.step: shapes")
        return try! step(residual: d, v1: v1, sharpness: sharpness, applyGram: { BLAS.symmetricProducts(m, $0) })
    }

    /// The same with M given as an operator: `applyGram(V)` returns the rows (M vᵢ)ᵀ of the r × n
    /// block V (r = 2 or 3; matrix-free recorders). Throws what `applyGram` throws, or a shape error.
    public mutating func step(residual d: [Double], v1: [Double], sharpness: Double,
                              applyGram: (Matrix) throws -> Matrix) throws -> StepProducts {
        let n = d.count
        precondition(v1.count == n, "ProductChains.step: shapes")
        let restart = Self.isRestart(sharpness: sharpness, previous: lastSharpness, learningRate: learningRate)
        let needR = restart || fromStart == nil || rPrime == nil
        let r = needR ? BLAS.projectOff(d, unit: v1) : []
        let start = fromStart ?? r
        let current = restart ? r : (rPrime ?? r)
        let shared = current == start
        var rows = d + BLAS.projectOff(start, unit: v1)
        if !shared { rows += BLAS.projectOff(current, unit: v1) }
        let block = Matrix(rows: shared ? 2 : 3, cols: n, data: rows)
        let images = try applyGram(block)
        guard images.rows == block.rows && images.cols == n && images.isFinite else {
            throw RecorderError.shapeMismatch(object: "Gram operator result", expected: "\(block.rows) × \(n) finite values",
                                              got: "\(images.rows) × \(images.cols)")
        }
        let md = Array(images.data[0..<n])
        var nextStart = start
        BLAS.axpy(-learningRate, Array(images.data[n..<(2 * n)]), &nextStart)
        var nextCurrent: [Double]
        if shared {
            nextCurrent = nextStart
        } else {
            nextCurrent = current
            BLAS.axpy(-learningRate, Array(images.data[(2 * n)..<(3 * n)]), &nextCurrent)
        }
        fromStart = nextStart
        rPrime = nextCurrent
        lastSharpness = sharpness
        return StepProducts(gramResidual: md, rPrime: current, rPrimeFromStart: start)
    }
}
