import EOSModels
import TrajectoryFormat

/// The effective output bias β(t) = s·b(t) of an MLP f = s·(Aᵀh + b), per row, for the
/// bias-exact first-order line of ‖A‖²: Δ‖A‖² ≈ −(4η/n)Dᵀ(F − β1) (the paper's −(4η/n)DᵀF
/// drops β). β is read from a parameter checkpoint (the last entry of θ) and carried to the other
/// rows by GD's own bias update β(t+1) = β(t) − (2ηs²/n)·1ᵀD(t), forward from each checkpoint and
/// backward from the first one, over consecutive rows only (NaN across a gap).
///
/// With c outputs β ∈ R^c (the last c entries of θ, times s), each output's bias follows its own
/// update β_a(t+1) = β_a(t) − (2ηs²/n)·Σ_i D_ia(t), and the line is −(4η/n)⟨D, F − 1βᵀ⟩ =
/// −(4η/n)(⟨D, F⟩_F − Σ_a β_a Σ_i D_ia) (`correction(_:row:)` is the subtracted term).
public struct OutputBias: Sendable, Equatable {
    /// β(t) per row (NaN where unknown); with c > 1 outputs the mean of the c biases (for the
    /// summary's median), the biases themselves are `perOutput`.
    public var values: [Double]
    /// With c > 1 outputs: β_a(t), T×c row-major; nil for one output (`values` is β).
    public var perOutput: [Double]?
    /// Where β came from, or why it is unavailable ("no output bias: the paper's line is exact").
    public var note: String

    public init(values: [Double], perOutput: [Double]? = nil, note: String) {
        self.values = values
        self.perOutput = perOutput
        self.note = note
    }

    /// ⟨D(t), 1β(t)ᵀ⟩ = Σ_a β_a(t) Σ_i D_ia(t) at `row` (β·1ᵀD for one output): the term the
    /// bias-exact line subtracts from DᵀF. NaN where β is unknown.
    public func correction(_ input: AnalysisInput, row i: Int) -> Double {
        let d = input.residualVector(row: i)
        guard let perOutput, input.outputCount > 1 else { return values[i] * d.reduce(0, +) }
        let c = input.outputCount, base = d.startIndex
        var s = 0.0
        for a in 0..<c {
            var sumA = 0.0
            for j in stride(from: a, to: d.count, by: c) { sumA += d[base + j] }
            s += perOutput[i * c + a] * sumA
        }
        return s
    }

    /// β for `input` from the recording (`reader`): nil values with a note when unavailable.
    public static func from(reader: TrajectoryReader, input: AnalysisInput) -> OutputBias {
        let t = input.count
        let none = [Double](repeating: .nan, count: t)
        guard let model = try? ModelDescription.parse(json: reader.metadata.model, source: reader.path) else {
            return OutputBias(values: none, note: "unavailable: model not described")
        }
        guard case let .mlp(_, _, _, bias, scale) = model else {
            if case .twoLayerLinear = model {
                return OutputBias(values: [Double](repeating: 0, count: t),
                                  perOutput: input.outputCount > 1 ? [Double](repeating: 0, count: t * input.outputCount) : nil,
                                  note: "no output bias: the paper's line is exact")
            }
            return OutputBias(values: none, note: "unavailable: not an MLP")
        }
        let c = input.outputCount
        let zeros = OutputBias(values: [Double](repeating: 0, count: t), perOutput: c > 1 ? [Double](repeating: 0, count: t * c) : nil,
                               note: "no output bias: the paper's line is exact")
        guard bias else { return zeros }
        guard let ckSteps = try? reader.checkpointSteps(), !ckSteps.isEmpty else {
            return OutputBias(values: none, note: "unavailable: no parameter checkpoints")
        }
        if c > 1 { return multiOutput(reader: reader, input: input, checkpointSteps: ckSteps, scale: scale) }
        var anchors: [(row: Int, beta: Double)] = []
        var rowOf: [Int64: Int] = [:]
        for (i, s) in input.steps.enumerated() { rowOf[s] = i }
        for (j, s) in ckSteps.enumerated() {
            guard let row = rowOf[s], let theta = try? reader.parameters(atCheckpointIndex: j), let b = theta.last else { continue }
            anchors.append((row, scale * b))
        }
        guard !anchors.isEmpty else { return OutputBias(values: none, note: "unavailable: no checkpoint at a recorded step") }
        let n = input.n, eta = input.learningRate
        func sumD(_ i: Int) -> Double { input.residual[(i * n)..<((i + 1) * n)].reduce(0, +) }
        let k = 2 * eta * scale * scale / Double(n)
        var values = none
        for (a, anchor) in anchors.enumerated() {
            let limit = a + 1 < anchors.count ? anchors[a + 1].row : t
            values[anchor.row] = anchor.beta
            var i = anchor.row
            while i + 1 < limit && input.isConsecutive(i) { values[i + 1] = values[i] - k * sumD(i); i += 1 }
        }
        var i = anchors[0].row
        while i > 0 && input.isConsecutive(i - 1) { values[i - 1] = values[i] + k * sumD(i - 1); i -= 1 }
        return OutputBias(values: values, note: "from \(anchors.count) checkpoints (last entry of θ × output_scale), carried by GD's bias update")
    }

