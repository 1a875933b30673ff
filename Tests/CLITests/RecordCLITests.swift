import Foundation
import XCTest
import EOSTestSupport
import HDF5Kit
import TrajectoryFormat

/// End-to-end tests of `eostrace record`: sweeps over step sizes, and the shipped real samples.
final class RecordCLITests: XCTestCase {
    private var temporary: TemporaryDirectory!
    var dir: String { temporary.url.path }
    override func setUpWithError() throws { temporary = try TemporaryDirectory(prefix: "recordcli") }
    override func tearDownWithError() throws { temporary?.remove() }

    func run(_ args: [String], cwd: String? = nil) throws -> (code: Int32, stdout: String, stderr: String) {
        guard let bin = CLITests.binary else { XCTFail("eostrace binary not found"); throw XCTSkip("no binary") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let e = PipeReader(err)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), e.text())
    }

    /// A run whose X is only referenced (path + SHA-256) is still replayed exactly by `analyze`:
    /// X is rebuilt from the stored configuration and checked against the digest.
    func testAnalyzeReplaysARunWhoseDataIsOnlyReferenced() throws {
        let path = dir + "/ref.h5"
        let rec = try run(["record", "--preset", "linear-synthetic", "--n", "40", "--steps", "30", "--k", "2",
                           "--checkpoint-every", "10", "--store-data-below", "1", "--quiet", "-o", path])
        XCTAssertEqual(rec.code, 0, rec.stderr)
        let r = try TrajectoryReader(path: path)
        XCTAssertNil(try r.X(), "X should be referenced, not stored")
        r.close()
        let a = try run(["analyze", path, "--json", "--quiet", "--gram", "replay"])   // replay, not the recorded products
        XCTAssertEqual(a.code, 0, a.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any]
        let gram = json?["gram"] as? [String: Any]
        XCTAssertEqual(gram?["source"] as? String, "replay_within_tolerance", a.stdout.prefix(400).description)
        let replay = gram?["replay"] as? [String: Any]
        XCTAssertEqual(replay?["within_tolerance"] as? Bool, true)
        XCTAssertEqual((replay?["max_relative_drift_residual"] as? Double) ?? 1, 0, accuracy: 1e-9)
    }

    /// First step whose λ_1 exceeds 2/η, from the file itself.
    func firstCrossing(_ path: String) throws -> String {
        let r = try TrajectoryReader(path: path); defer { r.close() }
        let lam = try r.read("sharpness"), steps = try r.steps()
        let thr = 2 / r.metadata.learningRate
        return lam.firstIndex { $0 > thr }.map { String(steps[$0]) } ?? "none"
    }

    func testSweepRunsOneProcessPerStepSizeAndSummarizes() throws {
        let out = dir + "/sweep"
        let r = try run(["record", "--preset", "linear-synthetic", "--n", "40", "--steps", "30", "--k", "2",
                         "--spectrum-every", "10", "--checkpoint-every", "10", "--sweep-lr", "2,8,16", "--jobs", "2",
                         "-o", out])
        XCTAssertEqual(r.code, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, r.stdout)
        XCTAssertTrue(lines[0].hasPrefix("lr") && lines[0].contains("first_crossing") && lines[0].contains("cycles"), lines[0])
        for (i, lr) in ["2", "8", "16"].enumerated() {
            let file = out + "/lr-\(lr).h5"
            XCTAssertTrue(FileManager.default.fileExists(atPath: file), file)
            let row = lines[i + 1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            XCTAssertEqual(row[0], lr)
            XCTAssertEqual(row[2], "completed", lines[i + 1])
            XCTAssertEqual(row[3], try firstCrossing(file), "first crossing of lr \(lr)")
            XCTAssertEqual(try Validator().validate(path: file).count, 0)
            let tr = try TrajectoryReader(path: file)
            XCTAssertEqual(tr.metadata.learningRate, Double(lr)!)
            XCTAssertEqual(try tr.steps().last, 30)
            tr.close()
        }
        XCTAssertEqual(r.stderr.components(separatedBy: "\n").filter { $0.hasPrefix("[") }.count, 3, r.stderr)
        // The same sweep again refuses to replace the files without --force (the old spelling
        // --output-dir of -o DIR still works).
        let again = try run(["record", "--preset", "linear-synthetic", "--n", "40", "--steps", "3", "--sweep-lr", "2",
                             "--output-dir", out])
        XCTAssertEqual(again.code, 1)
        XCTAssertTrue(again.stderr.contains("exists"), again.stderr)
    }

    func testSweepFailsWhenARunFails() throws {
        // Data files that are not .npy files: every child fails; the parent exits non-zero with a summary.
        let cfg = dir + "/c.json"
        try Data("not an npy file".utf8).write(to: URL(fileURLWithPath: dir + "/bad-x.npy"))
        try Data("not an npy file".utf8).write(to: URL(fileURLWithPath: dir + "/bad-y.npy"))
        try Data(#"{"data": {"kind": "npy", "x": "\#(dir)/bad-x.npy", "y": "\#(dir)/bad-y.npy"}, "model": {"kind": "two_layer_linear", "input_dim": 3, "width": 4}, "learning_rate": 0.1, "steps": 3}"#.utf8)
            .write(to: URL(fileURLWithPath: cfg))
        let r = try run(["record", "--config", cfg, "--sweep-lr", "0.1,0.2", "--output-dir", dir + "/s", "--jobs", "1"])
        XCTAssertEqual(r.code, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("failed"), r.stdout)
        XCTAssertTrue(r.stderr.contains("2 of 2 runs failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("bad-x.npy"), r.stderr)
        // Missing data files: the run ids need their digests, so the sweep stops before any run starts.
        let missing = dir + "/m.json"
        try Data(#"{"data": {"kind": "npy", "x": "missing-x.npy", "y": "missing-y.npy"}, "model": {"kind": "two_layer_linear", "input_dim": 3, "width": 4}, "learning_rate": 0.1, "steps": 3}"#.utf8)
            .write(to: URL(fileURLWithPath: missing))
        let m = try run(["record", "--config", missing, "--sweep-lr", "0.1,0.2", "--output-dir", dir + "/sm", "--jobs", "1"])
        XCTAssertEqual(m.code, 1, m.stdout + m.stderr)
        XCTAssertTrue(m.stderr.contains("missing-x.npy"), m.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/sm/sweep.json"))
        // Bad sweep lists are refused before any run starts.
        let bad = try run(["record", "--sweep-lr", "0.1,abc", "--output-dir", dir + "/s2"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/s2"))
    }

    /// samples/fmnist-tanh-small.h5, samples/linear-synthetic-small.h5 and
    /// samples/fmnist-tanh-hover-small.h5: real recordings that validate, are small, show EOS
    /// cycles, and are reproduced number for number by scripts/make-samples.sh.
    func testRealSamplesValidateAndAreReproducible() throws {
        let root = CLITests.repositoryRoot.path
        let names = ["fmnist-tanh-small", "linear-synthetic-small", "fmnist-tanh-hover-small"]
        let samples = names.map { root + "/samples/\($0).h5" }
        let v = try run(["validate"] + samples)
        XCTAssertEqual(v.code, 0, v.stdout + v.stderr)
        for s in samples {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: s)[.size] as? Int)
            // format 1.1: the M-products add ~0.6 MB (compressed); the hovering sample stays ≤ 2 MB.
            XCTAssertLessThanOrEqual(size, s.hasSuffix("hover-small.h5") ? 2_000_000 : 2_400_000, s)
            let r = try TrajectoryReader(path: s); defer { r.close() }
            let lam = try r.read("sharpness"), thr = 2 / r.metadata.learningRate
            // At least one full EOS cycle: above 2/η, then back below it.
            let up = try XCTUnwrap(lam.firstIndex { $0 > thr }, s)
            XCTAssertNotNil(lam[up...].firstIndex { $0 < thr }, s)
            XCTAssertGreaterThanOrEqual(try r.checkpointSteps().count, 2)
            XCTAssertNotNil(try r.X(), "X is stored (replay)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/h5repack") else { throw XCTSkip("h5repack not installed") }
        guard let bin = CLITests.binary, let dev = CLITests.devBinary else { return XCTFail("no binary") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: root + "/scripts/make-samples.sh")
        p.arguments = [dir]
        var env = ProcessInfo.processInfo.environment
        env["EOSTRACE_BIN"] = bin
        env["EOSTRACE_DEV_BIN"] = dev
        env.removeValue(forKey: "EOSTRACE_BLAS_THREADS")
        p.environment = env
        let err = Pipe(), outPipe = Pipe(); p.standardError = err; p.standardOutput = outPipe
        let e = PipeReader(err), o = PipeReader(outPipe)
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, e.text())
        // `record` counted the cycles of each sample while recording it (the causal tracker); the
        // script prints its eos_cycles_text, which is the cycle text `analyze` gives the shipped file.
        let printed = o.text()
        for (name, shipped) in zip(names, samples) {
            let line = try XCTUnwrap(printed.split(separator: "\n").first { $0.contains("/\(name).h5: ") }, printed)
            let text = try XCTUnwrap(line.range(of: "eos_cycles_text ").flatMap { a in
                line.range(of: " max_sharpness", range: a.upperBound..<line.endIndex).map { String(line[a.upperBound..<$0.lowerBound]) }
            }, String(line))
            let js = try run(["analyze", shipped, "--quiet", "--json", "--gram", "topk"])
            XCTAssertEqual(js.code, 0, js.stderr)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(js.stdout.utf8)) as? [String: Any])
            XCTAssertEqual((obj["phases"] as? [String: Any])?["cycle_text"] as? String, text, name)
        }
        // OpenBLAS picks its kernels per CPU at run time, and kernels differ in the last bits; at
        // the Edge of Stability GD amplifies that within tens of steps. Bit for bit only where the
        // kernels match those the samples were made with; elsewhere the same run to round-off
        // before EOS sets in.
        let shippedCore = try String(contentsOfFile: root + "/samples/blas-core.txt", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let core = try String(contentsOfFile: dir + "/blas-core.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard core == shippedCore else {
            for (name, shipped) in zip(names, samples) {
                let a = try TrajectoryReader(path: shipped), b = try TrajectoryReader(path: dir + "/\(name).h5")
                defer { a.close(); b.close() }
                XCTAssertEqual(try a.steps(), try b.steps(), name)
                XCTAssertEqual(try a.parameters(atCheckpointIndex: 0), try b.parameters(atCheckpointIndex: 0), "\(name): θ(0)")
                // Synthetic data are made with BLAS too.
                for (what, va, vb) in [("X", try XCTUnwrap(a.X()), try XCTUnwrap(b.X())), ("Y", try a.Y(), try b.Y())] {
                    XCTAssertEqual(va.count, vb.count, "\(name): \(what)")
                    let diff = zip(va, vb).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(diff, 1e-12 * (va.map(abs).max() ?? 1), "\(name): \(what)")
                }
                let la = try a.read("loss"), lb = try b.read("loss")
                for t in 0..<5 { XCTAssertEqual(la[t], lb[t], accuracy: 1e-11 * abs(la[t]), "\(name): loss at step \(t)") }
            }
            print("samples were made with OpenBLAS kernels \(shippedCore), this machine uses \(core): checked to round-off, not bit for bit")
            return
        }
        for (name, shipped) in zip(names, samples) {
            let a = try TrajectoryReader(path: shipped), b = try TrajectoryReader(path: dir + "/\(name).h5")
            defer { a.close(); b.close() }
            XCTAssertEqual(try a.steps(), try b.steps(), name)
            for series in ["loss", "residual", "outputs", "output_norm_sq", "dtf", "grad_norm", "sharpness", "eigenvalues",
                           "output_layer_sharpness"] {
                XCTAssertEqual(try a.read(series), try b.read(series), "\(name): \(series)")
            }
            XCTAssertEqual(try a.eigenvectors().values, try b.eigenvectors().values, name)
            // The hovering sample has neither (spectrum and Hessian cadence 0).
            XCTAssertEqual(a.has("spectrum"), b.has("spectrum"), name)
            if a.has("spectrum") { XCTAssertEqual(try a.spectrum().values, try b.spectrum().values, name) }
            XCTAssertEqual(a.has("hessian_sharpness"), b.has("hessian_sharpness"), name)
            if a.has("hessian_sharpness") { XCTAssertEqual(try a.hessianSharpness(), try b.hessianSharpness(), name) }
            for series in ["gram_residual", "r_prime", "r_prime_from_start"] where a.hasProduct(series) {
                XCTAssertEqual(try a.read(series), try b.read(series), "\(name): \(series)")
            }
            XCTAssertEqual(try a.checkpointSteps(), try b.checkpointSteps(), name)
            for i in 0..<(try a.checkpointSteps().count) {
                XCTAssertEqual(try a.parameters(atCheckpointIndex: i), try b.parameters(atCheckpointIndex: i), name)
            }
            XCTAssertEqual(try a.X(), try b.X(), name)
            XCTAssertEqual(try a.Y(), try b.Y(), name)
        }
    }
}

/// Reads a pipe to its end on a background thread.
final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ pipe: Pipe) {
        let h = pipe.fileHandleForReading
        DispatchQueue.global().async { [self] in data = h.readDataToEndOfFile(); done.signal() }
    }
    func text() -> String { done.wait(); return String(decoding: data, as: UTF8.self) }
}
