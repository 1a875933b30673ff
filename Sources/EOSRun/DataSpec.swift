import EOSModels
import Foundation

/// Where the training data come from (the `data` section of a `RunConfig`): one case per data
/// kind, each with the keys that kind uses.
///
/// JSON (as stored in `/run@config`): `{"kind": "fashion-mnist" | "fmnist" | "synthetic" | "npy" |
/// "hdf5", ...}` with the keys of the kind. Decoding reads every key of every kind with its type
/// (a key of the wrong type is an error whatever the kind, as it always was), then keeps the
/// keys of the named kind; an unknown kind decodes to `.unknown` and fails in `load()`.
/// Encoding writes the present keys of the case, so a config encodes to the same canonical JSON
/// (sorted keys) as before this type was an enum.
public enum DataSpec: Sendable, Equatable {
    /// Fashion-MNIST (IDX files), two classes.
    case fashionMNIST(FashionMNISTOptions)
    /// Synthetic data satisfying Assumption 4.1 (`SyntheticData.make`).
    case synthetic(SyntheticOptions)
    /// X (n × d) and Y (n) in two .npy files.
    case npy(NPYFiles)
    /// X (n × d) and Y (n or n × 1) as two datasets of one HDF5 file.
    case hdf5(HDF5Files)
    /// A kind eostrace does not know (`load()` throws naming it).
    case unknown(kind: String)

    /// `kind` "fashion-mnist" (or its alias "fmnist").
    public struct FashionMNISTOptions: Sendable, Equatable {
        /// Samples (default 1000).
        public var n: Int?
        /// The two classes, first → +1, second → −1 (default [0, 6]).
        public var classes: [Int]?
        /// Seed of the sample subset (default 0); also `/run@data_seed`.
        public var seed: UInt64?
        /// Training file (default) or test file.
        public var train: Bool?
        /// Directory of the IDX files (default `FashionMNIST.defaultDirectory`).
        public var directory: String?
        /// Subtract the feature means (default true).
        public var center: Bool?
        /// The kind was spelled "fmnist" (kept so the stored config is unchanged).
        public var spelledFmnist: Bool
        /// c-output targets: "onehot" (1/0) or "pm1" (+1/−1), one output per class of `classes`
        /// (any subset of 0...9); nil: the two-class scalar ±1 targets (docs/MULTI-OUTPUT.md).
        public var targets: String?
        public init(n: Int? = nil, classes: [Int]? = nil, seed: UInt64? = nil, train: Bool? = nil,
                    directory: String? = nil, center: Bool? = nil, spelledFmnist: Bool = false, targets: String? = nil) {
            self.n = n; self.classes = classes; self.seed = seed; self.train = train
            self.directory = directory; self.center = center; self.spelledFmnist = spelledFmnist
            self.targets = targets
        }
    }

    /// `kind` "synthetic": n, input dimension d, rank, λ_1 of XXᵀ, χ, eigengap λ1/λ2, decay λ_i/λ_{i+1} (i ≥ 2).
    public struct SyntheticOptions: Sendable, Equatable {
        public var n: Int?
        public var seed: UInt64?
        public var d: Int?
        public var rank: Int?
        public var lambda1: Double?
        public var chi: Double?
        public var gap: Double?
        public var decay: Double?
        public init(n: Int? = nil, seed: UInt64? = nil, d: Int? = nil, rank: Int? = nil, lambda1: Double? = nil,
                    chi: Double? = nil, gap: Double? = nil, decay: Double? = nil) {
            self.n = n; self.seed = seed; self.d = d; self.rank = rank; self.lambda1 = lambda1
            self.chi = chi; self.gap = gap; self.decay = decay
        }
    }

    /// `kind` "npy": paths of X (n × d) and Y (n); `n` takes the first n rows, `center` subtracts
    /// the feature means; `seed` is only recorded (`/run@data_seed`).
    public struct NPYFiles: Sendable, Equatable {
        public var x: String?
        public var y: String?
        public var n: Int?
        public var center: Bool?
        public var seed: UInt64?
        public init(x: String? = nil, y: String? = nil, n: Int? = nil, center: Bool? = nil, seed: UInt64? = nil) {
            self.x = x; self.y = y; self.n = n; self.center = center; self.seed = seed
        }
    }

