import Foundation
import XCTest
@testable import EOSRun
import TrajectoryFormat

/// Sweep descriptions: canonical JSON, the documented expansion order, run ids.
final class SweepDescriptionTests: XCTestCase {
    func testCanonicalJSONFollowsTheDocumentedRule() {
        let v: SweepValue = .object(["b": .double(8.0), "a": .double(0.05), "c": .array([.int(-3), .double(1e-10), .bool(true), .null]),
                                     "d": .string("q\"\\\n\u{01}é"), "e": .double(1e16), "f": .uint(UInt64.max)])
        XCTAssertEqual(v.canonical,
                       #"{"a":0.050000000000000003,"b":8,"c":[-3,1.0000000000000000e-10,true,null],"d":"q\"\\\n\u0001é","e":10000000000000000,"f":18446744073709551615}"#
                           .replacingOccurrences(of: "1.0000000000000000e-10", with: String(format: "%.17g", 1e-10)))
        // %.17g reads back to the same double.
        for x in [0.05, 1.1, 1e-10, 3.141592653589793, 2.0 / 3.0] {
            XCTAssertEqual(Double(SweepValue.double(x).canonical), x)
        }
        XCTAssertEqual(SweepValue.double(9_007_199_254_740_992).canonical, "9007199254740992")  // %.17g: no exponent below 1e17
        XCTAssertEqual(SweepValue.double(1.5e300).canonical, "1.5000000000000001e+300")
    }

    func testExpansionOrderAndIds() throws {
        let base = Preset.linearSynthetic.config
        let d = try SweepDescription(base: base, axes: [.init(key: "seed", values: [.int(0), .int(1), .int(2)]),
                                                        .init(key: "lr", values: [.int(4), .double(8)])], source: "test")
        XCTAssertEqual(d.axes.map(\.key), ["init_seed", "learning_rate"])
        let runs = try d.expand()
        XCTAssertEqual(runs.map { [$0.config.initSeed, UInt64($0.config.learningRate)] },
                       [[0, 4], [0, 8], [1, 4], [1, 8], [2, 4], [2, 8]])
        for r in runs {
            XCTAssertEqual(r.sha256, SHA256.hex(Array(r.identity.utf8)))
            XCTAssertEqual(r.id, String(r.sha256.prefix(12)))
            XCTAssertEqual(try RunIdentity.id(of: r.config), r.id)
        }
        XCTAssertEqual(Set(runs.map(\.id)).count, 6)
        // 8 and 8.0 are the same value, so the same id.
        var c = base; c.learningRate = 8; c.initSeed = 0
        XCTAssertEqual(try RunIdentity.id(of: c), runs[1].id)
        XCTAssertThrowsError(try SweepDescription(base: base, axes: [.init(key: "lr", values: [.int(1), .int(1)])], source: "t"))
        XCTAssertThrowsError(try SweepDescription(base: base, axes: [.init(key: "lr", values: [])], source: "t"))
        XCTAssertThrowsError(try SweepDescription(base: base, axes: [.init(key: "learning_rat", values: [.int(1)])], source: "t").expand()) {
            XCTAssertTrue("\($0)".contains("learning_rat"), "\($0)")
        }
    }

    func testDataFilesAreNamedByDigestNotPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/one", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/two", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["one", "two"] {
            try Data("x-bytes".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(sub)/x.npy"))
            try Data("y-bytes".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(sub)/y.npy"))
        }
        func config(_ sub: String) -> RunConfig {
            RunConfig(data: .npy(.init(x: "\(dir)/\(sub)/x.npy", y: "\(dir)/\(sub)/y.npy")),
                      model: .twoLayerLinear(inputDim: 3, width: 4), learningRate: 0.1, steps: 3)
        }
        XCTAssertEqual(try RunIdentity.id(of: config("one")), try RunIdentity.id(of: config("two")))
        var d = RunIdentity.DigestCache()
        let identity = try RunIdentity.identity(of: config("one"), digests: &d)
        XCTAssertTrue(identity.contains("sha256:" + SHA256.hex(Array("x-bytes".utf8))), identity)
        XCTAssertFalse(identity.contains(dir), identity)
        try Data("other".utf8).write(to: URL(fileURLWithPath: "\(dir)/two/x.npy"))
        XCTAssertNotEqual(try RunIdentity.id(of: config("one")), try RunIdentity.id(of: config("two")))
    }
}
