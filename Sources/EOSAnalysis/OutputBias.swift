import EOSModels
import TrajectoryFormat

/// The effective output bias β(t) = s·b(t) of an MLP f = s·(Aᵀh + b), per row, for the
/// bias-exact first-order line of ‖A‖²: Δ‖A‖² ≈ −(4η/n)Dᵀ(F − β1) (the paper's −(4η/n)DᵀF
/// drops β). β is read from a parameter checkpoint (the last entry of θ) and carried to the other
/// rows by GD's own bias update β(t+1) = β(t) − (2ηs²/n)·1ᵀD(t), forward from each checkpoint and
/// backward from the first one, over consecutive rows only (NaN across a gap).
public struct OutputBias: Sendable, Equatable {
    /// β(t) per row (NaN where unknown).
    public var values: [Double]
    /// Where β came from, or why it is unavailable ("no output bias: the paper's line is exact").
    public var note: String

    public init(values: [Double], note: String) {
        self.values = values
        self.note = note
    }

    /// β for `input` from the recording (`reader`): nil values with a note when unavailable.
    public static func from(reader: TrajectoryReader, input: AnalysisInput) -> OutputBias {
        let t = input.count
        let none = [Double](repeating: .nan, count: t)
        guard let model = try? ModelDescription.parse(json: reader.metadata.model, source: reader.path) else {
            return OutputBias(values: none, note: "unavailable: model not described")
        }
        guard case let .mlp(_, _, _, bias, scale) = model else {
            if case .twoLayerLinear = model { return OutputBias(values: [Double](repeating: 0, count: t), note: "no output bias: the paper's line is exact") }
            return OutputBias(values: none, note: "unavailable: not an MLP")
        }
        guard bias else { return OutputBias(values: [Double](repeating: 0, count: t), note: "no output bias: the paper's line is exact") }
        guard let ckSteps = try? reader.checkpointSteps(), !ckSteps.isEmpty else {
            return OutputBias(values: none, note: "unavailable: no parameter checkpoints")
        }
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
}
