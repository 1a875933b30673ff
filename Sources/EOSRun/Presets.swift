import EOSModels

/// Named run configurations (`eostrace record --preset NAME`).
public enum Preset: String, CaseIterable, Sendable {
    /// Fashion-MNIST, two classes (T-shirt/top vs Shirt), n = 1000, tanh MLP (paper-like).
    case fmnistTanh = "fmnist-tanh"
    /// Two-layer linear network on synthetic data satisfying Assumption 4.1 (paper §4).
    case linearSynthetic = "linear-synthetic"

    public var config: RunConfig {
        switch self {
        case .fmnistTanh:
            return RunConfig(data: .fashionMNIST(.init(n: 1000, classes: [0, 6], seed: 0)),
                             model: .mlp(inputDim: 784, widths: [100, 100], activation: .tanh, bias: true, outputScale: 1),
                             initSeed: 0, initScale: 1, learningRate: 0.05, steps: 1000, k: 8,
                             spectrumEvery: 250, hessianEvery: 500, checkpointEvery: 250, crossCheckEvery: 100)
        case .linearSynthetic:
            return RunConfig(data: .synthetic(.init(n: 200, seed: 0, d: 50, chi: 3, gap: 2, decay: 1.1)),
                             model: .twoLayerLinear(inputDim: 50, width: 500),
                             initSeed: 0, initScale: 0.1, learningRate: 8, steps: 1500, k: 8,
                             spectrumEvery: 250, hessianEvery: 500, checkpointEvery: 250, crossCheckEvery: 100)
        }
    }
}
