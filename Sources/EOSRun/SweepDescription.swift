import Foundation
import TrajectoryFormat
import Yams

/// A sweep: one base configuration and lists of values for some of its keys, expanded to an
/// ordered list of runs (`expand()`), each with a run id derived from its resolved configuration.
///
/// File form (JSON, or YAML when named .yaml/.yml):
/// `{"preset": "linear-synthetic", "steps": 400, "sweep": {"learning_rate": [4, 8], "init_seed": [0, 1, 2]}}`
/// - `preset` (default fmnist-tanh) or `config` (a run config file, relative to the description's
///   folder) gives the base, as for `eostrace record`; every other top-level key except `sweep`
///   is a configuration key that overrides it (nested objects merge, dotted keys such as
///   `"data.n"` name nested keys).
/// - `from` (optional): "RECORDING@STEP": every run forks from that recording's θ at STEP (its
///   configuration is then the base unless `preset` or `config` is given).
/// - `sweep`: key → list of values; keys are configuration keys, dotted for nested ones
///   (`data.seed`, `data.n`), with the shorthands `lr` (learning_rate), `seed` (init_seed),
///   `data_seed` (data.seed), `n` (data.n).
///
/// Order (documented, stable): the swept keys sorted by name (after the shorthands are expanded);
/// runs are their cartesian product with the LAST key varying fastest, each key's values in the
/// order listed. Index i of `expand()` is the Slurm array task i.
public struct SweepDescription: Sendable {
    /// One swept key and its values in order.
    public struct Axis: Codable, Sendable, Equatable {
        public var key: String
        public var values: [SweepValue]
        public init(key: String, values: [SweepValue]) { self.key = key; self.values = values }
    }

    /// The base configuration as a JSON tree (the keys of `/run@config`).
    public var base: SweepValue
    /// Swept keys, sorted by key.
    public var axes: [Axis]
    /// Where the description came from (error messages).
    public var source: String

    public static let shorthands = ["lr": "learning_rate", "seed": "init_seed", "data_seed": "data.seed", "n": "data.n",
                                    "learning-rate": "learning_rate"]

    /// A description from a base configuration and axes (sorted here; shorthands expanded).
    public init(base: RunConfig, axes: [Axis], source: String) throws {
        self.base = try Self.tree(of: base)
        self.source = source
        self.axes = try Self.normalized(axes, source: source)
    }

    public init(baseTree: SweepValue, axes: [Axis], source: String) throws {
        self.base = baseTree
        self.source = source
        self.axes = try Self.normalized(axes, source: source)
    }

    static func normalized(_ axes: [Axis], source: String) throws -> [Axis] {
        var seen = Set<String>()
        var out: [Axis] = []
        for a in axes {
            let key = shorthands[a.key] ?? a.key
            guard !a.values.isEmpty else { throw RunError.invalidConfig(source: source, problem: "sweep key \"\(a.key)\" has no values") }
            guard seen.insert(key).inserted else { throw RunError.invalidConfig(source: source, problem: "sweep key \"\(key)\" given twice") }
            for (i, v) in a.values.enumerated() where a.values[..<i].contains(v) {
                throw RunError.invalidConfig(source: source, problem: "sweep key \"\(key)\": value \(v.canonical) appears twice")
            }
            out.append(Axis(key: key, values: a.values))
        }
        return out.sorted { $0.key < $1.key }
    }

    /// The configuration as a JSON tree.
    public static func tree(of c: RunConfig) throws -> SweepValue {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return try JSONDecoder().decode(SweepValue.self, from: e.encode(c))
    }

