/// The state of a recording, stored in `/run/status`.
public enum RunStatus: String, Sendable, CaseIterable, Codable {
    case running, completed, diverged, interrupted
}

/// Run-level metadata, stored as attributes of `/run` (names in schemas/trajectory-v1.json).
public struct RunMetadata: Sendable, Equatable {
    /// Constant GD step size η (`learning_rate`).
    public var learningRate: Double
    /// Number of training samples n (`n_samples`).
    public var n: Int
    /// Number of parameters p (`n_parameters`), 0 when unknown.
    public var p: Int
    /// Number of top eigenpairs recorded per step (`k`).
    public var k: Int
    /// Loss definition; this format knows only "mse".
    public var loss: String
    /// JSON model description (`model`), see docs/ARCHITECTURE.md.
    public var model: String
    /// Seed of the parameter initialization (`seed`).
    public var seed: Int64?
    /// Seed of the data selection or generation (`data_seed`).
    public var dataSeed: Int64?
    /// The run configuration as given, JSON (`config`).
    public var config: String?
    /// Human description of the data (`data_description`).
    public var dataDescription: String?
    /// JSON object of recording cadences (`cadences`), e.g. {"spectrum":100,"checkpoint":100}.
    public var cadences: String?
    /// Program that wrote the file (root `software`).
    public var software: String
    /// Its version (root `software_version`).
    public var softwareVersion: String
    /// ISO 8601 UTC creation time (root `created`); the writer fills it when nil.
    public var created: String?
    /// Normalisation of the loss and of M (`/run@loss_convention`, format 1.1); `gram_definition`
    /// is written to match it.
    public var lossConvention: LossConvention = .meanSquaredError
    /// Root `title` (CF); nil: the writer composes one from the model and η.
    public var title: String?
    /// The command line recorded as the first `history` line; nil: this process's arguments.
    public var command: String?
    /// c, the number of network outputs (`/run@n_outputs`, format 2.0). 1 (default): a
    /// single-output file, written exactly as before format 2.0 (version [1, 1], no
    /// `n_outputs`). c > 1: format [2, 0]; every per-sample vector of a `StepRow` (residual,
    /// outputs, products, each eigenvector) has n·c entries, flattened sample-major (i·c + a).
    public var outputCount: Int = 1
    /// j, how many of the k top eigenvectors are stored per step (`/run@eigenvectors_stored`,
    /// c > 1 only); nil: all k. Eigenvalues are always k.
    public var eigenvectorsStored: Int?

    /// n·c, the length of a flattened per-sample vector.
    public var flatCount: Int { n * outputCount }
    /// j (= k unless `eigenvectorsStored` says fewer).
    public var storedEigenvectorCount: Int { eigenvectorsStored ?? k }

    public init(learningRate: Double, n: Int, p: Int, k: Int, loss: String = "mse", model: String,
                seed: Int64? = nil, dataSeed: Int64? = nil, config: String? = nil,
                dataDescription: String? = nil, cadences: String? = nil,
                software: String = "eostrace", softwareVersion: String, created: String? = nil) {
        self.learningRate = learningRate
        self.n = n
        self.p = p
        self.k = k
        self.loss = loss
        self.model = model
        self.seed = seed
        self.dataSeed = dataSeed
        self.config = config
        self.dataDescription = dataDescription
        self.cadences = cadences
        self.software = software
        self.softwareVersion = softwareVersion
        self.created = created
    }
}

/// `/run@loss_convention` (format 1.1): which normalisation of the squared loss the residual, M
/// and the thresholds 2/η, 1/η refer to. M is the Gauss–Newton part of that loss's Hessian.
public enum LossConvention: String, Sendable, Equatable, CaseIterable {
    /// L = ‖D‖²/n, M = (2/n) J Jᵀ (the paper's; eostrace's recorder writes this).
    case meanSquaredError = "mean_squared_error"
    /// L = ‖D‖²/(2n) (Cohen et al. 2021), M = (1/n) J Jᵀ.
    case halfMeanSquaredError = "half_mean_squared_error"
    /// L = ‖D‖²/(nc) (PyTorch `MSELoss()`), M = (2/(nc)) J Jᵀ.
    case msePerOutput = "mse_per_output"

