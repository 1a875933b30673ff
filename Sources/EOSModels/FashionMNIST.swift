import EOSNumerics
import Foundation

/// Binary Fashion-MNIST subsets (Xiao, Rasul, Vollgraf 2017; MIT licence), as used in EOS studies.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Loads n samples of two classes, chosen deterministically from `seed`: ⌈n/2⌉ of `classes.0`
    /// (label +1) and ⌊n/2⌋ of `classes.1` (label −1), drawn without replacement by a seeded
    /// shuffle and kept in file order. Pixels are divided by 255; inputs are centered (per-feature
    /// mean over the chosen samples subtracted) when `center`.
    /// - Parameter train: the 60k training file (true) or the 10k test file.
    /// The images and labels of the training ("train") or test ("t10k") split, checked for shape;
    /// d = pixels per image. Shared by the two-class and the c-class loaders.
    private static func readSplit(directory: String, train: Bool) throws
        -> (images: IDXArray, labels: IDXArray, d: Int, labelsPath: String, prefix: String) {
        let prefix = train ? "train" : "t10k"
        let imagesPath = (directory as NSString).appendingPathComponent("\(prefix)-images-idx3-ubyte.gz")
        let labelsPath = (directory as NSString).appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz")
        let labels = try IDX.read(labelsPath)
        guard labels.shape.count == 1 else { throw DataError.malformed(file: labelsPath, problem: "labels must be 1-D, shape \(labels.shape)") }
        let images = try IDX.read(imagesPath)
        guard images.shape.count == 3, images.shape[0] == labels.shape[0] else {
            throw DataError.malformed(file: imagesPath, problem: "images shape \(images.shape) does not match \(labels.shape[0]) labels")
        }
        return (images, labels, images.shape[1] * images.shape[2], labelsPath, prefix)
    }

    public static func load(directory: String = defaultDirectory, train: Bool = true, classes: (Int, Int) = (0, 6),
                            n: Int = 1000, seed: UInt64 = 0, center: Bool = true) throws -> Dataset {
        guard (0..<10).contains(classes.0) && (0..<10).contains(classes.1) && classes.0 != classes.1 else {
            throw DataError.invalidRequest("Fashion-MNIST: classes must be two different labels in 0...9, got \(classes)")
        }
        guard n >= 2 else { throw DataError.invalidRequest("Fashion-MNIST: n must be ≥ 2, got \(n)") }
        let (images, labels, d, labelsPath, prefix) = try readSplit(directory: directory, train: train)
        let want = [(n + 1) / 2, n / 2]
        var chosen: [Int] = []
        var rng = SeededRNG(seed: seed)
        for (ci, c) in [classes.0, classes.1].enumerated() {
            var idx = labels.values.indices.filter { Int(labels.values[$0]) == c }
            guard idx.count >= want[ci] else {
                throw DataError.invalidRequest("\(labelsPath): class \(c) has \(idx.count) samples, \(want[ci]) requested")
            }
            idx.shuffle(using: &rng)
            chosen += idx.prefix(want[ci])
        }
        chosen.sort()
        var X = Matrix(rows: n, cols: d)
        var Y = [Double](repeating: 0, count: n)
        for (r, i) in chosen.enumerated() {
            for j in 0..<d { X.data[r * d + j] = images.values[i * d + j] / 255 }
            Y[r] = Int(labels.values[i]) == classes.0 ? 1 : -1
        }
        var ds = Dataset(X: X, Y: Y, source: "Fashion-MNIST \(prefix) classes \(classes.0) (+1) vs \(classes.1) (-1), n=\(n), seed=\(seed), pixels/255\(center ? ", centered" : "")")
        if center { ds.center() }
        return ds
    }
}

extension FashionMNIST {
    /// How class labels become c targets per sample (c = number of classes).
    public enum TargetCoding: String, Sendable, CaseIterable {
        /// 1 for the sample's class, 0 elsewhere (Cohen et al. 2021's MSE targets).
        case oneHot = "onehot"
        /// +1 for the sample's class, −1 elsewhere.
        case plusMinusOne = "pm1"
    }

    /// Loads n samples of any subset of the 10 classes (≥ 2, distinct, in 0...9) with c = |classes|
    /// targets per sample: class `classes[a]` has its 1 (or +1) at output a. Per class ⌊n/c⌋ samples
    /// plus one for the first n mod c classes, drawn without replacement by a seeded shuffle of
    /// each class (in the order of `classes`) and kept in file order; pixels /255, centered when
    /// `center`. Y is n × c, sample-major.
    public static func loadClasses(directory: String = defaultDirectory, train: Bool = true, classes: [Int],
                                   coding: TargetCoding = .oneHot, n: Int = 1000, seed: UInt64 = 0,
                                   center: Bool = true) throws -> Dataset {
        guard classes.count >= 2, classes.allSatisfy({ (0..<10).contains($0) }), Set(classes).count == classes.count else {
            throw DataError.invalidRequest("Fashion-MNIST: classes must be at least two different labels in 0...9, got \(classes)")
        }
        let c = classes.count
        guard n >= c else { throw DataError.invalidRequest("Fashion-MNIST: n must be ≥ the \(c) classes, got \(n)") }
        let (images, labels, d, labelsPath, prefix) = try readSplit(directory: directory, train: train)
        var chosen: [Int] = []
        var rng = SeededRNG(seed: seed)
        for (ci, cl) in classes.enumerated() {
            let want = n / c + (ci < n % c ? 1 : 0)
            var idx = labels.values.indices.filter { Int(labels.values[$0]) == cl }
            guard idx.count >= want else {
                throw DataError.invalidRequest("\(labelsPath): class \(cl) has \(idx.count) samples, \(want) requested")
            }
            idx.shuffle(using: &rng)
            chosen += idx.prefix(want)
        }
        chosen.sort()
        let off: Double = coding == .oneHot ? 0 : -1
        var X = Matrix(rows: n, cols: d)
        var Y = [Double](repeating: off, count: n * c)
        for (r, i) in chosen.enumerated() {
            for j in 0..<d { X.data[r * d + j] = images.values[i * d + j] / 255 }
            let a = classes.firstIndex(of: Int(labels.values[i]))!
            Y[r * c + a] = 1
        }
        var ds = Dataset(X: X, Y: Y, outputs: c,
                         source: "Fashion-MNIST \(prefix) classes \(classes) (\(coding == .oneHot ? "one-hot 1/0" : "one-hot +1/-1"), c=\(c)), n=\(n), seed=\(seed), pixels/255\(center ? ", centered" : "")")
        if center { ds.center() }
        return ds
    }
}