    /// `kind` "hdf5": the file and the names of its X (n × d, default "/X") and Y (n or n × 1,
    /// default "/Y") datasets; `n`, `center`, `seed` as for npy.
    public struct HDF5Files: Sendable, Equatable {
        public var file: String?
        public var xDataset: String?
        public var yDataset: String?
        public var n: Int?
        public var center: Bool?
        public var seed: UInt64?
        public init(file: String? = nil, xDataset: String? = nil, yDataset: String? = nil, n: Int? = nil,
                    center: Bool? = nil, seed: UInt64? = nil) {
            self.file = file; self.xDataset = xDataset; self.yDataset = yDataset
            self.n = n; self.center = center; self.seed = seed
        }
    }

    /// Builds the case named by `kind` from the flat keys of the JSON form (keys the kind does not
    /// use are dropped).
    public init(kind: String, n: Int? = nil, classes: [Int]? = nil, seed: UInt64? = nil, train: Bool? = nil,
                directory: String? = nil, center: Bool? = nil, d: Int? = nil, rank: Int? = nil, lambda1: Double? = nil,
                chi: Double? = nil, gap: Double? = nil, decay: Double? = nil, x: String? = nil, y: String? = nil,
                file: String? = nil, xDataset: String? = nil, yDataset: String? = nil, targets: String? = nil) {
        switch kind {
        case "fashion-mnist", "fmnist":
            self = .fashionMNIST(FashionMNISTOptions(n: n, classes: classes, seed: seed, train: train, directory: directory,
                                                     center: center, spelledFmnist: kind == "fmnist", targets: targets))
        case "synthetic":
            self = .synthetic(SyntheticOptions(n: n, seed: seed, d: d, rank: rank, lambda1: lambda1, chi: chi, gap: gap, decay: decay))
        case "npy":
            self = .npy(NPYFiles(x: x, y: y, n: n, center: center, seed: seed))
        case "hdf5":
            self = .hdf5(HDF5Files(file: file, xDataset: xDataset, yDataset: yDataset, n: n, center: center, seed: seed))
        default:
            self = .unknown(kind: kind)
        }
    }

    /// The `kind` key.
    public var kind: String {
        switch self {
        case .fashionMNIST(let o): return o.spelledFmnist ? "fmnist" : "fashion-mnist"
        case .synthetic: return "synthetic"
        case .npy: return "npy"
        case .hdf5: return "hdf5"
        case .unknown(let k): return k
        }
    }

    /// Samples to use (`n`; nil: the kind's default or all rows). Setting it on `.unknown` does nothing.
    public var n: Int? {
        get {
            switch self {
            case .fashionMNIST(let o): return o.n
            case .synthetic(let o): return o.n
            case .npy(let o): return o.n
            case .hdf5(let o): return o.n
            case .unknown: return nil
            }
        }
        set {
            switch self {
            case .fashionMNIST(var o): o.n = newValue; self = .fashionMNIST(o)
            case .synthetic(var o): o.n = newValue; self = .synthetic(o)
            case .npy(var o): o.n = newValue; self = .npy(o)
            case .hdf5(var o): o.n = newValue; self = .hdf5(o)
            case .unknown: break
            }
        }
    }

    /// The data seed (`seed`, recorded as `/run@data_seed`). Setting it on `.unknown` does nothing.
    public var seed: UInt64? {
        get {
            switch self {
            case .fashionMNIST(let o): return o.seed
            case .synthetic(let o): return o.seed
            case .npy(let o): return o.seed
            case .hdf5(let o): return o.seed
            case .unknown: return nil
            }
        }
        set {
            switch self {
            case .fashionMNIST(var o): o.seed = newValue; self = .fashionMNIST(o)
            case .synthetic(var o): o.seed = newValue; self = .synthetic(o)
            case .npy(var o): o.seed = newValue; self = .npy(o)
            case .hdf5(var o): o.seed = newValue; self = .hdf5(o)
            case .unknown: break
            }
        }
    }

    /// The same spec with relative data paths made absolute (against the current directory), so
    /// that a recording can be replayed or resumed from anywhere.
    public func resolvingPaths() -> DataSpec {
        func abs(_ p: String?) -> String? {
            guard let p, !p.hasPrefix("/") else { return p }
            return URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                .standardizedFileURL.path
        }
        switch self {
        case .npy(var o): o.x = abs(o.x); o.y = abs(o.y); return .npy(o)
        case .hdf5(var o): o.file = abs(o.file); return .hdf5(o)
        case .fashionMNIST(var o): o.directory = abs(o.directory); return .fashionMNIST(o)
        case .synthetic, .unknown: return self
        }
    }

