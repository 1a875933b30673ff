import Foundation

/// The loss convention a recording states (`/run@loss_convention`), with the Gram matrix that goes
/// with it (the Gauss–Newton part of that loss's Hessian). Thresholds 2/η and 1/η are in the
/// file's own units whichever it is.
public enum LossConventionKind: String, Codable, Sendable, CaseIterable {
    /// L = ‖D‖²/n, M = (2/n)JJᵀ (the paper's).
    case sumOverN = "sum_over_n"
    /// L = ‖D‖²/(2n), M = (1/n)JJᵀ (Cohen et al. 2021).
    case half
    /// L = ‖D‖²/(nc), M = (2/(nc))JJᵀ (PyTorch's `MSELoss()`; equals `sumOverN` when c = 1).
    case perOutput = "per_output"

    /// Parses the attribute (case-insensitive; common spellings accepted); nil when unknown.
    public static func parse(_ text: String) -> LossConventionKind? {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
        switch t {
        case "mean_squared_error", "sum_over_n", "mean_sum", "paper", "mse", "sum_n", "sum_mean", "||d||^2/n", "‖d‖²/n": return .sumOverN
        case "half_mean_squared_error", "half", "half_mean_sum", "half_sum_over_n", "cohen", "half_mse", "||d||^2/(2n)", "‖d‖²/(2n)": return .half
        case "mse_per_output", "per_output", "pytorch", "mean", "mse_mean", "mean_over_outputs", "||d||^2/(nc)", "‖d‖²/(nc)": return .perOutput
        default: return nil
        }
    }

    /// L / (‖D‖²/n) under this convention with c outputs.
    public func lossScale(outputs c: Int) -> Double {
        switch self {
        case .sumOverN: return 1
        case .half: return 0.5
        case .perOutput: return 1 / Double(max(c, 1))
        }
    }
}

/// What `ConventionCheck.run` measured, and its one-line warning (nil when the file is consistent
/// or the check cannot judge).
public struct ConventionCheckResult: Codable, Equatable, Sendable {
    /// The convention the check assumed (`/run@loss_convention`, or the paper's when absent).
    public var convention: String
    /// Median of L(t) / (scale·‖D(t)‖²/n) over the checked rows (1 when consistent).
    public var lossFactor: Double
    /// Least-squares factor s with ΔD ≈ s·(−ηM(t)D(t)), median over the early pairs (1 when
    /// consistent; nil without `gram_residual`).
    public var residualFactor: Double?
    /// Median of Δ‖A‖² / (−(4η/n)·scale·DᵀF) over the early pairs (1 when consistent; the output
    /// bias makes it inexact, so only a clear constant factor is reported).
    public var outputNormFactor: Double?
    /// Consecutive pairs examined.
    public var pairs: Int
    /// One line naming the attribute that is likely wrong, or nil.
    public var warning: String?
    /// The warning without the file: the object it names, and the problem.
    public var object: String?
    public var message: String?
}

/// Checks, rather than trusts, the conventions a recording states: the loss against ‖D‖²/n, the
/// first-order update D(t+1) − D(t) ≈ −ηM(t)D(t) on the early steps (needs `gram_residual`), and
/// the ‖A‖² relation Δ‖A‖² ≈ −(4η/n)DᵀF scaled by the loss convention (half: −(2η/n)DᵀF,
/// per-output: −(4η/(nc))DᵀF). When a relation fails by a constant factor, the warning names the
/// likely wrong attribute: ½ or 2 → the Gram definition or `/run@loss_convention`; 10 or 0.1 →
/// `/run@learning_rate`. Pure: no file access.
public enum ConventionCheck {
    /// Early consecutive pairs examined.
    public static let earlyPairs = 40
    /// A factor within this ratio of 1 (either way) is consistent.
    public static let okRatio = 1.25

