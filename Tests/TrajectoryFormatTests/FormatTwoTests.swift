import Foundation
import XCTest
import HDF5Kit
import EOSNumerics
@testable import TrajectoryFormat

/// A consistent synthetic recording with c outputs: the single-output generator on n·c flattened
/// "samples" (its orthonormal eigenvectors and its M = Q diag(λ) Q are then n·c-dimensional), with
/// the loss of c outputs, ‖D‖_F²/n.
struct MultiOutputSynthetic {
    let flat: SyntheticRecording
    let n: Int, c: Int, k: Int, j: Int, d: Int

    init(n: Int, c: Int, k: Int, j: Int, d: Int = 4) {
        flat = SyntheticRecording(n: n * c, k: k, d: d, p: 0, learningRate: 0.05, seed: 11)
        self.n = n; self.c = c; self.k = k; self.j = j; self.d = d
    }

    var X: [Double] { Array(flat.X.prefix(n * d)) }
    var Y: [Double] { flat.Y }

    var metadata: RunMetadata {
        var m = flat.metadata(cadences: "{\"spectrum\":5}")
        m.n = n
        m.outputCount = c
        m.eigenvectorsStored = j
        return m
    }

    func gram(step: Int64) -> [Double] { flat.gram(step: step) }
    func spectrum(step: Int64) -> [Double] { flat.eigenvalues(step: step) }

    func row(step: Int64) -> StepRow {
        var r = flat.row(step: step, optional: true)
        var s = 0.0
        for x in r.residual { s += x * x }
        r.loss = s / Double(n)
        r.eigenvectors = Array(r.eigenvectors.prefix(j * n * c))
        let N = n * c, M = gram(step: step), D = r.residual
        let MD = (0..<N).map { i in (0..<N).reduce(0.0) { $0 + M[i * N + $1] * D[$1] } }
        let v1 = Array(r.eigenvectors.prefix(N))
        let dot = zip(v1, D).reduce(0.0) { $0 + $1.0 * $1.1 }
        let R = (0..<N).map { D[$0] - dot * v1[$0] }
        r.products = StepProducts(gramResidual: MD, rPrime: R, rPrimeFromStart: R)
        return r
    }
}

final class FormatTwoTests: TemporaryDirectoryTestCase {
    var options: WriterOptions {
        WriterOptions.all.with { $0.products = true; $0.checkpoints = false; $0.batchSteps = 7 }
    }

