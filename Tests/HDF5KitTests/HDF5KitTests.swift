import Foundation
import XCTest
import CHDF5
@testable import HDF5Kit

final class HDF5KitTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hdf5kit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func testAttributesRoundTrip() throws {
        let p = path("a.h5")
        do {
            let f = try HDF5File.create(p)
            let root = try f.root()
            try root.setAttribute("vlen", "héllo wörld")
            try root.setAttribute("fixed", "abc", variableLength: false)
            try root.setAttribute("i", Int64(-42))
            try root.setAttribute("x", 0.1)
            try root.setAttribute("v", [Int64(1), 7])
            try root.setAttribute("i", Int64(43)) // replace
            try f.close()
        }
        let f = try HDF5File.open(p)
        let root = try f.root()
        XCTAssertEqual(try root.stringAttribute("vlen"), "héllo wörld")
        XCTAssertEqual(try root.stringAttribute("fixed"), "abc")
        XCTAssertEqual(try root.scalarAttribute("i", as: Int64.self), 43)
        XCTAssertEqual(try root.scalarAttribute("x", as: Double.self), 0.1)
        XCTAssertEqual(try root.attribute("v", as: Int64.self), [1, 7])
        XCTAssertEqual(try root.attributeNames().sorted(), ["fixed", "i", "v", "vlen", "x"])
        let info = try root.attributeInfo("vlen")
        XCTAssertTrue(info.type.isVariableLengthString)
        XCTAssertTrue(info.type.isUTF8)
        XCTAssertEqual(info.shape, [])
        XCTAssertEqual(try root.attributeInfo("v").shape, [2])
        XCTAssertEqual(try root.attributeInfo("fixed").type.isVariableLengthString, false)
        XCTAssertThrowsError(try root.stringAttribute("i")) { e in
            XCTAssertEqual((e as? HDF5Error)?.kind, .typeMismatch)
        }
        XCTAssertThrowsError(try root.stringAttribute("missing")) { e in
            let err = e as! HDF5Error
            XCTAssertEqual(err.kind, .objectNotFound)
            XCTAssertEqual(err.object, "/@missing")
        }
        try f.close()
    }

    func testChunkedAppendAndHyperslabs() throws {
        let p = path("d.h5")
        let f = try HDF5File.create(p, bounds: .v110)
        let g = try f.createGroup("/g")
        let ds = try g.createDataset("m", type: .float64, shape: [0, 3],
                                     options: .extendable(chunk: [4, 3], deflate: 4, shuffle: true,
                                                          chunkCacheBytes: 8 << 20, trailing: [3]))
        XCTAssertEqual(try ds.maxShape(), [nil, 3])
        XCTAssertEqual(try ds.chunkShape(), [4, 3])
        var all: [Double] = []
        for b in 0..<5 {
            var rows: [Double] = []
            let base = all.count / 3
            for r in 0..<(b + 2) {
                for c in 0..<3 { rows.append(Double(base + r) * 10 + Double(c)) }
            }
            try ds.appendRows(rows)
            all += rows
        }
        XCTAssertEqual(try ds.shape(), [all.count / 3, 3])
        XCTAssertEqual(try ds.read(Double.self), all)
        XCTAssertEqual(try ds.readRows(3..<5, as: Double.self), Array(all[9..<15]))
        XCTAssertEqual(try ds.readBlock(start: [2, 1], count: [2, 2], as: Double.self), [21, 22, 31, 32])
        try ds.writeRows([1, 2, 3], at: 1)
        XCTAssertEqual(try ds.readRows(1..<2, as: Double.self), [1, 2, 3])
        try ds.setRowCount(2)
        XCTAssertEqual(try ds.shape(), [2, 3])
        XCTAssertThrowsError(try ds.readRows(0..<3, as: Double.self))
        XCTAssertThrowsError(try ds.writeRows([1, 2], at: 0))
        // Integer conversion by HDF5 on read.
        let iv = try g.createDataset("i", type: .int64, shape: [4])
        try iv.write([Int64(1), 2, 3, Int64.max])
        XCTAssertEqual(try iv.read(Int64.self), [1, 2, 3, Int64.max])
        XCTAssertEqual(try iv.typeInfo().elementType, .int64)
        XCTAssertNil(try iv.chunkShape())
        XCTAssertEqual(f.kind(of: "/g"), .group)
        XCTAssertEqual(f.kind(of: "/g/i"), .dataset)
        XCTAssertNil(f.kind(of: "/g/nope/x"))
        XCTAssertEqual(try g.childNames(), ["i", "m"])
        try f.close()
    }

    func testStringDatasetAndScales() throws {
        let p = path("s.h5")
        do {
            let f = try HDF5File.create(p, bounds: .v110)
            let root = try f.root()
            let st = try root.createStringDataset("status", value: "running", size: 16)
            let scale = try root.createDataset("sample", type: .float32, shape: [5])
            try scale.makeDimensionScale(name: "This is a netCDF dimension but not a netCDF variable.         5")
            let step = try root.createDataset("step", type: .int64, shape: [0], options: .extendable(chunk: [8], trailing: []))
            try step.makeDimensionScale(name: "step")
            let r = try root.createDataset("r", type: .float64, shape: [0, 5], options: .extendable(chunk: [8, 5], trailing: [5]))
            try r.attachScale(step, axis: 0)
            try r.attachScale(scale, axis: 1)
            try f.startSWMRWrite()
            try step.appendRows([Int64(0), 1])
            try r.appendRows([Double](repeating: 1, count: 10))
            try st.writeString("completed")
            XCTAssertThrowsError(try st.writeString("a string far too long for sixteen bytes"))
            try f.flush()
            try f.close()
        }
        let f = try HDF5File.open(p)
        XCTAssertEqual(try f.dataset("/status").readString(), "completed")
        let r = try f.dataset("/r")
        XCTAssertEqual(try r.attachedScales(axis: 0), ["/step"])
        XCTAssertEqual(try r.attachedScales(axis: 1), ["/sample"])
        XCTAssertTrue(try f.dataset("/step").isDimensionScale())
        XCTAssertFalse(try r.isDimensionScale())
        XCTAssertEqual(try f.dataset("/sample").stringAttribute("NAME").hasPrefix("This is a netCDF dimension"), true)
    }

    /// Scale names come from the links of the dataset's group and its ancestors (nearest first),
    /// not from libhdf5's whole-file search (which a forged group cycle made recurse forever).
    func testAttachedScaleNamesByAddress() throws {
        let p = path("scales-nested.h5")
        do {
            let f = try HDF5File.create(p, bounds: .v110)
            let root = try f.root()
            let top = try root.createDataset("top", type: .float64, shape: [2])
            try top.makeDimensionScale(name: "top")
            let a = try f.createGroup("/a")
            let b = try f.createGroup("/a/b")
            let mid = try a.createDataset("mid", type: .float64, shape: [3])
            try mid.makeDimensionScale(name: "mid")
            let here = try b.createDataset("here", type: .float64, shape: [4])
            try here.makeDimensionScale(name: "here")
            let other = try f.createGroup("/other")
            let away = try other.createDataset("away", type: .float64, shape: [5])
            try away.makeDimensionScale(name: "away")
            let d = try b.createDataset("d", type: .float64, shape: [2, 3, 4, 5])
            try d.attachScale(top, axis: 0)
            try d.attachScale(mid, axis: 1)
            try d.attachScale(here, axis: 2)
            try d.attachScale(away, axis: 3)
            try d.attachScale(top, axis: 3)
            try f.close()
        }
        let f = try HDF5File.open(p)
        let d = try f.dataset("/a/b/d")
        XCTAssertEqual(try d.attachedScales(axis: 0), ["/top"])
        XCTAssertEqual(try d.attachedScales(axis: 1), ["/a/mid"])
        XCTAssertEqual(try d.attachedScales(axis: 2), ["/a/b/here"])
        let last = try d.attachedScales(axis: 3)
        XCTAssertEqual(last.count, 2)
        XCTAssertTrue(last.contains("/top"), "\(last)")
        // /other/away is outside the groups searched: named by its address, which opens it.
        let away = try XCTUnwrap(last.first { $0 != "/top" })
        XCTAssertTrue(away.hasPrefix("<object at address "), away)
        let addr = try XCTUnwrap(UInt64(away.dropFirst("<object at address ".count).dropLast()))
        let obj = H5Oopen_by_addr(try f.openID(), haddr_t(addr))
        XCTAssertGreaterThanOrEqual(obj, 0)
        var buf = [CChar](repeating: 0, count: 64)
        XCTAssertGreaterThan(H5Iget_name(obj, &buf, buf.count), 0)
        XCTAssertEqual(String(cString: buf), "/other/away")
        H5Oclose(obj)
        try f.close()
    }

    func testErrorsAreTypedAndOneLine() throws {
        let junk = path("junk.h5")
        try Data("this is not hdf5 at all".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertFalse(HDF5File.isHDF5(junk))
        XCTAssertThrowsError(try HDF5File.open(junk)) { e in
            let err = e as! HDF5Error
            XCTAssertEqual(err.kind, .notHDF5, err.description)
            print(err.description)
            XCTAssertEqual(err.file, junk)
            XCTAssertFalse(err.message.isEmpty)
            XCTAssertFalse(err.description.contains("\n"))
        }
        XCTAssertThrowsError(try HDF5File.open(path("missing.h5"))) { e in
            XCTAssertEqual((e as! HDF5Error).kind, .fileNotFound)
        }
        let p = path("t.h5")
        let f = try HDF5File.create(p)
        XCTAssertThrowsError(try f.dataset("/nope")) { e in
            XCTAssertEqual((e as! HDF5Error).kind, .objectNotFound)
            XCTAssertEqual((e as! HDF5Error).object, "/nope")
        }
        // A library failure: creating a group twice; HDF5's message comes from the stack.
        try f.createGroup("/g")
        XCTAssertThrowsError(try f.createGroup("/g")) { e in
            let err = e as! HDF5Error
            XCTAssertEqual(err.kind, .library, err.description)
            XCTAssertEqual(err.operation, "create group")
            XCTAssertFalse(err.message.isEmpty, err.description)
        }
        try f.close()
        XCTAssertThrowsError(try f.root())
    }

    func testTruncatedFileIsRefused() throws {
        let p = path("full.h5")
        do {
            let f = try HDF5File.create(p)
            let ds = try f.root().createDataset("x", type: .float64, shape: [10_000])
            try ds.write((0..<10_000).map(Double.init))
            try f.close()
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: p))
        let cut = path("cut.h5")
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try { let f = try HDF5File.open(cut); _ = try f.dataset("/x").read(Double.self) }()) { e in
            let err = e as! HDF5Error
            XCTAssertEqual(err.kind, .notHDF5, err.description)
            print(err.description)
        }
    }

    func testSWMRReaderFollowsWriter() throws {
        let p = path("live.h5")
        let w = try HDF5File.create(p, bounds: .v110)
        let ds = try w.root().createDataset("x", type: .int64, shape: [0], options: .extendable(chunk: [16], trailing: []))
        try w.startSWMRWrite()
        try ds.appendRows([Int64(1), 2, 3])
        try w.flush()
        let r = try HDF5File.open(p, mode: .swmrRead)
        let rd = try r.dataset("/x")
        XCTAssertEqual(try rd.read(Int64.self), [1, 2, 3])
        try ds.appendRows([Int64(4)])
        try w.flush()
        try rd.refresh()
        XCTAssertEqual(try rd.read(Int64.self), [1, 2, 3, 4])
        try r.close()
        try w.close()
    }

    /// HDF5Kit can be used from several threads (calls are serialized by its lock).
    func testReleaseClosesWithoutReportingAndIsIdempotent() throws {
        let f = try HDF5File.create(path("release.h5"))
        let g = try f.createGroup("/g")
        try g.setAttribute("a", Int64(1))
        f.release()
        XCTAssertFalse(f.isOpen)
        f.release()
        XCTAssertNoThrow(try f.close())
        XCTAssertThrowsError(try f.flush())
        let r = try HDF5File.open(path("release.h5"))
        XCTAssertEqual(try r.group("/g").scalarAttribute("a", as: Int64.self), 1)
        try r.close()
    }

    func testAttributeCanBeCreatedAndReplacedWhileSWMRWriting() throws {
        // TrajectoryWriter relies on this for /run@eigensolver_check (written right before close).
        let f = try HDF5File.create(path("swmr-attr.h5"), bounds: .v110)
        try f.createGroup("/run")
        try f.startSWMRWrite()
        try f.group("/run").setAttribute("x", "{\"a\":1}")
        try f.group("/run").setAttribute("x", "{\"a\":2}")
        try f.close()
        let r = try HDF5File.open(path("swmr-attr.h5"))
        XCTAssertEqual(try r.group("/run").stringAttribute("x"), "{\"a\":2}")
        XCTAssertTrue(try r.group("/run").attributeInfo("x").type.isVariableLengthString)
        try r.close()
    }

    func testConcurrentReadersOnSeveralThreads() throws {
        let p = path("conc.h5")
        let values = (0..<5000).map { Double($0) * 0.5 }
        do {
            let f = try HDF5File.create(p)
            try f.root().createDataset("x", type: .float64, shape: [5000]).write(values)
            try f.root().setAttribute("name", "concurrent")
            try f.close()
        }
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                for _ in 0..<20 {
                    let f = try HDF5File.open(p)
                    let ds = try f.dataset("/x")
                    let lo = i * 100
                    if try ds.readRows(lo..<(lo + 100), as: Double.self) != Array(values[lo..<(lo + 100)]) { failures.add() }
                    if try f.root().stringAttribute("name") != "concurrent" { failures.add() }
                    // Failures on other threads must not mix up error messages.
                    do {
                        try f.root().createGroup("/g\(i)")
                        failures.add()
                    } catch let e as HDF5Error {
                        if e.object != "/g\(i)" || e.message.isEmpty { failures.add() }
                    }
                    try f.close()
                }
            } catch {
                failures.add()
            }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
