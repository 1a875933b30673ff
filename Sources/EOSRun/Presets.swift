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
    /// Cohen et al.'s setup with ten outputs: Fashion-MNIST, all 10 classes, one-hot (1/0)
    /// targets, L = ‖D‖_F²/n, fc-tanh [200, 200], PyTorch's default initialization; n = 50,
    /// η = 0.05. The smallest n is chosen because λ_max(M) leaves 2/η in separate cycles only
    /// while one eigenvalue is at the edge: from n ≈ 80 a second one reaches 2/η within one cycle
    /// and Λ stays above from then on (docs/MULTI-OUTPUT.md, "The fmnist10-fc-tanh preset").
    /// Measured: first crossing at step 194, 9 complete cycles by step 1012 (the first three and
    /// the fifth span 100–170 steps each, the rest are one-step excursions ≤ 0.06 % above 2/η).
    case fmnist10FcTanh = "fmnist10-fc-tanh"

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
        case .fmnist10FcTanh:
            return RunConfig(data: .fashionMNIST(.init(n: 50, classes: Array(0...9), seed: 0, targets: "onehot")),
                             model: .mlp(inputDim: 784, widths: [200, 200], activation: .tanh, bias: true, outputScale: 1),
                             initSeed: 0, initScale: 1, learningRate: 0.05, steps: 1100, k: 8,
                             spectrumEvery: 100, hessianEvery: 100, checkpointEvery: 250, crossCheckEvery: 100)
        }
    }
}