    /// c > 1 outputs: β ∈ R^c from the last c entries of θ at each checkpoint.
    static func multiOutput(reader: TrajectoryReader, input: AnalysisInput, checkpointSteps ckSteps: [Int64],
                            scale: Double) -> OutputBias {
        let t = input.count, c = input.outputCount
        var anchors: [(row: Int, beta: [Double])] = []
        var rowOf: [Int64: Int] = [:]
        for (i, s) in input.steps.enumerated() { rowOf[s] = i }
        for (j, s) in ckSteps.enumerated() {
            guard let row = rowOf[s], let theta = try? reader.parameters(atCheckpointIndex: j), theta.count >= c else { continue }
            anchors.append((row, theta.suffix(c).map { scale * $0 }))
        }
        return carried(input, anchors: anchors, scale: scale)
    }

    /// β per output carried from `anchors` (row, β ∈ R^c) by GD's bias update over consecutive rows.
    public static func carried(_ input: AnalysisInput, anchors: [(row: Int, beta: [Double])], scale: Double) -> OutputBias {
        let t = input.count, c = input.outputCount
        guard !anchors.isEmpty else {
            return OutputBias(values: [Double](repeating: .nan, count: t), note: "unavailable: no checkpoint at a recorded step")
        }
        let k = 2 * input.learningRate * scale * scale / Double(input.n)
        var beta = [Double](repeating: .nan, count: t * c)
        func sums(_ i: Int) -> [Double] {           // Σ_i D_ia for each output a
            let d = input.residualVector(row: i), base = d.startIndex
            var s = [Double](repeating: 0, count: c)
            for j in 0..<d.count { s[j % c] += d[base + j] }
            return s
        }
        for (a, anchor) in anchors.enumerated() {
            let limit = a + 1 < anchors.count ? anchors[a + 1].row : t
            for o in 0..<c { beta[anchor.row * c + o] = anchor.beta[o] }
            var i = anchor.row
            while i + 1 < limit && input.isConsecutive(i) {
                let s = sums(i)
                for o in 0..<c { beta[(i + 1) * c + o] = beta[i * c + o] - k * s[o] }
                i += 1
            }
        }
        var i = anchors[0].row
        while i > 0 && input.isConsecutive(i - 1) {
            let s = sums(i - 1)
            for o in 0..<c { beta[(i - 1) * c + o] = beta[i * c + o] + k * s[o] }
            i -= 1
        }
        let mean = (0..<t).map { r in (0..<c).reduce(0.0) { $0 + beta[r * c + $1] } / Double(c) }
        return OutputBias(values: mean, perOutput: beta,
                          note: "from \(anchors.count) checkpoints (last \(c) entries of θ × output_scale), carried by GD's bias update per output")
    }
}