    /// Where X comes from, for `/data@x_path` when X is only referenced: the user's file (with
    /// the dataset name for HDF5), or the generator for synthetic and Fashion-MNIST data. The
    /// exact recipe (row subset, centering) is the `data` section of `/run@config`.
    public var inputsLocation: String {
        switch self {
        case .npy(let o): return o.x ?? "npy"
        case .hdf5(let o): return "\(o.file ?? "hdf5"):\(o.xDataset.map { $0.hasPrefix("/") ? $0 : "/" + $0 } ?? "/X")"
        case .fashionMNIST(let o): return (o.directory ?? FashionMNIST.defaultDirectory) + " (Fashion-MNIST, see /run@config)"
        case .synthetic, .unknown: return "\(kind) (generated from /run@config)"
        }
    }

    /// Loads (or generates) the data set: X n × d (float64), Y n — or, with c targets per sample
    /// (Fashion-MNIST `targets` "onehot"/"pm1", users' Y [n, c] in npy or HDF5), Y n·c
    /// sample-major with `Dataset.outputs` = c (recorded as format 2.0; docs/MULTI-OUTPUT.md).
    /// - Throws: `DataError` (one line naming the file or the config key).
    public func load() throws -> Dataset {
        switch self {
        case .fashionMNIST(let o):
            try Self.checkN(o.n)
            if o.targets != nil { return try loadMultiOutput() }
            let c = o.classes ?? [0, 6]
            guard c.count == 2 else { throw DataError.invalidRequest("config data.classes: need exactly two classes, got \(c)") }
            return try FashionMNIST.load(directory: o.directory ?? FashionMNIST.defaultDirectory, train: o.train ?? true,
                                         classes: (c[0], c[1]), n: o.n ?? 1000, seed: o.seed ?? 0, center: o.center ?? true)
        case .synthetic(let o):
            try Self.checkN(o.n)
            return try SyntheticData.make(n: o.n ?? 200, d: o.d ?? 50, rank: o.rank, lambda1: o.lambda1, chi: o.chi ?? 3,
                                          gap: o.gap ?? 2, decay: o.decay ?? 1.1, seed: o.seed ?? 0)
        case .npy(let o):
            guard let x = o.x, let y = o.y else { throw DataError.invalidRequest("config data: kind \"npy\" needs \"x\" and \"y\" paths") }
            try Self.checkN(o.n)
            // Y [n], [n, 1] (one output) or [n, c] (c outputs).
            return try Self.subset(try NPY.loadDataset(x: x, y: y, multiOutput: true), n: o.n, center: o.center, file: x)
        case .hdf5(let o):
            guard let file = o.file else { throw DataError.invalidRequest("config data: kind \"hdf5\" needs \"file\" (and optionally \"x_dataset\", \"y_dataset\")") }
            try Self.checkN(o.n)
            return try Self.subset(try HDF5Data.loadDataset(file: file, x: o.xDataset ?? "/X", y: o.yDataset ?? "/Y", multiOutput: true),
                                   n: o.n, center: o.center, file: file)
        case .unknown(let kind):
            throw DataError.invalidRequest("config data.kind: unknown \"\(kind)\" (expected fashion-mnist, synthetic, npy or hdf5)")
        }
    }

    /// Loads the data set with c targets per sample (docs/MULTI-OUTPUT.md): Fashion-MNIST with
    /// `targets` "onehot"/"pm1" and any subset of its classes (c = number of classes), users'
    /// npy/HDF5 files with Y [n, c]; every other spec loads as `load()` (c = 1). `load()` does
    /// the same.
    public func loadMultiOutput() throws -> Dataset {
        switch self {
        case .fashionMNIST(let o) where o.targets != nil:
            try Self.checkN(o.n)
            guard let coding = FashionMNIST.TargetCoding(rawValue: o.targets!) else {
                throw DataError.invalidRequest("config data.targets: unknown \"\(o.targets!)\" (expected onehot or pm1)")
            }
            return try FashionMNIST.loadClasses(directory: o.directory ?? FashionMNIST.defaultDirectory, train: o.train ?? true,
                                                classes: o.classes ?? Array(0..<10), coding: coding, n: o.n ?? 1000,
                                                seed: o.seed ?? 0, center: o.center ?? true)
        case .npy(let o):
            guard let x = o.x, let y = o.y else { throw DataError.invalidRequest("config data: kind \"npy\" needs \"x\" and \"y\" paths") }
            try Self.checkN(o.n)
            return try Self.subset(try NPY.loadDataset(x: x, y: y, multiOutput: true), n: o.n, center: o.center, file: x)
        case .fashionMNIST, .synthetic, .hdf5, .unknown:
            return try load()
        }
    }