    @discardableResult
    func writeMulti(_ file: String, n: Int = 12, c: Int = 3, k: Int = 4, j: Int = 2, steps: Int = 20,
                    mutate: (inout StepRow) -> Void = { _ in }) throws -> MultiOutputSynthetic {
        let syn = MultiOutputSynthetic(n: n, c: c, k: k, j: j)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata, X: .stored(values: syn.X, d: syn.d), Y: syn.Y,
                                     options: options)
        for s in 0..<steps {
            let step = Int64(s)
            var row = syn.row(step: step)
            mutate(&row)
            try w.append(row)
            if s % 5 == 0 { try w.appendSpectrum(step: step, eigenvalues: syn.spectrum(step: step)) }
            if s % 4 == 0 { try w.appendHessianSharpness(step: step, value: 1.01 * row.sharpness) }
            if s % 10 == 0 { try w.appendGram(step: step, matrix: syn.gram(step: step)) }
        }
        try w.close()
        keep(file)
        return syn
    }

    func testMultiOutputFileRoundTripsWithItsShapesAndValidates() throws {
        let file = path("c3.h5")
        let syn = try writeMulti(file)
        let r = try TrajectoryReader(path: file)
        defer { r.close() }
        XCTAssertEqual(r.formatVersion, [2, 0])
        XCTAssertEqual(r.outputCount, 3)
        XCTAssertEqual(r.flatCount, 36)
        XCTAssertEqual(r.eigenvectorsStored, 2)
        XCTAssertEqual(r.k, 4)
        XCTAssertEqual(r.metadata, syn.metadata.with { $0.created = r.metadata.created })
        // HDF5 shapes carry the output axis (and the j-long eigenvector axis).
        XCTAssertEqual(try r.file.dataset("/data/Y").shape(), [12, 3])
        XCTAssertEqual(try r.file.dataset("/trajectory/residual").shape(), [20, 12, 3])
        XCTAssertEqual(try r.file.dataset("/trajectory/eigenvectors").shape(), [20, 2, 12, 3])
        XCTAssertEqual(try r.file.dataset("/trajectory/eigenvalues").shape(), [20, 4])
        XCTAssertEqual(try r.file.dataset("/trajectory/r_prime").shape(), [20, 12, 3])
        XCTAssertEqual(try r.file.dataset("/trajectory/spectrum").shape(), [4, 36])
        XCTAssertEqual(try r.file.dataset("/trajectory/gram").shape(), [2, 36, 36])
        XCTAssertEqual(try r.file.dataset("/output").shape(), [3])
        XCTAssertEqual(try r.file.dataset("/eigenvector").shape(), [2])
        XCTAssertEqual(try r.file.dataset("/trajectory/residual").attachedScales(axis: 2), ["/output"])
        XCTAssertEqual(try r.file.dataset("/trajectory/eigenvectors").attachedScales(axis: 1), ["/eigenvector"])
        // Values come back flattened sample-major, exactly.
        let rows = (0..<20).map { syn.row(step: Int64($0)) }
        XCTAssertEqual(try r.Y(), syn.Y)
        XCTAssertEqual(try r.readRows("residual").cols, 36)
        XCTAssertEqual(try r.read("residual"), rows.flatMap(\.residual))
        XCTAssertEqual(try r.read("loss"), rows.map(\.loss))
        XCTAssertEqual(try r.eigenvectors(3..<5).values, rows[3..<5].flatMap(\.eigenvectors))
        XCTAssertEqual(try r.eigenvector(row: 7, index: 1), Array(rows[7].eigenvectors[36..<72]))
        XCTAssertThrowsError(try r.eigenvector(row: 7, index: 2)) { e in
            XCTAssertTrue("\(e)".contains("top 2 of k = 4"), "\(e)")
        }
        XCTAssertEqual(try r.leadingEigenvectors(0..<20), rows.flatMap { Array($0.eigenvectors.prefix(36)) })
        XCTAssertEqual(try r.productRows("gram_residual", rows: 2..<4), rows[2..<4].flatMap { $0.products!.gramResidual })
        XCTAssertEqual(try ProductBlockReader(reader: r, name: "r_prime", rows: 0..<20, blockRows: 3).vector(atRow: 11).map { $0 },
                       rows[11].products!.rPrime)
        XCTAssertEqual(try r.gram(atIndex: 1).values, syn.gram(step: 10))
        XCTAssertEqual(try r.spectrum(2..<3).values, syn.spectrum(step: 10))
        XCTAssertEqual(try Validator().validate(path: file), [])
    }

    func testSingleOutputStillWritesFormatOneOneWithoutTheNewAttributes() throws {
        let file = path("c1.h5")
        try writeSynthetic(file, steps: 3)
        let f = try HDF5File.open(file, mode: .readOnly)
        defer { try? f.close() }
        XCTAssertEqual(try f.root().attribute("format_version", as: Int64.self), [1, 1])
        XCTAssertFalse(try f.group("/run").hasAttribute("n_outputs"))
        XCTAssertFalse(try f.group("/run").hasAttribute("eigenvectors_stored"))
        XCTAssertFalse(f.exists("/output"))
        XCTAssertEqual(try f.dataset("/trajectory/residual").shape(), [3, 32])
        XCTAssertEqual(try f.dataset("/data/Y").shape(), [32])
    }

    func testWriterRefusesRowsWithoutTheOutputAxisLength() throws {
        let syn = MultiOutputSynthetic(n: 12, c: 3, k: 4, j: 2)
        let w = try TrajectoryWriter(path: path("bad.h5"), metadata: syn.metadata, X: .stored(values: syn.X, d: syn.d),
                                     Y: syn.Y, options: WriterOptions())
        var row = syn.row(step: 0)
        row.residual = Array(row.residual.prefix(12))   // n values: one per sample, not per output
        XCTAssertThrowsError(try w.append(row)) { e in
            XCTAssertEqual("\(e)", "\(w.path): /trajectory/residual: got 12 values, expected n·c = 36")
        }
        row = syn.row(step: 0)
        XCTAssertNoThrow(try w.append(row))
        try w.close()
        XCTAssertThrowsError(try TrajectoryWriter(path: path("bad2.h5"), metadata: syn.metadata,
                                                  X: .stored(values: syn.X, d: syn.d), Y: Array(syn.Y.prefix(12)))) { e in
            XCTAssertTrue("\(e)".contains("Y has 12 entries, expected n·c = 12·3 = 36"), "\(e)")
        }
        var m = syn.metadata
        m.eigenvectorsStored = 5
        XCTAssertThrowsError(try TrajectoryWriter(path: path("bad3.h5"), metadata: m, X: .stored(values: syn.X, d: syn.d),
                                                  Y: syn.Y)) { e in
            XCTAssertTrue("\(e)".contains("/run@eigenvectors_stored: must be in 1...k = 4, got 5"), "\(e)")
        }
    }

    /// The validator finds what is wrong in a c > 1 file: a loss of the wrong convention
    /// (‖D‖²/(nc) stated as ‖D‖²/n), eigenvectors broadcast from v_1, restart rows of R′ that are
    /// not (I − v1v1ᵀ)D, and the 2.0 attributes.
    func testValidatorFindsMultiOutputDefects() throws {
        let perOutput = path("loss.h5")
        try writeMulti(perOutput) { $0.loss /= 3 }
        let p1 = try Validator().validate(path: perOutput)
        XCTAssertTrue(p1.contains { $0.object == "/trajectory/loss" && $0.message.hasPrefix("differs from sum(residual²)/n") }, "\(p1)")

        let broadcast = path("broadcast.h5")
        try writeMulti(broadcast) { r in
            let N = 36
            r.eigenvectors = Array(r.eigenvectors.prefix(N)) + Array(r.eigenvectors.prefix(N))
        }
        let p2 = try Validator().validate(path: broadcast)
        XCTAssertTrue(p2.contains { $0.object == "/trajectory/eigenvectors" && $0.message.contains("identical (rows broadcast") }, "\(p2)")

        let chains = path("chains.h5")
        try writeMulti(chains) { r in
            if r.step == 6 { r.products!.rPrime[5] += 1e-3 }
        }
        let p3 = try Validator().validate(path: chains)
        XCTAssertTrue(p3.contains { $0.object == "/trajectory/r_prime" && $0.message.contains("before the first restart in 1 rows, first row 6") }, "\(p3)")

        let good = path("good.h5")
        try writeMulti(good)
        let noC = path("noc.h5")
        try FileManager.default.copyItem(atPath: good, toPath: noC)
        do {
            let f = try HDF5File.open(noC, mode: .readWrite)
            try f.group("/run").removeAttribute("n_outputs")
            try f.close()
        }
        let p4 = try Validator().validate(path: noC)
        XCTAssertTrue(p4.contains { $0.object == "/run@n_outputs" && $0.message.hasPrefix("missing (required in format 2.x") }, "\(p4)")
        // Read as c = 1, the residual's extra axis is a rank error.
        XCTAssertTrue(p4.contains { $0.object == "/trajectory/residual" && $0.message.contains("has rank 3") }, "\(p4)")
        let oneX = path("onex.h5")
        try FileManager.default.copyItem(atPath: good, toPath: oneX)
        do {
            let f = try HDF5File.open(oneX, mode: .readWrite)
            try f.root().setAttribute("format_version", [Int64(1), 1])
            try f.group("/run").setAttribute("eigenvectors_stored", Int64(9))
            try f.close()
        }
        let p5 = try Validator().validate(path: oneX)
        XCTAssertTrue(p5.contains { $0.object == "/run@n_outputs" && $0.message.contains("present in a format 1.x file") }, "\(p5)")
        XCTAssertTrue(p5.contains { $0.object == "/run@eigenvectors_stored" && $0.message == "is 9, expected 1 ≤ j ≤ k = 4" }, "\(p5)")
    }

    /// The refusal a reader of format 1.x gives a 2.0 file is its major-version check with
    /// supported major 1 (`checkFormat(supportedMajor: 1)` is that check): one line naming the file,
    /// the attribute and both versions. A 2.0 reader refuses major 3 the same way.
    func testOneXReaderRefusesTwoZeroAndTwoZeroRefusesThree() throws {
        let file = path("c3.h5")
        try writeMulti(file, steps: 2)
        let f = try HDF5File.open(file, mode: .readOnly)
        XCTAssertThrowsError(try TrajectoryReader.checkFormat(try f.root(), path: file, supportedMajor: 1)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .unsupportedVersion)
            XCTAssertEqual("\(e)", "\(file): /@format_version: format version 2.0 is newer than this eostrace reads (1.x); upgrade eostrace")
        }
        XCTAssertEqual(try TrajectoryReader.checkFormat(try f.root(), path: file), [2, 0])
        try f.close()
        do {
            let g = try HDF5File.open(file, mode: .readWrite)
            try g.root().setAttribute("format_version", [Int64(3), 0])
            try g.close()
        }
        XCTAssertThrowsError(try TrajectoryReader(path: file)) { e in
            XCTAssertEqual("\(e)", "\(file): /@format_version: format version 3.0 is newer than this eostrace reads (2.x); upgrade eostrace")
        }
    }

    /// With c > 1 the ‖A‖² relation alone (biased by the output bias) does not flag a convention
    /// when the exact first-order D relation holds; a D relation off by 2 is still named, and for
    /// c = 1 the ‖A‖² factor still is.
    func testConventionCheckWithSeveralOutputs() {
        let n = 4, c = 3, N = n * c, T = 8, eta = 0.05
        var rng = SplitMix64(seed: 3)
        func series(factor r: Double, samples: Int = 4) -> (loss: [Double], d: [Double], g: [Double], dtf: [Double], a: [Double]) {
            var d = (0..<N).map { _ in rng.uniform() - 0.5 }
            var D: [Double] = [], G: [Double] = [], loss: [Double] = [], dtf: [Double] = [], a: [Double] = []
            var a2 = 2.0
            for _ in 0..<T {
                let g = (0..<N).map { _ in rng.uniform() + 0.5 }
                let f = (0..<N).map { _ in rng.uniform() + 1 }
                D += d; G += g
                loss.append(d.reduce(0) { $0 + $1 * $1 } / Double(samples))
                let x = zip(d, f).reduce(0) { $0 + $1.0 * $1.1 }
                dtf.append(x); a.append(a2)
                a2 += 0.5 * (-4 * eta / Double(samples) * x)          // half the bias-free prediction
                d = zip(d, g).map { $0 - r * eta * $1 }
            }
            return (loss, D, G, dtf, a)
        }
        let steps = (0..<Int64(T)).map { $0 }
        let ok = series(factor: 1)
        let r3 = ConventionCheck.run(steps: steps, loss: ok.loss, residual: ok.d, gramResidual: ok.g, dtf: ok.dtf,
                                     outputNormSq: ok.a, learningRate: eta, n: n, outputs: c, convention: nil, file: "f")
        XCTAssertNil(r3.warning, "\(r3)")
        XCTAssertEqual(r3.residualFactor ?? 0, 1, accuracy: 1e-9)
        XCTAssertEqual(r3.outputNormFactor ?? 0, 0.5, accuracy: 1e-9)
        let one = series(factor: 1, samples: N)   // the same sizes read as N samples of one output
        let r1 = ConventionCheck.run(steps: steps, loss: one.loss, residual: one.d, gramResidual: one.g, dtf: one.dtf,
                                     outputNormSq: one.a, learningRate: eta, n: N, outputs: 1, convention: nil, file: "f")
        XCTAssertTrue(r1.warning?.contains("Δ‖A‖² = 0.5×") == true, "\(r1)")
        let off = series(factor: 2)
        let r2 = ConventionCheck.run(steps: steps, loss: off.loss, residual: off.d, gramResidual: off.g, dtf: off.dtf,
                                     outputNormSq: off.a, learningRate: eta, n: n, outputs: c, convention: nil, file: "f")
        XCTAssertTrue(r2.warning?.contains("D(t+1)−D(t) = 2·(−ηM(t)D(t))") == true, "\(r2)")
    }

    /// Forged sizes in a 2.0 file: n·c overflowing is one line from the reader; the validator
    /// reports and never traps (also for a huge n_outputs).
    func testForgedMultiOutputSizesAreOneLineErrors() throws {
        let good = path("good.h5")
        try writeMulti(good, steps: 3)
        for (name, attr, value) in [("n.h5", "n_samples", Int64.max / 2), ("c.h5", "n_outputs", Int64(1) << 40),
                                    ("c0.h5", "n_outputs", Int64(0))] {
            let bad = path(name)
            try FileManager.default.copyItem(atPath: good, toPath: bad)
            do {
                let f = try HDF5File.open(bad, mode: .readWrite)
                try f.group("/run").setAttribute(attr, value)
                try f.close()
            }
            XCTAssertThrowsError(try TrajectoryReader(path: bad)) { e in
                XCTAssertEqual((e as? TrajectoryError)?.kind, .invalidData, "\(e)")
                XCTAssertTrue("\(e)".hasPrefix(bad + ": /run@"), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
            let problems = try Validator().validate(path: bad)
            XCTAssertFalse(problems.isEmpty, name)
        }
    }

    func testResumedMultiOutputWriterContinuesTheSameShapes() throws {
        let file = path("resume.h5")
        let syn = try writeMulti(file, steps: 10)
        let w = try TrajectoryWriter.resume(path: file, truncatingAfter: 5)
        for s in 6..<12 { try w.append(syn.row(step: Int64(s))) }
        try w.close()
        let r = try TrajectoryReader(path: file)
        defer { r.close() }
        XCTAssertEqual(try r.steps(), (0..<12).map { Int64($0) })
        XCTAssertEqual(try r.read("residual"), (0..<12).flatMap { syn.row(step: Int64($0)).residual })
        XCTAssertEqual(try Validator().validate(path: file), [])
    }
}
