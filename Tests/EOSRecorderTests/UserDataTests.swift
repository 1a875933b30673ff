import XCTest
@testable import EOSRecorder
import EOSRun
import EOSModels
import EOSNumerics
import TrajectoryFormat
import HDF5Kit

/// Users' own data (.npy and HDF5), stored or referenced by digest, and checked on resume.
final class UserDataTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "eosrecorder-data-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    let n = 70, d = 4
    /// Deterministic data: X in float32-exact values, Y = ±1.
    func makeXY() -> (x: [Double], y: [Double]) {
        var rng = SeededRNG(seed: 11)
        let x = (0..<(n * d)).map { _ in Double(Float(rng.uniform(-1, 1))) }
        let y = (0..<n).map { i in x[i * d] + 0.5 * x[i * d + 1] > 0 ? 1.0 : -1.0 }
        return (x, y)
    }

    func npy(_ path: String, descr: String, shape: [Int], payload: [UInt8]) throws {
        let shp = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shp), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let len = header.utf8.count
        let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(len & 255), UInt8(len >> 8)] + Array(header.utf8) + payload
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
    func f4(_ v: [Double]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian) { Array($0) } } }
    func f8(_ v: [Double]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } } }

    func h5(_ path: String, x: [Double], xShape: [Int], y: [Double], yShape: [Int], xType: HDF5ElementType = .float32) throws {
        let f = try HDF5File.create(path)
        let root = try f.group("/")
        try root.createGroup("data")
        try f.group("/data").createDataset("inputs", type: xType, shape: xShape).write(x)
        try root.createDataset("labels", type: .int64, shape: yShape).write(y.map { Int64($0) })
        try f.close()
    }

    func config(_ data: DataSpec, steps: Int = 30) -> RunConfig {
        RunConfig(data: data, model: .mlp(inputDim: d, widths: [6], activation: .tanh, bias: true, outputScale: 1),
                  initSeed: 2, initScale: 1, learningRate: 0.5, steps: steps, k: 2, spectrumEvery: 10, hessianEvery: 0,
                  checkpointEvery: 10, crossCheckEvery: 10)
    }

    func record(_ c: RunConfig, _ path: String, stopAfter: Int? = nil) throws -> TrainerOutcome {
        let s = try RecordingSession.start(config: c, path: path)
        let out = try s.trainer.run(sink: s.sink, shouldStop: { stopAfter.map { s.trainer.step >= $0 } ?? false })
        try s.sink.close(status: out.status)
        return out
    }

    func testNPYDataIsStoredInTheRecording() throws {
        let (x, y) = makeXY()
        try npy(dir + "/x.npy", descr: "<f4", shape: [n, d], payload: f4(x))
        try npy(dir + "/y.npy", descr: "<f8", shape: [n], payload: f8(y))
        let c = config(DataSpec(kind: "npy", x: dir + "/x.npy", y: dir + "/y.npy"))
        let out = try record(c, dir + "/r.h5")
        XCTAssertEqual(out.status, .completed)
        let r = try TrajectoryReader(path: dir + "/r.h5"); defer { r.close() }
        XCTAssertEqual(try r.X(), x)
        XCTAssertEqual(try r.Y(), y)
        XCTAssertNil(try r.xReference())
        XCTAssertEqual(try Validator().validate(path: dir + "/r.h5").count, 0)
    }

    func testHDF5DataAndErrors() throws {
        let (x, y) = makeXY()
        let p = dir + "/d.h5"
        try h5(p, x: x, xShape: [n, d], y: y, yShape: [n])
        let ds = try DataSpec(kind: "hdf5", file: p, xDataset: "/data/inputs", yDataset: "labels").load()
        XCTAssertEqual(ds.X.data, x); XCTAssertEqual(ds.Y, y); XCTAssertEqual(ds.d, d)
        // Y as [n, 1] and X as float64 are accepted too.
        try h5(dir + "/d2.h5", x: x, xShape: [n, d], y: y, yShape: [n, 1], xType: .float64)
        XCTAssertEqual(try DataSpec(kind: "hdf5", file: dir + "/d2.h5", xDataset: "data/inputs", yDataset: "/labels").load().Y, y)
        // One-line errors naming the file and the problem.
        var bad = x; bad[5] = .nan
        try h5(dir + "/nan.h5", x: bad, xShape: [n, d], y: y, yShape: [n], xType: .float64)
        try h5(dir + "/short.h5", x: x, xShape: [n, d], y: Array(y.prefix(n - 1)), yShape: [n - 1])
        try h5(dir + "/flat.h5", x: x, xShape: [n * d], y: y, yShape: [n])
        let cases: [(DataSpec, String)] = [
            (DataSpec(kind: "hdf5", file: dir + "/missing.h5", xDataset: "/data/inputs", yDataset: "/labels"), "no such file"),
            (DataSpec(kind: "hdf5", file: p, xDataset: "/X", yDataset: "/labels"), "X dataset /X not found"),
            (DataSpec(kind: "hdf5", file: p, xDataset: "/data/inputs", yDataset: "/Y"), "Y dataset /Y not found"),
            (DataSpec(kind: "hdf5", file: dir + "/nan.h5", xDataset: "/data/inputs", yDataset: "/labels"), "NaN"),
            (DataSpec(kind: "hdf5", file: dir + "/short.h5", xDataset: "/data/inputs", yDataset: "/labels"), "does not match the \(n) samples"),
            (DataSpec(kind: "hdf5", file: dir + "/flat.h5", xDataset: "/data/inputs", yDataset: "/labels"), "must be 2-D"),
            (DataSpec(kind: "hdf5"), "needs \"file\""),
            (DataSpec(kind: "npy", x: dir + "/nope.npy", y: dir + "/nope2.npy"), "no such file"),
        ]
        for (spec, needle) in cases {
            XCTAssertThrowsError(try spec.load()) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(needle), s)
                XCTAssertFalse(s.contains("\n"), s)
            }
        }
        // NPY shape mismatch and NaN.
        try npy(dir + "/x.npy", descr: "<f8", shape: [n, d], payload: f8(x))
        try npy(dir + "/y5.npy", descr: "<f8", shape: [5], payload: f8(Array(y.prefix(5))))
        XCTAssertThrowsError(try DataSpec(kind: "npy", x: dir + "/x.npy", y: dir + "/y5.npy").load()) {
            XCTAssertTrue("\($0)".hasPrefix(self.dir + "/y5.npy") && "\($0)".contains("does not match"), "\($0)")
        }
        try npy(dir + "/xnan.npy", descr: "<f8", shape: [n, d], payload: f8(bad))
        try npy(dir + "/y.npy", descr: "<i8", shape: [n], payload: y.flatMap { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } })
        XCTAssertEqual(try DataSpec(kind: "npy", x: dir + "/x.npy", y: dir + "/y.npy").load().Y, y)
        XCTAssertThrowsError(try DataSpec(kind: "npy", x: dir + "/xnan.npy", y: dir + "/y.npy").load()) {
            XCTAssertTrue("\($0)".hasPrefix(self.dir + "/xnan.npy") && "\($0)".contains("NaN"), "\($0)")
        }
    }

    /// X above `store_data_below`: only path and digest are stored; resume rebuilds X, checks the
    /// digest, continues bit-identically, and refuses a changed data file.
    func testReferencedXResumesAndRefusesAChangedFile() throws {
        let (x, y) = makeXY()
        let p = dir + "/d.h5"
        try h5(p, x: x, xShape: [n, d], y: y, yShape: [n])
        var c = config(DataSpec(kind: "hdf5", file: p, xDataset: "/data/inputs", yDataset: "/labels"))
        c.storeDataBelow = n * d * 8   // X is exactly this large: not below, so referenced
        let a = dir + "/a.h5", b = dir + "/b.h5"
        XCTAssertEqual(try record(c, a).status, .completed)
        let ra = try TrajectoryReader(path: a)
        XCTAssertNil(try ra.X())
        let ref = try XCTUnwrap(try ra.xReference())
        XCTAssertEqual(ref.path, p + ":/data/inputs")
        XCTAssertEqual(ref.sha256, SHA256.hex(float64LittleEndian: x))
        XCTAssertEqual(try RecordingSession.inputs(reader: ra).data, x)
        ra.close()
        XCTAssertEqual(try Validator().validate(path: a).count, 0)
        // Stored when the threshold is one byte larger.
        c.storeDataBelow = n * d * 8 + 1
        XCTAssertEqual(try record(c, dir + "/s.h5").status, .completed)
        XCTAssertEqual(try TrajectoryReader(path: dir + "/s.h5").X(), x)
        // Interrupt and resume the referenced run: identical to the uninterrupted one.
        c.storeDataBelow = 0
        XCTAssertEqual(try record(c, b, stopAfter: 17).status, .interrupted)
        let r = try RecordingSession.resume(path: b)
        XCTAssertEqual(r.trainer.step, 10)
        let out = try r.trainer.run(sink: r.sink)
        try r.sink.close(status: out.status)
        let ra2 = try TrajectoryReader(path: a), rb = try TrajectoryReader(path: b)
        for s in ["loss", "residual", "sharpness", "eigenvalues"] { XCTAssertEqual(try ra2.read(s), try rb.read(s), s) }
        ra2.close(); rb.close()
        // Change one value of X: resume (and replay inputs) refuse with a digest error.
        XCTAssertEqual(try record(c, dir + "/c.h5", stopAfter: 12).status, .interrupted)
        var x2 = x; x2[3] += 0.25
        try h5(p, x: x2, xShape: [n, d], y: y, yShape: [n])
        XCTAssertThrowsError(try RecordingSession.resume(path: dir + "/c.h5")) { e in
            XCTAssertTrue("\(e)".contains("X digest mismatch") && "\(e)".hasPrefix(self.dir + "/c.h5"), "\(e)")
        }
        let rc = try TrajectoryReader(path: dir + "/c.h5"); defer { rc.close() }
        XCTAssertThrowsError(try RecordingSession.inputs(reader: rc)) { XCTAssertTrue("\($0)".contains("digest mismatch"), "\($0)") }
        // A missing data file is a clear error too.
        try FileManager.default.removeItem(atPath: p)
        XCTAssertThrowsError(try RecordingSession.resume(path: dir + "/c.h5")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
    }

    func testRelativePathsAreStoredAbsolute() throws {
        let (x, y) = makeXY()
        try npy(dir + "/x.npy", descr: "<f8", shape: [n, d], payload: f8(x))
        try npy(dir + "/y.npy", descr: "<f8", shape: [n], payload: f8(y))
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        _ = try record(config(DataSpec(kind: "npy", x: "x.npy", y: "./y.npy"), steps: 2), dir + "/r.h5")
        let r = try TrajectoryReader(path: dir + "/r.h5"); defer { r.close() }
        let stored = try RecordingSession.config(reader: r)
        guard case let .npy(files) = stored.data, let x = files.x, let y = files.y else { return XCTFail("\(stored.data)") }
        XCTAssertTrue(x.hasPrefix("/") && x.hasSuffix("/x.npy"), x)
        XCTAssertTrue(y.hasSuffix("/y.npy") && !y.contains("./"), y)
    }
}
