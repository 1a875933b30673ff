import XCTest
import CZlib
@testable import EOSModels
import EOSNumerics

final class DataTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "eosmodels-tests-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func writeGz(_ bytes: [UInt8], _ name: String) -> String {
        let path = dir + "/" + name
        let f = gzopen(path, "wb")!
        _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
        gzclose(f)
        return path
    }

    func idxBytes(type: UInt8, shape: [Int], payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = [0, 0, type, UInt8(shape.count)]
        for s in shape { b += [UInt8(s >> 24 & 255), UInt8(s >> 16 & 255), UInt8(s >> 8 & 255), UInt8(s & 255)] }
        return b + payload
    }

    func testTinyIDXGzRoundTrip() throws {
        let payload: [UInt8] = [0, 1, 2, 255, 128, 7]
        let p = writeGz(idxBytes(type: 0x08, shape: [2, 3], payload: payload), "tiny-idx2-ubyte.gz")
        let a = try IDX.read(p)
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.values, payload.map(Double.init))
        // Big-endian int32 and float64 element types.
        let i32 = idxBytes(type: 0x0C, shape: [2], payload: [0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 0])
        XCTAssertEqual(try IDX.parse(i32, file: "x").values, [-2, 256])
        let f64 = idxBytes(type: 0x0E, shape: [1], payload: Array((1.5).bitPattern.bigEndian.bytes))
        XCTAssertEqual(try IDX.parse(f64, file: "x").values, [1.5])
    }

    func testTruncatedAndGarbageIDXThrowNamingTheFile() throws {
        let full = idxBytes(type: 0x08, shape: [4, 4], payload: [UInt8](repeating: 3, count: 16))
        let cases: [(String, [UInt8])] = [("short-idx", Array(full[0..<20])), ("garbage-idx", Array("hello world, not idx".utf8)),
                                          ("type-idx", idxBytes(type: 0x42, shape: [1], payload: [1])),
                                          ("trailing-idx", full + [9, 9]), ("empty-idx", [])]
        for (name, bytes) in cases {
            let p = writeGz(bytes, name + ".gz")
            XCTAssertThrowsError(try IDX.read(p)) { e in
                let s = String(describing: e)
                XCTAssertTrue(s.hasPrefix(p), s); XCTAssertFalse(s.contains("\n"))
            }
        }
        // A gzip stream cut in the middle.
        let good = writeGz(full + [UInt8](repeating: 1, count: 5000).map { $0 &* 17 }, "cut.gz")
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let cut = dir + "/cut2.gz"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try IDX.read(cut)) { XCTAssertTrue(String(describing: $0).hasPrefix(cut)) }
        XCTAssertThrowsError(try IDX.read(dir + "/missing.gz")) { XCTAssertTrue(String(describing: $0).contains("no such file")) }
    }

    func testFashionMNISTBinarySubset() throws {
        let dirPath = FashionMNIST.defaultDirectory
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dirPath + "/t10k-images-idx3-ubyte.gz"), "dataset-fashion-mnist not installed")
        let a = try FashionMNIST.load(train: false, classes: (0, 6), n: 60, seed: 3)
        let b = try FashionMNIST.load(train: false, classes: (0, 6), n: 60, seed: 3)
        let c = try FashionMNIST.load(train: false, classes: (0, 6), n: 60, seed: 4, center: false)
        XCTAssertEqual(a.X, b.X); XCTAssertEqual(a.Y, b.Y)
        XCTAssertEqual(a.X.rows, 60); XCTAssertEqual(a.X.cols, 784)
        XCTAssertEqual(a.Y.filter { $0 == 1 }.count, 30); XCTAssertEqual(a.Y.filter { $0 == -1 }.count, 30)
        let mean = BLAS.gemv(a.X, [Double](repeating: 1.0 / 60, count: 60), trans: .transpose)
        XCTAssertLessThan(mean.map(abs).max()!, 1e-12)
        XCTAssertTrue(c.X.data.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertNotEqual(c.Y.count, 0)
        XCTAssertThrowsError(try FashionMNIST.load(directory: dir, n: 10)) { XCTAssertTrue(String(describing: $0).contains(self.dir)) }
        XCTAssertThrowsError(try FashionMNIST.load(classes: (1, 1), n: 10))
    }

    func testSyntheticSpectrumSatisfiesAssumption41() throws {
        let ds = try SyntheticData.make(n: 40, d: 12, chi: 3, gap: 2.5, decay: 1.2, seed: 5)
        let ev = try SymmetricEigen.allEigenvalues(BLAS.syrk(ds.X))
        let r = 12
        let expected = SyntheticData.spectrum(rank: r, lambda1: 40, gap: 2.5, decay: 1.2)
        for i in 0..<r { XCTAssertEqual(ev[i], expected[i], accuracy: 1e-10 * 40) }
        for i in 0..<(r - 1) { XCTAssertLessThanOrEqual(ev[i], 3 * ev[i + 1] * (1 + 1e-12)) }
        XCTAssertGreaterThanOrEqual(ev[0], 2 * ev[1])
        for i in r..<40 { XCTAssertEqual(ev[i], 0, accuracy: 1e-10 * 40) }
        XCTAssertEqual(BLAS.dot(ds.Y, ds.Y) / 40, 1, accuracy: 1e-12)
        XCTAssertThrowsError(try SyntheticData.make(n: 10, d: 5, chi: 1.5, gap: 2))
        XCTAssertThrowsError(try SyntheticData.make(n: 10, d: 5, rank: 7))
    }

    func npyBytes(descr: String, fortran: Bool, shape: String, payload: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let len = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(len & 255), UInt8(len >> 8)] + Array(header.utf8) + payload
    }

    func testNPYReader() throws {
        let vals: [Double] = [1, 2, 3, 4, 5, 6]
        let f8 = vals.flatMap { Array($0.bitPattern.littleEndian.bytes) }
        let c = try NPY.parse(npyBytes(descr: "<f8", fortran: false, shape: "(2, 3)", payload: f8), file: "a.npy")
        XCTAssertEqual(c.shape, [2, 3]); XCTAssertEqual(c.values, vals)
        let f = try NPY.parse(npyBytes(descr: "<f8", fortran: true, shape: "(2, 3)", payload: f8), file: "a.npy")
        XCTAssertEqual(f.values, [1, 3, 5, 2, 4, 6])
        let f4 = vals.flatMap { Array(Float($0).bitPattern.littleEndian.bytes) }
        XCTAssertEqual(try NPY.parse(npyBytes(descr: "<f4", fortran: false, shape: "(6,)", payload: f4), file: "b").values, vals)
        let i8 = [Int64(-3), 7].flatMap { Array(UInt64(bitPattern: $0).littleEndian.bytes) }
        XCTAssertEqual(try NPY.parse(npyBytes(descr: "<i8", fortran: false, shape: "(2,)", payload: i8), file: "c").values, [-3, 7])
        for (bytes, needle) in [(npyBytes(descr: "<f8", fortran: false, shape: "(4, 3)", payload: f8), "truncated"),
                                (npyBytes(descr: ">f8", fortran: false, shape: "(6,)", payload: f8), "big-endian"),
                                (npyBytes(descr: "<f8", fortran: true, shape: "(1, 2, 3)", payload: f8), "Fortran"),
                                (npyBytes(descr: "<c16", fortran: false, shape: "(3,)", payload: f8), "dtype"),
                                (Array("garbage".utf8), "not a .npy")] {
            XCTAssertThrowsError(try NPY.parse(bytes, file: "z.npy")) { e in
                let s = String(describing: e)
                XCTAssertTrue(s.hasPrefix("z.npy") && s.contains(needle), s)
            }
        }
        // Through files: loadDataset.
        let xp = dir + "/x.npy", yp = dir + "/y.npy"
        try Data(npyBytes(descr: "<f8", fortran: false, shape: "(3, 2)", payload: f8)).write(to: URL(fileURLWithPath: xp))
        try Data(npyBytes(descr: "<f8", fortran: false, shape: "(3,)", payload: Array(f8[0..<24]))).write(to: URL(fileURLWithPath: yp))
        let ds = try NPY.loadDataset(x: xp, y: yp)
        XCTAssertEqual(ds.X, Matrix([[1, 2], [3, 4], [5, 6]])); XCTAssertEqual(ds.Y, [1, 2, 3])
    }
}

extension FixedWidthInteger {
    var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}
