import EOSModels

/// Named run configurations (`eostrace record --preset NAME`).
public enum Preset: String, CaseIterable, Sendable {
    /// Fashion-MNIST, two classes (T-shirt/top vs Shirt), n = 1000, tanh MLP (paper-like).
    case fmnistTanh = "fmnist-tanh"
    /// Two-layer linear network on synthetic data satisfying Assumption 4.1 (paper §4).
    case linearSynthetic = "linear-synthetic"
    /// The paper's Figure 1 setting: a two-hidden-layer linear network on 1,000 two-class samples
    /// (Fashion-MNIST T-shirt vs Shirt stands in for CIFAR-10).
    case fmnistLinearFigure1 = "fmnist-linear-fig1"
    /// A run that hovers at 2/η (Cohen et al.'s picture): small tanh MLP, n = 100, η = 0.03.
    case fmnistTanhHover = "fmnist-tanh-hover"

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
        case .fmnistLinearFigure1:
            return RunConfig(data: .fashionMNIST(.init(n: 1000, classes: [0, 6], seed: 0)),
                             model: .mlp(inputDim: 784, widths: [100, 100], activation: .linear, bias: true, outputScale: 1),
                             initSeed: 0, initScale: 1, learningRate: 0.08, steps: 1000, k: 8,
                             spectrumEvery: 250, hessianEvery: 500, checkpointEvery: 250, crossCheckEvery: 100)
        case .fmnistTanhHover:
            return RunConfig(data: .fashionMNIST(.init(n: 100, classes: [0, 6], seed: 0)),
                             model: .mlp(inputDim: 784, widths: [16, 16], activation: .tanh, bias: true, outputScale: 1),
                             initSeed: 0, initScale: 1, learningRate: 0.03, steps: 1500, k: 2,
                             spectrumEvery: 250, hessianEvery: 500, checkpointEvery: 250, crossCheckEvery: 100)
        }
    }
}