    /// - Parameters:
    ///   - steps: T step numbers (pairs are consecutive steps only).
    ///   - loss, dtf, outputNormSq: T values; residual and gramResidual T×(n·c) row-major
    ///     (sample-major within a row; c = `outputs`).
    ///   - n: the number of samples (L = ‖D‖_F²/n); `outputs` c: outputs per sample.
    ///   - convention: `/run@loss_convention` as stored (nil: the paper's).
    ///   - file: names the recording in the warning.
    public static func run(steps: [Int64], loss: [Double], residual: [Double], gramResidual: [Double]?,
                           dtf: [Double], outputNormSq: [Double], learningRate eta: Double, n: Int,
                           outputs c: Int = 1, convention: String?, file: String) -> ConventionCheckResult {
        var kind = LossConventionKind.sumOverN
        if let convention {
            guard let k = LossConventionKind.parse(convention) else {
                let message = "unknown convention '\(convention)' (expected \(LossConventionKind.allCases.map(\.rawValue).joined(separator: ", ")))"
                return ConventionCheckResult(convention: convention, lossFactor: .nan, residualFactor: nil,
                                             outputNormFactor: nil, pairs: 0,
                                             warning: "\(file): /run@loss_convention: \(message)",
                                             object: "/run@loss_convention", message: message)
            }
            kind = k
        }
        let scale = kind.lossScale(outputs: c)
        let nd = Double(n)
        // Rows hold n·c values (c = 1: n); the sample count (nd) normalises the loss and ‖A‖².
        let n = n * max(c, 1)
        // Only the steps before any sign of divergence: the relations are first-order, and a run
        // that blows up (loss non-finite or 100× its start) leaves them by its own dynamics.
        var usable = 0
        while usable < min(steps.count, earlyPairs + 1) {
            let i = usable
            let finite = loss[i].isFinite && dtf[i].isFinite && outputNormSq[i].isFinite
                && !(0..<n).contains { !residual[i * n + $0].isFinite } && (gramResidual.map { g in !(0..<n).contains { !g[i * n + $0].isFinite } } ?? true)
            if !finite || (i > 0 && loss[i] > 100 * max(loss[0], .leastNormalMagnitude)) { break }
            usable += 1
        }
        let t = usable
        var lossRatios: [Double] = []
        for i in 0..<min(t, earlyPairs + 1) {
            var s = 0.0
            for j in 0..<n { let d = residual[i * n + j]; s += d * d }
            let expected = scale * s / nd
            if expected > 0 && loss[i].isFinite { lossRatios.append(loss[i] / expected) }
        }
        var rFactors: [Double] = [], rFits: [Double] = [], aFactors: [Double] = []
        var pairs = 0
        var i = 0
        while i + 1 < t && pairs < earlyPairs {
            defer { i += 1 }
            guard steps[i + 1] == steps[i] + 1 else { continue }
            pairs += 1
            if let g = gramResidual {
                var num = 0.0, den = 0.0, stepSq = 0.0
                for j in 0..<n {
                    let step = residual[(i + 1) * n + j] - residual[i * n + j]
                    let pred = -eta * g[i * n + j]
                    num += step * pred; den += pred * pred; stepSq += step * step
                }
                if den > 0 && stepSq > 0 {
                    let s = num / den
                    rFactors.append(s)
                    // Relative misfit of the best constant: small when ΔD is a multiple of −ηMD.
                    rFits.append(max(0, stepSq - s * s * den).squareRoot() / stepSq.squareRoot())
                }
            }
            let dA = outputNormSq[i + 1] - outputNormSq[i]
            let pred = -4 * eta / nd * scale * dtf[i]
            if dA != 0 && pred != 0 && dA.isFinite && pred.isFinite { aFactors.append(dA / pred) }
        }
        let lossFactor = median(lossRatios)
        let rFactor = rFactors.isEmpty ? nil : median(rFactors)
        let rConstant = rFits.count >= 3 && median(rFits) < 0.3
        let aFactor = aFactors.isEmpty ? nil : median(aFactors)
        let aConstant = aFactors.count >= 3 && spread(aFactors) < 0.25
        var result = ConventionCheckResult(convention: kind.rawValue, lossFactor: lossFactor, residualFactor: rFactor,
                                           outputNormFactor: aFactor, pairs: pairs, warning: nil)
        // With c > 1 outputs the output bias takes a large share of ⟨D, F⟩ (one-hot targets: the
        // class means), so Δ‖A‖² = −(4η/n)⟨D, F − 1bᵀ⟩ is far from −(4η/n)⟨D, F⟩; when the exact
        // first-order relation of D (gram_residual) is consistent, ‖A‖² alone does not judge.
        let residualConsistent = rFactor.map { $0.isFinite && abs(log($0)) <= log(okRatio) } ?? false
        let useOutputNorm = aConstant && !(c > 1 && residualConsistent)
        if let d = diagnose(lossFactor: lossFactor, residual: rConstant ? rFactor : nil,
                            outputNorm: useOutputNorm ? aFactor : nil, stated: convention, kind: kind, file: file) {
            result.warning = d
            let rest = d.dropFirst(file.count + 2)
            if let colon = rest.range(of: ": ") {
                result.object = String(rest[..<colon.lowerBound])
                result.message = String(rest[colon.upperBound...])
            }
        }
        return result
    }