    /// Refuses a sample count below 1 before anything is read or generated.
    static func checkN(_ n: Int?) throws {
        if let n, n < 1 { throw DataError.invalidRequest("config data.n: must be ≥ 1, got \(n)") }
    }

    /// The first `n` rows (when fewer than all; more than the file has is an error), then centered
    /// when asked (users' files).
    private static func subset(_ loaded: Dataset, n: Int?, center: Bool?, file: String) throws -> Dataset {
        var ds = loaded
        if let n, n > ds.n {
            throw DataError.invalidRequest("\(file): config data.n: \(n) samples asked, but the file has only \(ds.n) rows")
        }
        if let n, n < ds.n {
            ds = Dataset(X: ds.X.rows(0..<n), Y: Array(ds.Y[0..<(n * ds.outputs)]), outputs: ds.outputs, source: ds.source + " (first \(n) rows)")
        }
        if center ?? false { ds.center() }
        return ds
    }
}

extension DataSpec: Codable {
    enum CodingKeys: String, CodingKey {
        case kind, n, classes, seed, train, directory, center, d, rank, lambda1, chi, gap, decay, x, y, file, targets
        case xDataset = "x_dataset", yDataset = "y_dataset"
    }

    /// Reads every key with its type, in the order of the JSON form's fields, then builds the case.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try c.decode(String.self, forKey: .kind),
                  n: try c.decodeIfPresent(Int.self, forKey: .n),
                  classes: try c.decodeIfPresent([Int].self, forKey: .classes),
                  seed: try c.decodeIfPresent(UInt64.self, forKey: .seed),
                  train: try c.decodeIfPresent(Bool.self, forKey: .train),
                  directory: try c.decodeIfPresent(String.self, forKey: .directory),
                  center: try c.decodeIfPresent(Bool.self, forKey: .center),
                  d: try c.decodeIfPresent(Int.self, forKey: .d),
                  rank: try c.decodeIfPresent(Int.self, forKey: .rank),
                  lambda1: try c.decodeIfPresent(Double.self, forKey: .lambda1),
                  chi: try c.decodeIfPresent(Double.self, forKey: .chi),
                  gap: try c.decodeIfPresent(Double.self, forKey: .gap),
                  decay: try c.decodeIfPresent(Double.self, forKey: .decay),
                  x: try c.decodeIfPresent(String.self, forKey: .x),
                  y: try c.decodeIfPresent(String.self, forKey: .y),
                  file: try c.decodeIfPresent(String.self, forKey: .file),
                  xDataset: try c.decodeIfPresent(String.self, forKey: .xDataset),
                  yDataset: try c.decodeIfPresent(String.self, forKey: .yDataset),
                  targets: try c.decodeIfPresent(String.self, forKey: .targets))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case .fashionMNIST(let o):
            try c.encodeIfPresent(o.n, forKey: .n); try c.encodeIfPresent(o.classes, forKey: .classes)
            try c.encodeIfPresent(o.seed, forKey: .seed); try c.encodeIfPresent(o.train, forKey: .train)
            try c.encodeIfPresent(o.directory, forKey: .directory); try c.encodeIfPresent(o.center, forKey: .center)
            try c.encodeIfPresent(o.targets, forKey: .targets)
        case .synthetic(let o):
            try c.encodeIfPresent(o.n, forKey: .n); try c.encodeIfPresent(o.seed, forKey: .seed)
            try c.encodeIfPresent(o.d, forKey: .d); try c.encodeIfPresent(o.rank, forKey: .rank)
            try c.encodeIfPresent(o.lambda1, forKey: .lambda1); try c.encodeIfPresent(o.chi, forKey: .chi)
            try c.encodeIfPresent(o.gap, forKey: .gap); try c.encodeIfPresent(o.decay, forKey: .decay)
        case .npy(let o):
            try c.encodeIfPresent(o.n, forKey: .n); try c.encodeIfPresent(o.seed, forKey: .seed)
            try c.encodeIfPresent(o.center, forKey: .center)
            try c.encodeIfPresent(o.x, forKey: .x); try c.encodeIfPresent(o.y, forKey: .y)
        case .hdf5(let o):
            try c.encodeIfPresent(o.n, forKey: .n); try c.encodeIfPresent(o.seed, forKey: .seed)
            try c.encodeIfPresent(o.center, forKey: .center); try c.encodeIfPresent(o.file, forKey: .file)
            try c.encodeIfPresent(o.xDataset, forKey: .xDataset); try c.encodeIfPresent(o.yDataset, forKey: .yDataset)
        case .unknown:
            break
        }
    }
}