    /// Reads a description file (see the type's documentation).
    public static func load(path: String) throws -> SweepDescription {
        func bad(_ p: String) -> RunError { .invalidConfig(source: path, problem: p) }
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type != .typeRegular {
            throw bad("not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("cannot read file") }
        let ext = (path as NSString).pathExtension.lowercased()
        let tree: SweepValue
        do {
            if ext == "yaml" || ext == "yml" {
                guard let text = String(data: data, encoding: .utf8) else { throw bad("not UTF-8 text") }
                tree = try YAMLDecoder().decode(SweepValue.self, from: text)
            } else {
                tree = try JSONDecoder().decode(SweepValue.self, from: data)
            }
        } catch let e as RunError { throw e
        } catch {
            throw bad("not valid \(ext == "yaml" || ext == "yml" ? "YAML" : "JSON"): " + "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ").prefix(200))
        }
        guard case .object(var top) = tree else { throw bad("expected an object with \"sweep\" and configuration keys") }
        let folder = (path as NSString).deletingLastPathComponent
        var base: SweepValue
        // "from": "RECORDING@STEP" (relative to the description's folder): every run forks there;
        // the source's configuration is the base unless "preset" or "config" names another.
        var fork: (source: ForkSource, config: RunConfig)?
        if let f = top.removeValue(forKey: "from") {
            guard case .string(let spec) = f else { throw bad("\"from\" must be \"RECORDING@STEP\"") }
            fork = try Fork.resolve(spec.hasPrefix("/") || folder.isEmpty ? spec : (folder as NSString).appendingPathComponent(spec))
        }
        if let fork, top["preset"] == nil, top["config"] == nil {
            base = try Self.tree(of: fork.config)
        } else if case .string(let cfg)? = top.removeValue(forKey: "config") {
            let cfgPath = cfg.hasPrefix("/") || folder.isEmpty ? cfg : (folder as NSString).appendingPathComponent(cfg)
            base = try Self.tree(of: try RunConfig.load(path: cfgPath))
            if top["preset"] != nil { throw bad("give \"preset\" or \"config\", not both") }
        } else {
            let name: String
            switch top.removeValue(forKey: "preset") {
            case nil: name = Preset.fmnistTanh.rawValue
            case .string(let s)?: name = s
            default: throw bad("\"preset\" must be a string")
            }
            guard let preset = Preset(rawValue: name) else {
                throw bad("unknown preset \"\(name)\" (expected \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            base = try Self.tree(of: preset.config)
        }
        var axes: [Axis] = []
        if let sweep = top.removeValue(forKey: "sweep") {
            guard case .object(let s) = sweep else { throw bad("\"sweep\" must map keys to lists of values") }
            for (k, v) in s {
                guard case .array(let values) = v else { throw bad("sweep key \"\(k)\" must be a list of values") }
                axes.append(Axis(key: k, values: values))
            }
        }
        for (k, v) in top {
            let key = shorthands[k] ?? k
            base[path: key.split(separator: ".").map(String.init)] = (base[path: key.split(separator: ".").map(String.init)] ?? .null).merging(v)
        }
        if let fork {
            let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
            base[path: ["from"]] = try JSONDecoder().decode(SweepValue.self, from: e.encode(fork.source))
        }
        // Relative data paths are relative to the description's folder.
        base = Self.absolutizingDataPaths(base, folder: folder)
        return try SweepDescription(baseTree: base, axes: axes, source: path)
    }

    static func absolutizingDataPaths(_ t: SweepValue, folder: String) -> SweepValue {
        var t = t
        for key in ["x", "y", "file", "directory"] {
            if case .string(let p)? = t[path: ["data", key]], !p.hasPrefix("/") {
                let base = folder.isEmpty ? FileManager.default.currentDirectoryPath
                    : (folder.hasPrefix("/") ? folder : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(folder))
                t[path: ["data", key]] = .string(((base as NSString).appendingPathComponent(p) as NSString).standardizingPath)
            }
        }
        return t
    }

    /// One run of the sweep.
    public struct Run: Sendable {
        /// Position in the expansion (the Slurm array task index).
        public var index: Int
        /// The swept keys' values of this run.
        public var values: [String: SweepValue]
        /// The resolved configuration.
        public var config: RunConfig
        /// Its identity: canonical JSON of the configuration with data files replaced by their
        /// SHA-256 (`RunIdentity`).
        public var identity: String
        /// sha256 of `identity` (hex) and its first 12 hex digits, the run id.
        public var sha256: String
        public var id: String { String(sha256.prefix(RunIdentity.idLength)) }
    }

    /// The runs in the documented order; each configuration validated.
    public func expand() throws -> [Run] {
        var combos: [[SweepValue]] = [[]]
        for a in axes { combos = combos.flatMap { c in a.values.map { c + [$0] } } }
        var digests = RunIdentity.DigestCache()
        var runs: [Run] = []
        for (i, combo) in combos.enumerated() {
            var t = base
            var values: [String: SweepValue] = [:]
            for (a, v) in zip(axes, combo) {
                t[path: a.key.split(separator: ".").map(String.init)] = v
                values[a.key] = v
            }
            let what = "\(source) run \(i) (\(values.keys.sorted().map { "\($0)=\(values[$0]!.canonical)" }.joined(separator: ", ")))"
            let config = try RunIdentity.config(from: t, source: what)
            let identity = try RunIdentity.identity(of: config, digests: &digests)
            runs.append(Run(index: i, values: values, config: config, identity: identity, sha256: SHA256.hex(Array(identity.utf8))))
        }
        return runs
    }
}

/// How a run id is made: the canonical JSON (`SweepValue.canonical`) of the run's resolved
/// configuration (the keys of `/run@config`, defaults filled in), with every data file named by
/// its content instead of its path (`"x": "sha256:<hex>"` for npy data, `"file"` for HDF5 data;
/// a Fashion-MNIST `directory` is dropped: the data set is identified by its name, classes, n and
/// seed), hashed with SHA-256; the id is the first 12 hex digits. The software version is NOT
/// part of it (the same configuration keeps its id across releases; each file stores the version
/// that wrote it in its root attributes).
public enum RunIdentity {
    public static let idLength = 12

    /// SHA-256 of files by path, computed once per expansion.
    public struct DigestCache {
        var byPath: [String: String] = [:]
        public init() {}
        mutating func digest(_ path: String, source: String) throws -> String {
            if let d = byPath[path] { return d }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RunError.invalidConfig(source: source, problem: "cannot read data file \(path) (its digest is part of the run id)")
            }
            let d = SHA256.hex(Array(data))
            byPath[path] = d
            return d
        }
    }

    /// Decodes and validates a configuration tree (strict keys, as for config files).
    public static func config(from t: SweepValue, source: String) throws -> RunConfig {
        if case .object = t, let tree = t.any as? [String: Any], let p = ConfigKeys.problem(in: tree) {
            throw RunError.invalidConfig(source: source, problem: p)
        }
        let c: RunConfig
        do {
            c = try JSONDecoder().decode(RunConfig.self, from: Data(t.canonical.utf8))
        } catch {
            throw RunError.invalidConfig(source: source, problem: "\(error)".split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        try c.validate(source: source)
        return c
    }

    /// The identity text of a configuration (see the type's documentation).
    public static func identity(of c: RunConfig, digests: inout DigestCache) throws -> String {
        var t = try SweepDescription.tree(of: c)
        let source = "run configuration"
        switch c.data {
        case .npy(let o):
            if let x = o.x { t[path: ["data", "x"]] = .string("sha256:" + (try digests.digest(x, source: source))) }
            if let y = o.y { t[path: ["data", "y"]] = .string("sha256:" + (try digests.digest(y, source: source))) }
        case .hdf5(let o):
            if let f = o.file { t[path: ["data", "file"]] = .string("sha256:" + (try digests.digest(f, source: source))) }
        case .fashionMNIST:
            t[path: ["data", "directory"]] = nil
        case .synthetic, .unknown: break
        }
        // A fork's source by its digest and run id, not its path.
        if c.from != nil { t[path: ["from", "file"]] = nil }
        return t.canonical
    }

    /// The run id of one configuration.
    public static func id(of c: RunConfig) throws -> String {
        var d = DigestCache()
        return String(SHA256.hex(Array(try identity(of: c, digests: &d).utf8)).prefix(idLength))
    }
}
