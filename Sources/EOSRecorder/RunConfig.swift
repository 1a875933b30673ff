import EOSModels
import EOSNumerics
import Foundation
import Yams

/// Where the training data come from (part of a `RunConfig`).
public struct DataSpec: Codable, Sendable, Equatable {
    /// "fashion-mnist", "synthetic", "npy" (files `x`, `y`) or "hdf5" (`file` with datasets
    /// `x_dataset`, `y_dataset`, default "/X" and "/Y").
    public var kind: String
    public var n: Int?
    /// Fashion-MNIST: the two classes (first → +1, second → −1).
    public var classes: [Int]?
    public var seed: UInt64?
    /// Fashion-MNIST: training file (default) or test file.
    public var train: Bool?
    public var directory: String?
    public var center: Bool?
    /// Synthetic: input dimension, rank, λ_1 of XXᵀ, χ, eigengap λ1/λ2, decay λ_i/λ_{i+1} (i ≥ 2).
    public var d: Int?
    public var rank: Int?
    public var lambda1: Double?
    public var chi: Double?
    public var gap: Double?
    public var decay: Double?
    /// npy: paths of X (n × d) and Y (n).
    public var x: String?
    public var y: String?
    /// hdf5: the file and the names of its X (n × d) and Y (n or n × 1) datasets.
    public var file: String?
    public var xDataset: String?
    public var yDataset: String?

    enum CodingKeys: String, CodingKey {
        case kind, n, classes, seed, train, directory, center, d, rank, lambda1, chi, gap, decay, x, y, file
        case xDataset = "x_dataset", yDataset = "y_dataset"
    }

    public init(kind: String, n: Int? = nil, classes: [Int]? = nil, seed: UInt64? = nil, train: Bool? = nil,
                directory: String? = nil, center: Bool? = nil, d: Int? = nil, rank: Int? = nil, lambda1: Double? = nil,
                chi: Double? = nil, gap: Double? = nil, decay: Double? = nil, x: String? = nil, y: String? = nil,
                file: String? = nil, xDataset: String? = nil, yDataset: String? = nil) {
        self.kind = kind; self.n = n; self.classes = classes; self.seed = seed; self.train = train
        self.directory = directory; self.center = center; self.d = d; self.rank = rank; self.lambda1 = lambda1
        self.chi = chi; self.gap = gap; self.decay = decay; self.x = x; self.y = y
        self.file = file; self.xDataset = xDataset; self.yDataset = yDataset
    }

    /// The same spec with relative data paths made absolute (against the current directory), so
    /// that a recording can be replayed or resumed from anywhere.
    public func resolvingPaths() -> DataSpec {
        func abs(_ p: String?) -> String? {
            guard let p, !p.hasPrefix("/") else { return p }
            return URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                .standardizedFileURL.path
        }
        var s = self
        switch kind {
        case "npy": s.x = abs(x); s.y = abs(y)
        case "hdf5": s.file = abs(file)
        case "fashion-mnist", "fmnist": s.directory = abs(directory)
        default: break
        }
        return s
    }

    /// Where X comes from, for `/data@x_path` when X is only referenced: the user's file (with
    /// the dataset name for HDF5), or the generator for synthetic and Fashion-MNIST data. The
    /// exact recipe (row subset, centering) is the `data` section of `/run@config`.
    public var inputsLocation: String {
        switch kind {
        case "npy": return x ?? "npy"
        case "hdf5": return "\(file ?? "hdf5"):\(xDataset.map { $0.hasPrefix("/") ? $0 : "/" + $0 } ?? "/X")"
        case "fashion-mnist", "fmnist": return (directory ?? FashionMNIST.defaultDirectory) + " (Fashion-MNIST, see /run@config)"
        default: return "\(kind) (generated from /run@config)"
        }
    }
    /// Loads (or generates) the data set.
    public func load() throws -> Dataset {
        switch kind {
        case "fashion-mnist", "fmnist":
            let c = classes ?? [0, 6]
            guard c.count == 2 else { throw DataError.invalidRequest("config data.classes: need exactly two classes, got \(c)") }
            return try FashionMNIST.load(directory: directory ?? FashionMNIST.defaultDirectory, train: train ?? true,
                                         classes: (c[0], c[1]), n: n ?? 1000, seed: seed ?? 0, center: center ?? true)
        case "synthetic":
            return try SyntheticData.make(n: n ?? 200, d: d ?? 50, rank: rank, lambda1: lambda1, chi: chi ?? 3,
                                          gap: gap ?? 2, decay: decay ?? 1.1, seed: seed ?? 0)
        case "npy":
            guard let x, let y else { throw DataError.invalidRequest("config data: kind \"npy\" needs \"x\" and \"y\" paths") }
            var ds = try NPY.loadDataset(x: x, y: y)
            if let n, n < ds.n {
                ds = Dataset(X: ds.X.rows(0..<n), Y: Array(ds.Y[0..<n]), source: ds.source + " (first \(n) rows)")
            }
            if center ?? false { ds.center() }
            return ds
        case "hdf5":
            guard let file else { throw DataError.invalidRequest("config data: kind \"hdf5\" needs \"file\" (and optionally \"x_dataset\", \"y_dataset\")") }
            var ds = try HDF5Data.loadDataset(file: file, x: xDataset ?? "/X", y: yDataset ?? "/Y")
            if let n, n < ds.n {
                ds = Dataset(X: ds.X.rows(0..<n), Y: Array(ds.Y[0..<n]), source: ds.source + " (first \(n) rows)")
            }
            if center ?? false { ds.center() }
            return ds
        default:
            throw DataError.invalidRequest("config data.kind: unknown \"\(kind)\" (expected fashion-mnist, synthetic, npy or hdf5)")
        }
    }
}

