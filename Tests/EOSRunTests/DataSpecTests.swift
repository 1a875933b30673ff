import XCTest
@testable import EOSRun
import EOSModels
import EOSNumerics

/// `DataSpec` as an enum encodes to exactly the canonical JSON (`/run@config`, sorted keys) the
/// flat struct wrote, and decodes what it decoded.
final class DataSpecTests: XCTestCase {
    /// `/run@config` strings written by the pre-enum binary (/work/baseline/eostrace record with
    /// the default preset at --steps 40, linear-synthetic at --steps 1, npy / hdf5 / fmnist /
    /// synthetic config files at --steps 1, and the two samples/*.h5).
    static let stored: [(String, String)] = [
        ("npy", #"{"checkpoint_every":500,"cross_check_every":100,"data":{"center":true,"kind":"npy","n":20,"seed":7,"x":"\/tmp\/hrun\/cfg\/x.npy","y":"\/tmp\/hrun\/cfg\/y.npy"},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":0,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.1,"model":{"activation":"tanh","bias":true,"input_dim":5,"kind":"mlp","output_scale":1,"widths":[4]},"spectrum_every":100,"steps":1}"#),
        ("hdf5", #"{"checkpoint_every":500,"cross_check_every":100,"data":{"file":"\/tmp\/hrun\/cfg\/d.h5","kind":"hdf5","n":25,"x_dataset":"data\/inputs","y_dataset":"\/labels"},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":0,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.1,"model":{"activation":"tanh","bias":true,"input_dim":5,"kind":"mlp","output_scale":1,"widths":[4]},"spectrum_every":100,"steps":1,"store_data_below":0}"#),
        ("hdf5b", #"{"checkpoint_every":500,"cross_check_every":100,"data":{"center":false,"file":"\/tmp\/hrun\/cfg\/d.h5","kind":"hdf5","x_dataset":"\/data\/inputs","y_dataset":"labels"},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":0,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.1,"model":{"activation":"tanh","bias":true,"input_dim":5,"kind":"mlp","output_scale":1,"widths":[4]},"spectrum_every":100,"steps":1}"#),
        ("fmnist", #"{"checkpoint_every":500,"cross_check_every":100,"data":{"center":false,"classes":[1,2],"kind":"fmnist","n":50,"seed":3,"train":false},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":0,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.1,"model":{"activation":"tanh","bias":true,"input_dim":784,"kind":"mlp","output_scale":1,"widths":[4]},"spectrum_every":100,"steps":1}"#),
        ("synth", #"{"checkpoint_every":500,"cross_check_every":100,"data":{"chi":3,"d":5,"decay":1.2,"gap":2,"kind":"synthetic","lambda1":2.5,"n":40,"rank":3,"seed":9},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":0,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.1,"model":{"activation":"tanh","bias":true,"input_dim":5,"kind":"mlp","output_scale":1,"widths":[4]},"spectrum_every":100,"steps":1}"#),
        ("ls", #"{"checkpoint_every":250,"cross_check_every":100,"data":{"chi":3,"d":50,"decay":1.1,"gap":2,"kind":"synthetic","n":200,"seed":0},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":500,"init_scale":0.1,"init_seed":0,"k":8,"learning_rate":8,"model":{"input_dim":50,"kind":"two_layer_linear","width":500},"spectrum_every":250,"steps":1}"#),
        ("fmnist-tanh", #"{"checkpoint_every":250,"cross_check_every":100,"data":{"classes":[0,6],"kind":"fashion-mnist","n":1000,"seed":0},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":500,"init_scale":1,"init_seed":0,"k":8,"learning_rate":0.05,"model":{"activation":"tanh","bias":true,"input_dim":784,"kind":"mlp","output_scale":1,"widths":[100,100]},"spectrum_every":250,"steps":40}"#),
        ("fmnist-tanh-small.h5", #"{"checkpoint_every":100,"cross_check_every":50,"data":{"classes":[0,6],"kind":"fashion-mnist","n":100,"seed":0},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":50,"init_scale":1,"init_seed":0,"k":2,"learning_rate":0.05,"model":{"activation":"tanh","bias":true,"input_dim":784,"kind":"mlp","output_scale":1,"widths":[16,16]},"spectrum_every":50,"steps":300}"#),
        ("linear-synthetic-small.h5", #"{"checkpoint_every":100,"cross_check_every":50,"data":{"chi":3,"d":20,"decay":1.1,"gap":2,"kind":"synthetic","n":60,"seed":0},"divergence_loss":1000000,"eigen_tolerance":1e-10,"gram_every":0,"hessian_every":50,"init_scale":0.1,"init_seed":0,"k":2,"learning_rate":4.5,"model":{"input_dim":20,"kind":"two_layer_linear","width":100},"spectrum_every":50,"steps":300}"#),
    ]

    func testStoredConfigsReencodeByteIdentical() throws {
        for (name, json) in Self.stored {
            let c = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
            XCTAssertEqual(c.jsonString(), json, name)
        }
    }

    func testPresetsEncodeAsBefore() throws {
        let stored = Dictionary(uniqueKeysWithValues: Self.stored)
        var f = Preset.fmnistTanh.config; f.steps = 40
        XCTAssertEqual(f.jsonString(), stored["fmnist-tanh"])
        var l = Preset.linearSynthetic.config; l.steps = 1
        XCTAssertEqual(l.jsonString(), stored["ls"])
    }

    func testCasesCarryTheirKeys() throws {
        let stored = Dictionary(uniqueKeysWithValues: Self.stored)
        func data(_ name: String) throws -> DataSpec {
            try JSONDecoder().decode(RunConfig.self, from: Data(stored[name]!.utf8)).data
        }
        XCTAssertEqual(try data("npy"), .npy(.init(x: "/tmp/hrun/cfg/x.npy", y: "/tmp/hrun/cfg/y.npy", n: 20, center: true, seed: 7)))
        XCTAssertEqual(try data("hdf5"), .hdf5(.init(file: "/tmp/hrun/cfg/d.h5", xDataset: "data/inputs", yDataset: "/labels", n: 25)))
        XCTAssertEqual(try data("hdf5b"), .hdf5(.init(file: "/tmp/hrun/cfg/d.h5", xDataset: "/data/inputs", yDataset: "labels", center: false)))
        XCTAssertEqual(try data("fmnist"), .fashionMNIST(.init(n: 50, classes: [1, 2], seed: 3, train: false, center: false, spelledFmnist: true)))
        XCTAssertEqual(try data("synth"), .synthetic(.init(n: 40, seed: 9, d: 5, rank: 3, lambda1: 2.5, chi: 3, gap: 2, decay: 1.2)))
        XCTAssertEqual(try data("npy").kind, "npy")
        XCTAssertEqual(try data("fmnist").kind, "fmnist")
        // The flat builder (old memberwise init) gives the same cases.
        XCTAssertEqual(DataSpec(kind: "npy", n: 20, seed: 7, center: true, x: "/tmp/hrun/cfg/x.npy", y: "/tmp/hrun/cfg/y.npy"), try data("npy"))
        // The CLI's --n / --data-seed overrides.
        var s = try data("hdf5"); s.n = 5; s.seed = 2
        XCTAssertEqual(s, .hdf5(.init(file: "/tmp/hrun/cfg/d.h5", xDataset: "data/inputs", yDataset: "/labels", n: 5, seed: 2)))
    }

    func testDecodingAcceptsWhatItAccepted() throws {
        func decode(_ json: String) throws -> DataSpec { try JSONDecoder().decode(DataSpec.self, from: Data(json.utf8)) }
        // Every key is type-checked whatever the kind, as before.
        XCTAssertThrowsError(try decode(#"{"kind":"npy","x":"a","y":"b","classes":"0,6"}"#)) {
            guard case DecodingError.typeMismatch(_, let ctx) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(ctx.codingPath.map(\.stringValue), ["classes"])
        }
        XCTAssertThrowsError(try decode(#"{"kind":"synthetic","n":"ten"}"#))
        XCTAssertThrowsError(try decode(#"{"n":10}"#)) {
            guard case DecodingError.keyNotFound(let key, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(key.stringValue, "kind")
        }
        // Unknown kinds decode and fail at load with the same message.
        let u = try decode(#"{"kind":"imagenet","n":3}"#)
        XCTAssertEqual(u, .unknown(kind: "imagenet"))
        XCTAssertThrowsError(try u.load()) { XCTAssertTrue("\($0)".contains(#"unknown "imagenet""#), "\($0)") }
        // Missing paths decode and fail at load.
        XCTAssertThrowsError(try decode(#"{"kind":"npy"}"#).load()) { XCTAssertTrue("\($0)".contains(#"needs "x" and "y""#), "\($0)") }
        XCTAssertThrowsError(try decode(#"{"kind":"hdf5"}"#).load()) { XCTAssertTrue("\($0)".contains(#"needs "file""#), "\($0)") }
        // Keys of other kinds are ignored (like unknown keys).
        XCTAssertEqual(try decode(#"{"kind":"synthetic","n":10,"x":"a.npy","train":true}"#), .synthetic(.init(n: 10)))
        // YAML takes the same path.
        let dir = NSTemporaryDirectory() + "eosrun-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = dir + "/c.yaml"
        try """
        data: {kind: fmnist, n: 50, classes: [1, 2], seed: 3, train: false, center: false}
        model: {kind: mlp, input_dim: 784, widths: [4], activation: tanh, bias: true, output_scale: 1}
        learning_rate: 0.1
        steps: 1
        k: 2
        """.write(toFile: yaml, atomically: true, encoding: .utf8)
        XCTAssertEqual(try RunConfig.load(path: yaml).jsonString(), Dictionary(uniqueKeysWithValues: Self.stored)["fmnist"])
        try #"{"data":{"kind":"npy","x":1},"model":{"kind":"two_layer_linear","input_dim":2,"width":3},"learning_rate":1,"steps":1}"#
            .write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunConfig.load(path: dir + "/bad.json")) {
            XCTAssertEqual("\($0)", dir + #"/bad.json: invalid configuration: wrong type at "data.x""#)
        }
    }
}