    /// `/run@gram_definition` matching the convention.
    public var gramDefinition: String {
        switch self {
        case .meanSquaredError: return "M = (2/n) J J^T"
        case .halfMeanSquaredError: return "M = (1/n) J J^T"
        case .msePerOutput: return "M = (2/(n c)) J J^T"
        }
    }
}

/// The training inputs X (n × d, row-major), stored in `/data/X` or referenced.
public enum TrainingInputs: Sendable, Equatable {
    /// X stored in the file: `values.count == n * d`, row i = sample i.
    case stored(values: [Double], d: Int)
    /// X kept elsewhere: its path and the SHA-256 (hex) of its float64 little-endian bytes,
    /// row-major [n, d].
    case reference(path: String, sha256: String, d: Int)

    /// Number of input features.
    public var d: Int {
        switch self {
        case .stored(_, let d), .reference(_, _, let d): return d
        }
    }
}

/// Which optional series a writer records and how it writes.
public struct WriterOptions: Sendable, Equatable {
    /// `/trajectory/outputs` F(t) at every step.
    public var outputs = false
    /// `/trajectory/output_layer_sharpness` λ_max(M_A) at every step.
    public var outputLayerSharpness = false
    /// `/trajectory/grad_norm` at every step.
    public var gradNorm = false
    /// `/trajectory/spectrum` (all n eigenvalues) at its own cadence.
    public var spectrum = false
    /// `/trajectory/hessian_sharpness` at its own cadence.
    public var hessian = false
    /// `/trajectory/parameters` checkpoints at their own cadence (needs p > 0).
    public var checkpoints = false
    /// `/trajectory/gram` full M at chosen steps.
    public var gram = false
    /// Steps buffered in memory before one write per dataset and one flush. nil: chosen so that
    /// the largest per-step dataset gets chunks of about 1 MiB (bounded to 1...1024).
    public var batchSteps: Int?
    /// Also flush a partial batch when this many seconds passed since the last flush (checked
    /// at each append). nil: only full batches flush.
    public var flushIntervalSeconds: Double? = 30
    /// Deflate level (1–9, with shuffle) for the per-sample datasets; nil (default): none.
    public var compression: Int?
    /// Write as SWMR writer (live readers, ordered metadata). Needs the 1.10 file format.
    public var swmr = true
    /// Create `/run@eigensolver_check` empty, fixed length, before SWMR starts, so that every later
    /// value is an in-place overwrite (crash-safe; see `TrajectoryWriter.setEigensolverCheck`).
    public var reserveEigensolverCheck = false
    /// The M-products `gram_residual`, `r_prime`, `r_prime_from_start` at every step (format 1.1).
    public var products = false
    /// The per-step solver cost `eigensolver_iterations`, `eigensolver_matvecs`, `step_seconds`.
    public var solverCost = false
    /// Record every eigenvalue of M above this threshold per step (`eigenvalues_above_threshold`,
    /// `eigenvalue_count_above_threshold`, `/run@eigenvalue_threshold`); nil: off.
    public var eigenvalueThreshold: Double?
    /// Length of the `threshold_eig` dimension; nil: min(n, 64).
    public var eigenvalueThresholdCapacity: Int?

    public init(outputs: Bool = false, outputLayerSharpness: Bool = false, gradNorm: Bool = false,
                spectrum: Bool = false, hessian: Bool = false, checkpoints: Bool = false, gram: Bool = false,
                batchSteps: Int? = nil, flushIntervalSeconds: Double? = 30, compression: Int? = nil,
                swmr: Bool = true) {
        self.outputs = outputs
        self.outputLayerSharpness = outputLayerSharpness
        self.gradNorm = gradNorm
        self.spectrum = spectrum
        self.hessian = hessian
        self.checkpoints = checkpoints
        self.gram = gram
        self.batchSteps = batchSteps
        self.flushIntervalSeconds = flushIntervalSeconds
        self.compression = compression
        self.swmr = swmr
    }