    /// The one-line diagnosis, or nil when every measured factor is consistent.
    static func diagnose(lossFactor: Double, residual r: Double?, outputNorm a: Double?, stated: String?,
                         kind: LossConventionKind, file: String) -> String? {
        let conv = "/run@loss_convention"
        let convText = stated.map { "stated '\($0)'" } ?? "not stated, so the paper's ‖D‖²/n"
        func ok(_ x: Double) -> Bool { x.isFinite && abs(log(x)) <= log(okRatio) }
        func near(_ x: Double, _ f: Double) -> Bool { x.isFinite && x > 0 && abs(log(x / f)) <= log(1.2) }
        func tenfold(_ x: Double) -> Bool { near(x, 10) || near(x, 0.1) }
        func twofold(_ x: Double) -> Bool { near(x, 2) || near(x, 0.5) }
        func f(_ x: Double) -> String { String(format: "%.3g", x) }
        if lossFactor.isFinite && !ok(lossFactor) {
            let implied = LossConventionKind.allCases.first { near(lossFactor * kind.lossScale(outputs: 1), $0.lossScale(outputs: 1)) }
            return "\(file): \(conv): loss = \(f(lossFactor))× what the convention (\(convText)) gives from the residual (‖D‖²/n·\(f(kind.lossScale(outputs: 1))))"
                + (implied.map { "; the loss looks like '\($0.rawValue)'" } ?? "")
        }
        if let r, !ok(r) {
            if let a, near(a, r) || (tenfold(a) && tenfold(r)) {
                if tenfold(r) {
                    return "\(file): /run@learning_rate: likely \(r < 1 ? "10× too large" : "10× too small") (D(t+1)−D(t) = \(f(r))·(−ηMD) and Δ‖A‖² = \(f(a))·(−(4η/n)DᵀF) on the early steps)"
                }
                return "\(file): \(conv) or /run@learning_rate: GD moved \(f(r))× the first-order prediction of both D (−ηMD) and ‖A‖² (−(4η/n)DᵀF) on the early steps (convention \(convText))"
            }
            if tenfold(r) {
                return "\(file): /run@learning_rate: likely \(r < 1 ? "10× too large" : "10× too small") (or M is off by 10×): D(t+1)−D(t) = \(f(r))·(−ηM(t)D(t)) on the early steps"
            }
            return "\(file): /run@gram_definition or \(conv): D(t+1)−D(t) = \(f(r))·(−ηM(t)D(t)) on the early steps"
                + (twofold(r) ? " — M is \(r < 1 ? "twice" : "half") the Gram of the loss convention (\(convText))" : " (convention \(convText))")
        }
        if let a, !ok(a) {
            if tenfold(a) {
                return "\(file): /run@learning_rate: likely \(a < 1 ? "10× too large" : "10× too small") (Δ‖A‖² = \(f(a))·(−(4η/n)DᵀF) on the early steps)"
            }
            if twofold(a) {
                return "\(file): \(conv): Δ‖A‖² = \(f(a))× the prediction of the convention (\(convText)) on the early steps"
            }
        }
        return nil
    }

    private static func median(_ xs: [Double]) -> Double {
        let v = xs.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return .nan }
        return v.count % 2 == 1 ? v[v.count / 2] : 0.5 * (v[v.count / 2 - 1] + v[v.count / 2])
    }

    /// Interquartile range relative to |median|.
    private static func spread(_ xs: [Double]) -> Double {
        let v = xs.filter(\.isFinite).sorted()
        guard v.count >= 3 else { return .infinity }
        let q1 = v[v.count / 4], q3 = v[(3 * v.count) / 4]
        let m = abs(median(v))
        return m > 0 ? (q3 - q1) / m : .infinity
    }
}

