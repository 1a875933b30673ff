import XCTest
@testable import EOSRecorder
import EOSRun
import EOSModels
import EOSNumerics
import TrajectoryFormat

/// The recorder for c > 1 outputs (format 2.0) on users' [n, c] targets (.npy): the dense path
/// (n·c ≤ 4096) and the matrix-free one, checked against the dense M and LAPACK, and resumed
/// bit for bit (`RecordingDiff`, what `eostrace diff` runs).
final class MultiOutputRecorderTests: XCTestCase {
    var dir: String!
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "eosrecorder-multi-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func npy(_ path: String, shape: [Int], values: [Double]) throws {
        let shp = "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shp), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let len = header.utf8.count
        let payload = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        try Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(len & 255), UInt8(len >> 8)] + Array(header.utf8) + payload)
            .write(to: URL(fileURLWithPath: path))
    }

    /// X (n × d) uniform, Y one-hot of c classes from a random linear map (so GD can fit it).
    func data(n: Int, d: Int, c: Int, seed: UInt64) throws -> (config: DataSpec, y: [Double]) {
        var rng = SeededRNG(seed: seed)
        let x = (0..<(n * d)).map { _ in rng.uniform(-1, 1) }
        let w = (0..<(d * c)).map { _ in rng.normal() }
        var y = [Double](repeating: 0, count: n * c)
        for i in 0..<n {
            var best = 0, score = -Double.infinity
            for a in 0..<c {
                var s = 0.0
                for j in 0..<d { s += x[i * d + j] * w[j * c + a] }
                if s > score { score = s; best = a }
            }
            y[i * c + best] = 1
        }
        let xp = dir + "/x-\(n)-\(c).npy", yp = dir + "/y-\(n)-\(c).npy"
        try npy(xp, shape: [n, d], values: x)
        try npy(yp, shape: [n, c], values: y)
        return (DataSpec(kind: "npy", x: xp, y: yp), y)
    }

    func config(_ data: DataSpec, steps: Int, k: Int, lr: Double, dense: Bool) -> RunConfig {
        var c = RunConfig(data: data, model: .mlp(inputDim: 4, widths: [6, 5], activation: .tanh, bias: true, outputScale: 1),
                          initSeed: 3, initScale: 1, learningRate: lr, steps: steps, k: k,
                          spectrumEvery: dense ? 5 : 0, hessianEvery: 6, checkpointEvery: 8, crossCheckEvery: dense ? 4 : 0,
                          gramEvery: dense ? 10 : 0)
        c.eigenvectorsStored = 2
        return c
    }

    func record(_ c: RunConfig, _ path: String, stopAfter: Int? = nil) throws -> TrainerOutcome {
        let s = try RecordingSession.start(config: c, path: path)
        let out = try s.trainer.run(sink: s.sink, shouldStop: { stopAfter.map { s.trainer.step >= $0 } ?? false })
        try s.sink.finish(outcome: out, tolerance: c.eigenTolerance)
        return out
    }

    /// Recorded values against the dense M formed from the checkpointed θ (for the matrix-free
    /// run an independent path: per-layer syrk kernels instead of the block products):
    /// with `lapack`, top-k eigenvalues against LAPACK to 1e-8 relative, |⟨v_i, v_i^LAPACK⟩| = 1
    /// and λ_max(M_A); without (n·c = 4200: LAPACK on it takes a minute in a debug build; the
    /// Python test checks the top-k against numpy), ‖M v_i − λ_i v_i‖ ≤ 1e-9·λ_1 for the stored
    /// pairs; always gram_residual = M D to 1e-10, residual = F − Y, loss = ‖D‖_F²/n.
    func checkAgainstDense(_ path: String, c: Int, y: [Double], lapack: Bool = true) throws {
        let r = try TrajectoryReader(path: path)
        defer { r.close() }
        XCTAssertEqual(r.formatVersion, [2, 0])
        XCTAssertEqual(r.outputCount, c)
        XCTAssertEqual(r.eigenvectorsStored, 2)
        XCTAssertEqual(try r.Y(), y)
        let cfg = try StoredRun.config(reader: r)
        let data = try StoredRun.verifiedData(reader: r, config: cfg)
        XCTAssertEqual(data.outputs, c)
        let (_, ev) = try RunSetup.evaluator(model: cfg.model, X: data.X, Y: data.Y, outputs: c)
        let steps = try r.steps()
        let nc = r.flatCount
        let checkpoints = Array(try r.checkpointSteps().enumerated())
        for (ci, step) in lapack ? checkpoints : [checkpoints.last!] {
            let row = try XCTUnwrap(steps.firstIndex(of: step))
            let theta = try r.parameters(atCheckpointIndex: ci)
            let (e, multi) = try ev.evaluateMultiOutput(theta)
            let M = try multi.denseGram(limit: 1 << 20)
            let values = try r.readRows("eigenvalues", range: row..<(row + 1)).values
            if lapack {
                let ref = try SymmetricEigen.topK(M, k: r.k)
                for i in 0..<r.k { XCTAssertEqual(values[i], ref.values[i], accuracy: 1e-8 * ref.values[0], "step \(step) λ\(i + 1)") }
                for i in 0..<2 {
                    let v = try r.eigenvector(row: row, index: i)
                    XCTAssertEqual(abs(BLAS.dot(v, ref.vectors.row(i))), 1, accuracy: 1e-6, "step \(step) v\(i + 1)")
                }
                let ma = try ev.outputLayerGram(theta)
                XCTAssertEqual(try r.read("output_layer_sharpness", range: row..<(row + 1))[0],
                               try SymmetricEigen.topK(ma, k: 1).values[0], accuracy: 1e-9 * ref.values[0])
            } else {
                for i in 0..<2 {
                    let v = try r.eigenvector(row: row, index: i)
                    let mv = BLAS.gemv(M, v)
                    let res = zip(mv, v).map { $0 - values[i] * $1 }
                    XCTAssertLessThanOrEqual(BLAS.nrm2(res), 1e-9 * values[0], "step \(step): (λ\(i + 1), v\(i + 1)) is an eigenpair of M")
                }
            }
            let D = try r.read("residual", range: row..<(row + 1))
            XCTAssertEqual(D, e.residual, "step \(step): residual")
            let F = try r.read("outputs", range: row..<(row + 1))
            XCTAssertEqual(zip(F, y).map { $0 - $1 }, D, "residual = F − Y")
            XCTAssertEqual(try r.read("loss", range: row..<(row + 1))[0], BLAS.dot(D, D) / Double(r.n), accuracy: 1e-14)
            let md = BLAS.gemv(M, D)
            let g = try r.productRows("gram_residual", rows: row..<(row + 1))
            let scale = md.map(abs).max()!
            XCTAssertLessThanOrEqual(zip(md, g).map { abs($0 - $1) }.max()!, 1e-10 * scale, "step \(step): M D")
            XCTAssertEqual(M.rows, nc)
        }
        XCTAssertEqual(try Validator().validate(path: path), [])
    }

    /// Dense path (n·c = 120 > 3 × the solver's block: the warm-started block solver runs):
    /// values against LAPACK, an interrupted run resumed from its last regular checkpoint
    /// equals the uninterrupted one.
    func testDenseMultiOutputRunMatchesLAPACKAndResumesBitIdentically() throws {
        let (spec, y) = try data(n: 40, d: 4, c: 3, seed: 5)
        let c = config(spec, steps: 20, k: 4, lr: 0.5, dense: true)
        let a = dir + "/a.h5", b = dir + "/b.h5"
        XCTAssertEqual(try record(c, a).status, .completed)
        try checkAgainstDense(a, c: 3, y: y)
        let ra = try TrajectoryReader(path: a)
        XCTAssertEqual(try ra.spectrumSteps(), [0, 5, 10, 15, 20])
        XCTAssertEqual(try ra.spectrum(0..<1).cols, 120)
        XCTAssertEqual(try ra.gram(atIndex: 1).rows, 120)
        ra.close()
        XCTAssertEqual(try record(c, b, stopAfter: 13).status, .interrupted)
        let r = try RecordingSession.resume(path: b)
        XCTAssertEqual(r.trainer.step, 8, "resume restarts at the last regular checkpoint (block solver state)")
        let out = try r.trainer.run(sink: r.sink)
        try r.sink.finish(outcome: out, tolerance: c.eigenTolerance)
        XCTAssertEqual(try RecordingDiff().compare(a, b), [])
    }

    /// Matrix-free path (n·c = 4200 > 4096): Lanczos on M·v at the same tolerance agrees with LAPACK
    /// on the dense M; a run stopped anywhere resumes from its interrupt checkpoint bit for bit;
    /// what needs the dense M is refused with one line.
    func testMatrixFreeMultiOutputRunMatchesDenseAndResumesFromAnyStep() throws {
        let (spec, y) = try data(n: 420, d: 4, c: 10, seed: 6)
        let c = config(spec, steps: 12, k: 3, lr: 0.5, dense: false)
        let a = dir + "/a.h5", b = dir + "/b.h5"
        XCTAssertEqual(try record(c, a).status, .completed)
        try checkAgainstDense(a, c: 10, y: y, lapack: false)
        let ra = try TrajectoryReader(path: a)
        XCTAssertTrue(try ra.read("eigensolver_matvecs").allSatisfy { $0 > 0 }, "Lanczos products counted")
        XCTAssertFalse(ra.has("spectrum"))
        ra.close()
        XCTAssertEqual(try record(c, b, stopAfter: 10).status, .interrupted)
        let r = try RecordingSession.resume(path: b)
        XCTAssertEqual(r.trainer.step, 10, "matrix-free runs continue from the interrupted step")
        let out = try r.trainer.run(sink: r.sink)
        try r.sink.finish(outcome: out, tolerance: c.eigenTolerance)
        XCTAssertEqual(try RecordingDiff().compare(a, b), [])
        var bad = c
        bad.spectrumEvery = 5
        XCTAssertThrowsError(try RecordingSession.start(config: bad, path: dir + "/bad.h5")) { e in
            XCTAssertEqual("\(e)", "config: invalid configuration: spectrum_every = 5 needs the dense M, formed only for n·c ≤ 4096 (here n·c = 4200); set spectrum_every 0 (--spectrum-every 0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.h5"))
    }
}
