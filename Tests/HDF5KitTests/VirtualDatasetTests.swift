import Foundation
import XCTest
@testable import HDF5Kit

/// Virtual datasets (VDS): blocks of other files read through one dataset, NaN where no source
/// maps, relative source paths resolved against the virtual file's folder after a move.
final class VirtualDatasetTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a/runs"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testBlocksFromTwoFilesPaddedWithNaNAndMovable() throws {
        let folder = dir.appendingPathComponent("a").path
        // Two sources of unequal length: rows (3 × 2) and (5 × 2) of known values.
        let lengths = [3, 5]
        for (r, n) in lengths.enumerated() {
            let f = try HDF5File.create(folder + "/runs/r\(r).h5")
            let ds = try f.root().createDataset("x", type: .float64, shape: [n, 2])
            try ds.write((0..<(2 * n)).map { Double(100 * r + $0) })
            try f.close()
        }
        let v = try HDF5File.create(folder + "/merged.h5")
        let sources = lengths.enumerated().map { r, n in
            VirtualSource(file: "runs/r\(r).h5", dataset: "/x", shape: [n, 2], start: [r, 0, 0])
        }
        let ds = try v.root().createVirtualDataset("x", type: .float64, shape: [2, 5, 2], fill: .nan, sources: sources)
        XCTAssertTrue(try ds.isVirtual())
        try v.close()
        // Move the folder: the relative sources still resolve (against the merged file's folder).
        let moved = dir.appendingPathComponent("b").path
        try FileManager.default.moveItem(atPath: folder, toPath: moved)
        let f = try HDF5File.open(moved + "/merged.h5")
        let got = try f.dataset("/x").read(Double.self)
        try f.close()
        XCTAssertEqual(got.count, 20)
        for r in 0..<2 {
            for i in 0..<5 {
                for j in 0..<2 {
                    let value = got[(r * 5 + i) * 2 + j]
                    if i < lengths[r] { XCTAssertEqual(value, Double(100 * r + 2 * i + j)) } else { XCTAssertTrue(value.isNaN) }
                }
            }
        }
    }

    func testStringArrayRoundTripsThroughTheReader() throws {
        let p = dir.appendingPathComponent("s.h5").path
        let f = try HDF5File.create(p)
        let ds = try f.root().createStringArrayDataset("ids", values: ["fba88a4958d4", "", "héllo"])
        XCTAssertEqual(try ds.shape(), [3])
        XCTAssertTrue(try ds.typeInfo().isVariableLengthString)
        try f.close()
    }
}