extension ConventionCheck {
    /// `run` on the first rows of a recording (loss, residual, gram_residual when recorded, dtf,
    /// output_norm_sq, /run@learning_rate, /run@loss_convention).
    public static func run(reader: TrajectoryReader) throws -> ConventionCheckResult {
        let total = try reader.stepCount()
        let r = 0..<min(total, earlyPairs + 1)
        let s = Layout.Series.self
        let gram: [Double]? = reader.has(RecordedProducts.gramResidual)
            ? try reader.productRows(RecordedProducts.gramResidual, rows: r) : nil
        return run(steps: try reader.steps(r), loss: try reader.read(s.loss, range: r),
                   residual: try reader.read(s.residual, range: r), gramResidual: gram,
                   dtf: try reader.read(s.dtf, range: r), outputNormSq: try reader.read(s.outputNormSq, range: r),
                   learningRate: reader.metadata.learningRate, n: reader.n, outputs: reader.outputCount,
                   convention: try reader.lossConventionAttribute(), file: reader.path)
    }
}

extension Run {
    /// `ConventionCheck` on the first steps, as validation problems (called from the semantic
    /// checks): a file whose M or η is off by a constant does not validate.
    mutating func checkConventions() {
        let t = Layout.trajectory
        guard let run = try? file.group(Layout.run),
              let eta = try? run.scalarAttribute("learning_rate", as: Double.self),
              let n64 = try? run.scalarAttribute("n_samples", as: Int64.self), n64 >= 1, n64 < 1 << 31 else { return }
        // Format 2.0: rows of n·c values; `n` below is that flattened length.
        var c = 1
        if run.hasAttribute("n_outputs"), let c64 = try? run.scalarAttribute("n_outputs", as: Int64.self), c64 >= 1, c64 < 1 << 20 {
            c = Int(c64)
        }
        guard n64 * Int64(c) < 1 << 31 else { return }
        let n64c = (n: Int(n64), c: c)
        let n = Int(n64) * c
        func rows(_ name: String, cols: Int) -> [Double]? {
            // Only float64 datasets of a plausible extent (untrusted files: see `plausible`).
            let vector = name == RecordedProducts.gramResidual || name == "residual"
            guard let (ds, shape) = plausible("\(t)/\(name)", rank: !vector ? 1 : (c > 1 ? 3 : 2)),
                  shape[0] >= 2, shape.dropFirst().reduce(1, *) == cols else { return nil }
            let r = 0..<min(shape[0], ConventionCheck.earlyPairs + 1)
            return try? ds.readRows(r, as: Double.self)
        }
        guard file.kind(of: "\(t)/step") == .dataset, let stepDs = try? file.dataset("\(t)/step"), stepDs.extentProblem() == nil,
              (try? stepDs.typeInfo().elementType) == .int64, let shape = try? stepDs.shape(), shape.count == 1, shape[0] >= 2,
              let steps = try? stepDs.readRows(0..<min(shape[0], ConventionCheck.earlyPairs + 1), as: Int64.self),
              let loss = rows("loss", cols: 1), let residual = rows("residual", cols: n), let dtf = rows("dtf", cols: 1),
              let a2 = rows("output_norm_sq", cols: 1) else { return }
        let m = [steps.count, loss.count, residual.count / n, dtf.count, a2.count].min()!
        let g = rows(RecordedProducts.gramResidual, cols: n).flatMap { $0.count / n >= m ? Array($0[0..<(m * n)]) : nil }
        let stated = run.hasAttribute(RecordedProducts.lossConventionAttribute)
            ? try? run.stringAttribute(RecordedProducts.lossConventionAttribute) : nil
        let r = ConventionCheck.run(steps: Array(steps[0..<m]), loss: Array(loss[0..<m]), residual: Array(residual[0..<(m * n)]),
                                    gramResidual: g, dtf: Array(dtf[0..<m]), outputNormSq: Array(a2[0..<m]),
                                    learningRate: eta, n: n64c.n, outputs: n64c.c, convention: stated, file: "")
        if let object = r.object, let message = r.message { problem(object, message) }
    }
}
