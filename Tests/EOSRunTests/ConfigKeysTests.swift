import EOSModels
@testable import EOSRun
import Foundation
import XCTest

/// Strict config keys, data.n and size bounds (CLI cases: Tests/python/test_untrusted_input.py).
final class ConfigKeysTests: XCTestCase {
    let base: [String: Any] = ["data": ["kind": "synthetic", "n": 20, "d": 5],
                               "model": ["kind": "two_layer_linear", "input_dim": 5, "width": 8],
                               "learning_rate": 0.01, "steps": 2]

    func tree(_ edit: (inout [String: Any]) -> Void) -> [String: Any] {
        var t = base
        edit(&t)
        return t
    }

    func testProblems() {
        XCTAssertNil(ConfigKeys.problem(in: base))
        XCTAssertEqual(ConfigKeys.problem(in: tree { $0["checkpoint_evry"] = 1 }),
                       "unknown key \"checkpoint_evry\"; did you mean \"checkpoint_every\"?")
        XCTAssertEqual(ConfigKeys.problem(in: tree { $0["data"] = ["kind": "synthetic", "nn": 3] }),
                       "unknown key \"data.nn\"; did you mean \"data.n\"?")
        XCTAssertEqual(ConfigKeys.problem(in: tree { $0["zzzzzzzzzzzz"] = 1 }), "unknown key \"zzzzzzzzzzzz\"")
        XCTAssertEqual(ConfigKeys.problem(in: tree { $0["data"] = ["kind": "npy", "x": "a", "y": "b", "d": 3] }),
                       "key \"data.d\" is not used by data kind \"npy\" (its keys: x, y, n, center, seed)")
        XCTAssertNotNil(ConfigKeys.problem(in: tree { $0["model"] = ["kind": "mlp", "input_dim": 3, "widths": [2], "width": 2] }))
        XCTAssertEqual(ConfigKeys.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(ConfigKeys.editDistance("", "abc"), 3)
    }

    func testLoadRefusesUnknownKeyNamingFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfgkeys-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("run.json").path
        var t = base
        t["checkpoint_evry"] = 1
        try JSONSerialization.data(withJSONObject: t).write(to: URL(fileURLWithPath: json))
        XCTAssertThrowsError(try RunConfig.load(path: json)) { e in
            XCTAssertEqual("\(e)", "\(json): invalid configuration: unknown key \"checkpoint_evry\"; did you mean \"checkpoint_every\"?")
        }
        let yaml = dir.appendingPathComponent("run.yaml").path
        try "data:\n  kind: synthetic\n  nn: 3\nmodel:\n  kind: two_layer_linear\n  input_dim: 5\n  width: 8\nlearning_rate: 0.01\nsteps: 2\n"
            .write(toFile: yaml, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunConfig.load(path: yaml)) { e in
            XCTAssertTrue("\(e)".hasSuffix("unknown key \"data.nn\"; did you mean \"data.n\"?"), "\(e)")
        }
    }

    func testDataNAndSizes() throws {
        var c = RunConfig(data: DataSpec(kind: "synthetic", n: -1, d: 5),
                          model: .twoLayerLinear(inputDim: 5, width: 3), learningRate: 0.1, steps: 1, k: 2)
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("data.n must be ≥ 1, got -1")) }
        XCTAssertThrowsError(try c.data.load()) { XCTAssertTrue("\($0)".contains("must be ≥ 1")) }
        c.data.n = 1 << 40
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("sizes too large"), "\($0)") }
        c.data.n = 20
        c.model = .mlp(inputDim: 5, widths: [1 << 40, 1 << 40], activation: .tanh, bias: true, outputScale: 1)
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("64 bits"), "\($0)") }
        c.model = .twoLayerLinear(inputDim: 5, width: 3)
        XCTAssertNoThrow(try c.validate())
    }
}
