import EOSModels
import EOSNumerics
import Foundation
import TrajectoryFormat
import Yams

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
    /// Record the M-products (gram_residual, r_prime, r_prime_from_start) at every step; nil = true
    /// (format 1.1; `record --no-products` sets false).
    public var products: Bool?
    /// Also record every eigenvalue of M above this value per step (`record --eigenvalue-threshold`); nil: off.
    public var eigenvalueThreshold: Double?
    /// Whether the M-products are recorded (`products` ?? true).
    public var recordsProducts: Bool { products ?? true }
    /// A fork: θ(0) is θ at a step of another recording (`ForkSource`, `record --from`); nil: θ(0)
    /// from `init_seed` and `init_scale`.
    public var from: ForkSource?
    /// With c > 1 outputs: how many of the k top eigenvectors are stored per step (1...k;
    /// `record --eigenvectors`, `/run@eigenvectors_stored`); nil: 1 (v_1, what the analysis uses;
    /// each stored vector is n·c doubles per step). Ignored for c = 1 (all k are stored).
    public var eigenvectorsStored: Int?

    enum CodingKeys: String, CodingKey {
        case data, model, initSeed = "init_seed", initScale = "init_scale", learningRate = "learning_rate", steps, k
        case spectrumEvery = "spectrum_every", hessianEvery = "hessian_every", checkpointEvery = "checkpoint_every"
        case crossCheckEvery = "cross_check_every", gramEvery = "gram_every", divergenceLoss = "divergence_loss"
        case eigenTolerance = "eigen_tolerance", storeDataBelow = "store_data_below"
        case products, eigenvalueThreshold = "eigenvalue_threshold", from
        case eigenvectorsStored = "eigenvectors_stored"
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
        products = try c.decodeIfPresent(Bool.self, forKey: .products)
        eigenvalueThreshold = try c.decodeIfPresent(Double.self, forKey: .eigenvalueThreshold)
        from = try c.decodeIfPresent(ForkSource.self, forKey: .from)
        eigenvectorsStored = try c.decodeIfPresent(Int.self, forKey: .eigenvectorsStored)
    }

    /// j for a run with c outputs: all k for c = 1, else `eigenvectors_stored` (default 1).
    public func storedEigenvectors(outputs c: Int) -> Int { c > 1 ? min(eigenvectorsStored ?? 1, k) : k }

    /// Checks ranges; errors name `source`.
    public func validate(source: String = "config") throws {
        func bad(_ s: String) -> RunError { .invalidConfig(source: source, problem: s) }
        try model.validate(source: source + " model")
        guard SeriesInvariants.isValidLearningRate(learningRate) else { throw bad("learning_rate must be positive, got \(learningRate)") }
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
        if let x = eigenvalueThreshold, !x.isFinite { throw bad("eigenvalue_threshold must be finite, got \(x)") }
        if let j = eigenvectorsStored, j < 1 || j > k { throw bad("eigenvectors_stored must be in 1...k = \(k), got \(j)") }
        if let n = data.n, n < 1 { throw bad("data.n must be ≥ 1, got \(n)") }
        try checkSizes(bad)
    }

    /// Refuses sizes whose arrays could not be allocated (absurd `--n` or `--widths`): the
    /// parameter count p and the n × p Jacobian, n × n Gram and k × n eigenvectors, computed with
    /// overflow checks, must fit in the machine's physical memory.
    func checkSizes(_ bad: (String) -> RunError) throws {
        let n = data.n ?? 1
        var dims = [model.inputDim]
        switch model {
        case let .mlp(_, widths, _, bias, _): dims += widths + [1]; _ = bias
        case let .twoLayerLinear(_, m): dims += [m, 1]
        }
        var p = 0
        for (a, b) in zip(dims, dims.dropFirst()) {
            guard let w = SeriesInvariants.checkedProduct([a, b]) else { throw bad("model has more parameters than fit in 64 bits") }
            let (s, o) = p.addingReportingOverflow(w &+ b)
            guard !o, w < Int.max - b else { throw bad("model has more parameters than fit in 64 bits") }
            p = s
        }
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let width = dims.dropFirst().reduce(0) { $0 > Int.max - $1 ? Int.max : $0 + $1 }
        for (what, factors) in [("the n × width activations", [n, width, 8]), ("the n × d inputs", [n, model.inputDim, 8]),
                                ("the n × n Gram matrix", [n, n, 8]),
                                ("the k × n eigenvectors", [k, n, 8]), ("the parameters", [p, 8])] {
            guard let bytes = SeriesInvariants.checkedProduct(factors), bytes <= memory else {
                throw bad("sizes too large: \(what) (n = \(n), p = \(p), k = \(k)) needs more than the \(memory) bytes of memory")
            }
        }
    }

    /// Pretty-printed JSON with sorted keys (`record --show-config`; loadable as a config file).
    public func prettyJSON() -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Canonical JSON (sorted keys).
    public func jsonString() -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parses a config file: YAML when the name ends in .yaml or .yml, JSON otherwise (the keys
    /// of /run@config either way; JSON is also valid YAML).
    ///
    /// With `base` (the preset of `eostrace record`), the file's keys layer on it: a key given
    /// replaces the base's value; `data` and `model` are merged key by key when the file names
    /// the same `kind` or none (a different kind replaces the whole section). So
    /// `{"learning_rate": 7, "steps": 50}` is the preset with η = 7 and 50 steps. Without
    /// `base` the file must be complete (data, model, learning_rate, steps).
    public static func load(path: String, base: RunConfig?) throws -> RunConfig {
        guard let base else { return try load(path: path) }
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type != .typeRegular {
            throw RunError.invalidConfig(source: path, problem: "not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError.invalidConfig(source: path, problem: "cannot read file")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        var tree: [String: Any]
        if ext == "yaml" || ext == "yml" {
            guard let text = String(data: data, encoding: .utf8) else {
                throw RunError.invalidConfig(source: path, problem: "not UTF-8 text")
            }
            let parsed: Any?
            do { parsed = try Yams.load(yaml: text) } catch {
                throw RunError.invalidConfig(source: path, problem: "YAML: " + "\(error)".split(whereSeparator: \.isNewline).joined(separator: " "))
            }
            guard let t = parsed as? [String: Any] else {
                throw RunError.invalidConfig(source: path, problem: "expected a mapping of config keys at the top level")
            }
            tree = t
        } else {
            let parsed: Any
            do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
                throw RunError.invalidConfig(source: path, problem: "not valid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")")
            }
            guard let t = parsed as? [String: Any] else {
                throw RunError.invalidConfig(source: path, problem: "expected a JSON object of config keys at the top level")
            }
            tree = t
        }
        if let p = ConfigKeys.unknown(Array(tree.keys), known: ConfigKeys.topLevel, prefix: "") {
            throw RunError.invalidConfig(source: path, problem: p)
        }
        let baseTree = (try? JSONSerialization.jsonObject(with: Data(base.jsonString().utf8))) as? [String: Any] ?? [:]
        let merged = layered(tree, on: baseTree)
        guard JSONSerialization.isValidJSONObject(merged), let mergedData = try? JSONSerialization.data(withJSONObject: merged) else {
            throw RunError.invalidConfig(source: path, problem: "holds values that are not numbers, strings, booleans, lists or mappings")
        }
        // The merged keys go through the same checks and messages as a complete file.
        return try parse(mergedData, yaml: false, source: path)
    }

    /// `file`'s keys over `base`'s; `data` and `model` merged when the kinds agree (or the file
    /// gives none).
    static func layered(_ file: [String: Any], on base: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in file {
            if ["data", "model"].contains(key), let sub = value as? [String: Any], let baseSub = base[key] as? [String: Any],
               sub["kind"] == nil || (sub["kind"] as? String) == (baseSub["kind"] as? String) {
                out[key] = baseSub.merging(sub) { _, new in new }
            } else {
                out[key] = value
            }
        }
        return out
    }

    public static func load(path: String) throws -> RunConfig { try load(path: path, source: path) }

    /// `load(path:)` with errors naming `source` (the file the user gave).
    static func load(path: String, source: String) throws -> RunConfig {
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type != .typeRegular {
            throw RunError.invalidConfig(source: source, problem: "not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError.invalidConfig(source: source, problem: "cannot read file")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        return try parse(data, yaml: ext == "yaml" || ext == "yml", source: source)
    }

    /// Decodes and validates config text (JSON, or YAML when `yaml`); errors name `source`.
    static func parse(_ data: Data, yaml: Bool, source: String) throws -> RunConfig {
        do {
            let c: RunConfig
            if yaml {
                guard let text = String(data: data, encoding: .utf8) else {
                    throw RunError.invalidConfig(source: source, problem: "not UTF-8 text")
                }
                do {
                    if let tree = try Yams.load(yaml: text) as? [String: Any], let p = ConfigKeys.problem(in: tree) {
                        throw RunError.invalidConfig(source: source, problem: p)
                    }
                    c = try YAMLDecoder().decode(RunConfig.self, from: text)
                } catch let e as YamlError {
                    throw RunError.invalidConfig(source: source, problem: "YAML: " + "\(e)".split(whereSeparator: \.isNewline).joined(separator: " "))
                }
            } else {
                if let tree = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let p = ConfigKeys.problem(in: tree) {
                    throw RunError.invalidConfig(source: source, problem: p)
                }
                c = try JSONDecoder().decode(RunConfig.self, from: data)
            }
            try c.validate(source: source)
            return c
        } catch let e as RunError { throw e
        } catch let e as ModelError { throw e
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw RunError.invalidConfig(source: source, problem: "missing key \"\((ctx.codingPath.map { $0.stringValue } + [key.stringValue]).joined(separator: "."))\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw RunError.invalidConfig(source: source, problem: "wrong type at \"\(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))\"")
        } catch let DecodingError.dataCorrupted(ctx) {
            let under = ctx.underlyingError.map { ": " + "\($0)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") } ?? ""
            throw RunError.invalidConfig(source: source, problem: ctx.debugDescription + under + (ctx.codingPath.isEmpty ? "" : " at \"\(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))\""))
        } catch {
            throw RunError.invalidConfig(source: source, problem: "\(error)")
        }
    }
}