/// A complete, reproducible description of a recording run (stored as JSON in `/run@config`).
public struct RunConfig: Codable, Sendable, Equatable {
    public var data: DataSpec
    public var model: ModelDescription
    /// Seed and scale of the parameter initialization (see `Network.initialParameters`).
    public var initSeed: UInt64
    public var initScale: Double
    /// Constant GD step size η.
    public var learningRate: Double
    /// Number of GD updates; steps 0...steps are recorded.
    public var steps: Int
    /// Top-k eigenpairs of M recorded at every step.
    public var k: Int
    /// Cadences (0 = never): full spectrum of M, Hessian sharpness (Lanczos), θ checkpoints,
    /// LAPACK cross-check of the iterative eigensolver, full Gram matrix.
    public var spectrumEvery: Int
    public var hessianEvery: Int
    public var checkpointEvery: Int
    public var crossCheckEvery: Int
    public var gramEvery: Int
    /// Stop with status "diverged" when the loss exceeds this (or is not finite).
    public var divergenceLoss: Double
    /// Residual tolerance of the iterative eigensolver (‖Mv − λv‖ ≤ tol·‖M‖).
    public var eigenTolerance: Double
    /// Store X in the recording when it takes at most this many bytes (float64); otherwise store
    /// only its location and SHA-256 digest (`/data@x_path`, `/data@x_sha256`). nil: 64 MiB.
    public var storeDataBelow: Int?
    public static let defaultStoreDataBelow = 64 << 20

    enum CodingKeys: String, CodingKey {
        case data, model, initSeed = "init_seed", initScale = "init_scale", learningRate = "learning_rate", steps, k
        case spectrumEvery = "spectrum_every", hessianEvery = "hessian_every", checkpointEvery = "checkpoint_every"
        case crossCheckEvery = "cross_check_every", gramEvery = "gram_every", divergenceLoss = "divergence_loss"
        case eigenTolerance = "eigen_tolerance", storeDataBelow = "store_data_below"
    }

    public init(data: DataSpec, model: ModelDescription, initSeed: UInt64 = 0, initScale: Double = 1,
                learningRate: Double, steps: Int, k: Int = 8, spectrumEvery: Int = 100, hessianEvery: Int = 0,
                checkpointEvery: Int = 500, crossCheckEvery: Int = 100, gramEvery: Int = 0,
                divergenceLoss: Double = 1e6, eigenTolerance: Double = 1e-10, storeDataBelow: Int? = nil) {
        self.data = data; self.model = model; self.initSeed = initSeed; self.initScale = initScale
        self.learningRate = learningRate; self.steps = steps; self.k = k; self.spectrumEvery = spectrumEvery
        self.hessianEvery = hessianEvery; self.checkpointEvery = checkpointEvery; self.crossCheckEvery = crossCheckEvery
        self.gramEvery = gramEvery; self.divergenceLoss = divergenceLoss; self.eigenTolerance = eigenTolerance
        self.storeDataBelow = storeDataBelow
    }

