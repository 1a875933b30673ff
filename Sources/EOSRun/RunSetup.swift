import EOSModels
import EOSNumerics

/// What a run is built from, made once from its configuration: the data, the network, the
/// evaluator on the data (X n × d, Y n) and θ(0) (p).
public struct RunSetup {
    public let config: RunConfig
    public let data: Dataset
    public let network: Network
    public let evaluator: ModelEvaluator

    /// Loads (or generates) the data of `config` and builds the network and evaluator.
    /// - Throws: `DataError` for the data, `ModelError` for a model that does not fit them.
    public init(config: RunConfig) throws {
        try self.init(config: config, data: try config.data.load())
    }

    /// Builds the network and evaluator of `config` on data already at hand (e.g. rebuilt and
    /// verified against a recording, `StoredRun.verifiedData`).
    public init(config: RunConfig, data: Dataset) throws {
        self.config = config
        self.data = data
        (network, evaluator) = try Self.evaluator(model: config.model, X: data.X, Y: data.Y, outputs: data.outputs)
    }

    /// θ(0) of the config (`Network.initialParameters(seed: init_seed, scale: init_scale)`, p).
    public var initialParameters: [Double] {
        network.initialParameters(seed: config.initSeed, scale: config.initScale)
    }

    /// The network of `model` with c = `outputs` outputs and its evaluator on X (n × d) and Y
    /// (n·c, sample-major).
    public static func evaluator(model: ModelDescription, X: Matrix, Y: [Double], outputs: Int = 1) throws -> (Network, ModelEvaluator) {
        let network = outputs == 1 ? try Network(model) : try Network(model, outputs: outputs)
        return (network, try ModelEvaluator(network: network, X: X, Y: Y))
    }
}