    /// Every optional series on.
    public static var all: WriterOptions {
        WriterOptions(outputs: true, outputLayerSharpness: true, gradNorm: true, spectrum: true, hessian: true,
                      checkpoints: true, gram: true)
    }
}

/// The M-products of one step (format 1.1): M(t)D(t), R′(t) with restarts, R′(t) from the first
/// recorded step; n·c values each (flattened sample-major).
public struct StepProducts: Sendable, Equatable {
    public var gramResidual: [Double]
    public var rPrime: [Double]
    public var rPrimeFromStart: [Double]
    public init(gramResidual: [Double], rPrime: [Double], rPrimeFromStart: [Double]) {
        self.gramResidual = gramResidual; self.rPrime = rPrime; self.rPrimeFromStart = rPrimeFromStart
    }
}

/// What one step cost: eigensolver iterations and matrix–vector products (−1: unknown), and
/// wall-clock seconds (volatile).
public struct StepCost: Sendable, Equatable {
    public var iterations: Int64
    public var matvecs: Int64
    public var seconds: Double
    public init(iterations: Int64, matvecs: Int64, seconds: Double) {
        self.iterations = iterations; self.matvecs = matvecs; self.seconds = seconds
    }
}

/// One recorded GD step (main cadence). Shapes (N = n·c, the flattened sample-major length;
/// c = `RunMetadata.outputCount`, 1 for a single output): residual [N], eigenvalues [k]
/// descending, eigenvectors [j·N] with row i = v_i (j = `storedEigenvectorCount`, = k for c = 1),
/// outputs [N], products [N] each.
public struct StepRow: Sendable, Equatable {
    public var step: Int64
    /// L(t) = ‖D‖²/n.
    public var loss: Double
    /// D(t) = F(t) − Y, [n].
    public var residual: [Double]
    /// ‖A(t)‖².
    public var outputNormSq: Double
    /// Λ(t) = λ_1(M(t)).
    public var sharpness: Double
    /// Top-k eigenvalues of M(t), descending, [k].
    public var eigenvalues: [Double]
    /// Unit eigenvectors, row-major [k, n] (row i = v_i).
    public var eigenvectors: [Double]
    /// D(t)ᵀF(t).
    public var dtf: Double
    /// F(t), [n]; required when the writer records outputs.
    public var outputs: [Double]?
    /// λ_max(M_A(t)); required when the writer records it.
    public var outputLayerSharpness: Double?
    /// ‖∇L(θ(t))‖; required when the writer records it.
    public var gradNorm: Double?
    /// The M-products of this step (format 1.1), required when the writer records them.
    public var products: StepProducts?
    /// The solver cost of this step, required when the writer records it.
    public var cost: StepCost?
    /// Every eigenvalue of M above the writer's threshold (descending, any count; the writer
    /// stores the first `capacity`, NaN-padded) — required when the writer records them.
    public var eigenvaluesAboveThreshold: [Double]?

    public init(step: Int64, loss: Double, residual: [Double], outputNormSq: Double, sharpness: Double,
                eigenvalues: [Double], eigenvectors: [Double], dtf: Double, outputs: [Double]? = nil,
                outputLayerSharpness: Double? = nil, gradNorm: Double? = nil) {
        self.step = step
        self.loss = loss
        self.residual = residual
        self.outputNormSq = outputNormSq
        self.sharpness = sharpness
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.dtf = dtf
        self.outputs = outputs
        self.outputLayerSharpness = outputLayerSharpness
        self.gradNorm = gradNorm
    }
}