    /// Decodes with defaults for every field except data, model, learning_rate and steps.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(data: try c.decode(DataSpec.self, forKey: .data),
                  model: try c.decode(ModelDescription.self, forKey: .model),
                  initSeed: try c.decodeIfPresent(UInt64.self, forKey: .initSeed) ?? 0,
                  initScale: try c.decodeIfPresent(Double.self, forKey: .initScale) ?? 1,
                  learningRate: try c.decode(Double.self, forKey: .learningRate),
                  steps: try c.decode(Int.self, forKey: .steps),
                  k: try c.decodeIfPresent(Int.self, forKey: .k) ?? 8,
                  spectrumEvery: try c.decodeIfPresent(Int.self, forKey: .spectrumEvery) ?? 100,
                  hessianEvery: try c.decodeIfPresent(Int.self, forKey: .hessianEvery) ?? 0,
                  checkpointEvery: try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? 500,
                  crossCheckEvery: try c.decodeIfPresent(Int.self, forKey: .crossCheckEvery) ?? 100,
                  gramEvery: try c.decodeIfPresent(Int.self, forKey: .gramEvery) ?? 0,
                  divergenceLoss: try c.decodeIfPresent(Double.self, forKey: .divergenceLoss) ?? 1e6,
                  eigenTolerance: try c.decodeIfPresent(Double.self, forKey: .eigenTolerance) ?? 1e-10,
                  storeDataBelow: try c.decodeIfPresent(Int.self, forKey: .storeDataBelow))
    }

    /// Checks ranges; errors name `source`.
    public func validate(source: String = "config") throws {
        func bad(_ s: String) -> RecorderError { .invalidConfig(source: source, problem: s) }
        try model.validate(source: source + " model")
        guard learningRate > 0 && learningRate.isFinite else { throw bad("learning_rate must be positive, got \(learningRate)") }
        guard steps >= 0 else { throw bad("steps must be ≥ 0, got \(steps)") }
        guard k >= 1 else { throw bad("k must be ≥ 1, got \(k)") }
        for (name, v) in [("spectrum_every", spectrumEvery), ("hessian_every", hessianEvery), ("checkpoint_every", checkpointEvery),
                          ("cross_check_every", crossCheckEvery), ("gram_every", gramEvery)] where v < 0 {
            throw bad("\(name) must be ≥ 0, got \(v)")
        }
        guard initScale > 0 && initScale.isFinite else { throw bad("init_scale must be positive") }
        guard divergenceLoss > 0 && divergenceLoss.isFinite else { throw bad("divergence_loss must be positive and finite (use e.g. 1e300 for no threshold)") }
        guard eigenTolerance > 0 && eigenTolerance < 1e-3 else { throw bad("eigen_tolerance must be in (0, 1e-3)") }
        if let s = storeDataBelow, s < 0 { throw bad("store_data_below must be ≥ 0 bytes, got \(s)") }
    }

    /// Canonical JSON (sorted keys).
    public func jsonString() -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parses a config file: YAML when the name ends in .yaml or .yml, JSON otherwise (the keys
    /// of /run@config either way; JSON is also valid YAML).
    public static func load(path: String) throws -> RunConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecorderError.invalidConfig(source: path, problem: "cannot read file")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        do {
            let c: RunConfig
            if ext == "yaml" || ext == "yml" {
                guard let text = String(data: data, encoding: .utf8) else {
                    throw RecorderError.invalidConfig(source: path, problem: "not UTF-8 text")
                }
                do { c = try YAMLDecoder().decode(RunConfig.self, from: text) } catch let e as YamlError {
                    throw RecorderError.invalidConfig(source: path, problem: "YAML: " + "\(e)".split(whereSeparator: \.isNewline).joined(separator: " "))
                }
            } else {
                c = try JSONDecoder().decode(RunConfig.self, from: data)
            }
            try c.validate(source: path)
            return c
        } catch let e as RecorderError { throw e
        } catch let e as ModelError { throw e
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw RecorderError.invalidConfig(source: path, problem: "missing key \"\((ctx.codingPath.map { $0.stringValue } + [key.stringValue]).joined(separator: "."))\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw RecorderError.invalidConfig(source: path, problem: "wrong type at \"\(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))\"")
        } catch let DecodingError.dataCorrupted(ctx) {
            let under = ctx.underlyingError.map { ": " + "\($0)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") } ?? ""
            throw RecorderError.invalidConfig(source: path, problem: ctx.debugDescription + under + (ctx.codingPath.isEmpty ? "" : " at \"\(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))\""))
        } catch {
            throw RecorderError.invalidConfig(source: path, problem: "\(error)")
        }
    }
}

/// Errors of the recorder (configuration, shapes handed to `Recorder`, resume).
public enum RecorderError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(source: String, problem: String)
    case shapeMismatch(object: String, expected: String, got: String)
    case nonFinite(object: String)
    case cannotResume(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(s, p): return "\(s): invalid configuration: \(p)"
        case let .shapeMismatch(o, e, g): return "\(o): expected \(e), got \(g)"
        case let .nonFinite(o): return "\(o): contains NaN or Inf"
        case let .cannotResume(f, p): return "\(f): cannot resume: \(p)"
        }
    }
}
