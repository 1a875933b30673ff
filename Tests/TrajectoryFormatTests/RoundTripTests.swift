import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat

final class RoundTripTests: TemporaryDirectoryTestCase {
    func testEverySeriesRoundTripsExactly() throws {
        let file = path("rt.h5")
        let steps = 40
        let syn = try writeSynthetic(file, steps: steps, options: WriterOptions.all.with { $0.batchSteps = 7 })
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(r.formatVersion, [1, 1])
        XCTAssertEqual(try r.status(), .completed)
        XCTAssertEqual(r.n, 32)
        XCTAssertEqual(r.k, 3)
        XCTAssertEqual(r.p, 50)
        XCTAssertEqual(r.d, 5)
        XCTAssertEqual(r.metadata, syn.metadata(cadences: "{\"spectrum\":5}").with { $0.created = r.metadata.created })
        XCTAssertEqual(try r.X(), syn.X)
        XCTAssertEqual(try r.Y(), syn.Y)
        XCTAssertEqual(try r.stepCount(), steps)
        XCTAssertEqual(try r.steps(), (0..<Int64(steps)).map { $0 })
        let rows = (0..<steps).map { syn.row(step: Int64($0)) }
        XCTAssertEqual(try r.read("loss"), rows.map(\.loss))
        XCTAssertEqual(try r.read("output_norm_sq"), rows.map(\.outputNormSq))
        XCTAssertEqual(try r.read("sharpness"), rows.map(\.sharpness))
        XCTAssertEqual(try r.read("dtf"), rows.map(\.dtf))
        XCTAssertEqual(try r.read("output_layer_sharpness"), rows.map { $0.outputLayerSharpness! })
        XCTAssertEqual(try r.read("grad_norm"), rows.map { $0.gradNorm! })
        let res = try r.readRows("residual")
        XCTAssertEqual(res.rows, steps)
        XCTAssertEqual(res.cols, 32)
        XCTAssertEqual(res.values, rows.flatMap(\.residual))
        XCTAssertEqual(try r.read("outputs"), rows.flatMap { $0.outputs! })
        XCTAssertEqual(try r.readRows("eigenvalues").values, rows.flatMap(\.eigenvalues))
        let ev = try r.eigenvectors(10..<13)
        XCTAssertEqual(ev.cols, 3 * 32)
        XCTAssertEqual(ev.values, rows[10..<13].flatMap(\.eigenvectors))
        XCTAssertEqual(try r.eigenvector(row: 12, index: 2), Array(rows[12].eigenvectors[64..<96]))
        XCTAssertEqual(try r.read("loss", range: 33..<40), rows[33..<40].map(\.loss))
        // Own cadences.
        XCTAssertEqual(try r.spectrumSteps(), [0, 5, 10, 15, 20, 25, 30, 35])
        XCTAssertEqual(try r.spectrum(1..<2).values, syn.eigenvalues(step: 5))
        XCTAssertEqual(try r.hessianSteps(), stride(from: 0, to: 40, by: 4).map { Int64($0) })
        XCTAssertEqual(try r.hessianSharpness(), stride(from: 0, to: 40, by: 4).map { syn.hessianSharpness(step: Int64($0)) })
        XCTAssertEqual(try r.checkpointSteps(), [0, 10, 20, 30])
        XCTAssertEqual(try r.parameters(atCheckpointIndex: 2), syn.parameters(step: 20))
        XCTAssertEqual(try r.gramSteps(), [0, 20])
        XCTAssertEqual(try r.gram(atIndex: 1).values, syn.gram(step: 20))
        XCTAssertEqual(try r.index(ofStep: 17), 17)
        XCTAssertNil(try r.index(ofStep: 99))
        XCTAssertThrowsError(try r.read("loss", range: 0..<41)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .invalidArgument)
        }
        r.close()
    }

    func testCompressedRecordingRoundTripsAndIsSmaller() throws {
        let plain = path("plain.h5"), packed = path("packed.h5")
        try writeSynthetic(plain, n: 64, k: 4, steps: 200, options: WriterOptions(outputs: true, batchSteps: 50))
        let syn = try writeSynthetic(packed, n: 64, k: 4, steps: 200,
                                     options: WriterOptions(outputs: true, batchSteps: 50, compression: 4))
        let r = try TrajectoryReader(path: packed)
        XCTAssertEqual(try r.read("residual"), (0..<200).flatMap { syn.row(step: Int64($0)).residual })
        XCTAssertEqual(try r.read("eigenvectors"), (0..<200).flatMap { syn.row(step: Int64($0)).eigenvectors })
        XCTAssertEqual(try Validator().validate(path: packed), [])
        let size = { (p: String) in try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int }
        XCTAssertLessThan(try size(packed), try size(plain))
    }

    func testOptionalSeriesAbsentWhenNotRequested() throws {
        let file = path("min.h5")
        try writeSynthetic(file, options: WriterOptions(swmr: false))
        let r = try TrajectoryReader(path: file)
        for s in ["outputs", "grad_norm", "output_layer_sharpness", "spectrum", "spectrum_step", "gram", "parameters",
                  "hessian_sharpness"] {
            XCTAssertFalse(r.has(s), s)
        }
        XCTAssertThrowsError(try r.spectrumSteps())
        XCTAssertEqual(try r.stepCount(), 40)
    }

    func testChunkedBatchingAcrossManyBatches() throws {
        let file = path("many.h5")
        let syn = SyntheticRecording(n: 40, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                     options: WriterOptions(batchSteps: 16))
        XCTAssertEqual(w.batchSteps, 16)
        let steps = 16 * 12 + 5
        for s in 0..<steps { try w.append(syn.row(step: Int64(3 * s), optional: false)) }
        // Chunks: whole batches for per-sample series, ≥ 64 KiB multiples of the batch for scalars.
        // 16 rows of 640 B = 10 KiB; 7 batches reach 64 KiB.
        XCTAssertEqual(try w.file.dataset("/trajectory/eigenvectors").chunkShape(), [16 * 7, 2, 40])
        XCTAssertEqual(try w.file.dataset("/trajectory/loss").chunkShape(), [8192])
        try w.close()
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.stepCount(), steps)
        XCTAssertEqual(try r.steps(), (0..<steps).map { Int64(3 * $0) })
        XCTAssertEqual(try r.read("loss"), (0..<steps).map { syn.row(step: Int64(3 * $0)).loss })
        XCTAssertEqual(try r.readRows("eigenvectors", range: 150..<170).values,
                       (150..<170).flatMap { syn.row(step: Int64(3 * $0)).eigenvectors })
    }

    func testAutomaticBatchGivesChunksBetween64KiBAnd1MiB() throws {
        for (n, k) in [(1000, 8), (100, 4), (32, 1), (5000, 20)] {
            let plan = LayoutPlan(n: n, k: k, d: 3, p: 10, options: WriterOptions())
            for trailing in [[k, n], [n], []] {
                let c = LayoutPlan.chunk(trailing: trailing, mainCadence: true, batch: plan.batchSteps)
                let bytes = 8 * c.reduce(1, *)
                XCTAssertGreaterThanOrEqual(bytes, 64 << 10, "\(n) \(k) \(trailing) \(c)")
                XCTAssertLessThanOrEqual(bytes, 1 << 20, "\(n) \(k) \(trailing) \(c)")
            }
        }
        // Rows bigger than 1 MiB are split along axis 1 into equal pieces ≤ 1 MiB.
        XCTAssertEqual(LayoutPlan.chunk(trailing: [200_000], mainCadence: false, batch: 1), [1, 100_000])
        XCTAssertEqual(LayoutPlan.chunk(trailing: [131_073], mainCadence: false, batch: 1), [1, 65_537])
        XCTAssertEqual(LayoutPlan.chunk(trailing: [1000, 1000], mainCadence: false, batch: 1), [1, 125, 1000])
        XCTAssertEqual(LayoutPlan.chunk(trailing: [1000], mainCadence: false, batch: 1), [8, 1000])
        XCTAssertEqual(LayoutPlan.chunk(trailing: [], mainCadence: false, batch: 1), [8192])
    }

    func testWriterRejectsBadRows() throws {
        let file = path("bad.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 4)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                     options: WriterOptions(checkpoints: true))
        var row = syn.row(step: 0, optional: false)
        row.residual.removeLast()
        XCTAssertThrowsError(try w.append(row)) { e in
            XCTAssertEqual((e as? TrajectoryError)?.object, "/trajectory/residual")
        }
        try w.append(syn.row(step: 5, optional: false))
        XCTAssertThrowsError(try w.append(syn.row(step: 5, optional: false))) { e in
            XCTAssertEqual((e as? TrajectoryError)?.kind, .invalidArgument)
        }
        XCTAssertThrowsError(try w.appendSpectrum(step: 0, eigenvalues: syn.eigenvalues(step: 0)))
        XCTAssertThrowsError(try w.appendCheckpoint(step: 0, parameters: [1, 2, 3]))
        try w.close(status: .diverged)
        XCTAssertThrowsError(try w.append(syn.row(step: 6, optional: false)))
        XCTAssertEqual(try TrajectoryReader(path: file).status(), .diverged)
        XCTAssertThrowsError(try TrajectoryWriter(path: path("y.h5"), metadata: syn.metadata(),
                                                  X: .stored(values: syn.X, d: 3), Y: [1, 2]))
    }

    func testXReference() throws {
        let file = path("ref.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(),
                                     X: .reference(path: "/data/x.npy", sha256: String(repeating: "ab", count: 32), d: 3),
                                     Y: syn.Y)
        try w.append(syn.row(step: 0, optional: false))
        try w.close()
        let r = try TrajectoryReader(path: file)
        XCTAssertNil(try r.X())
        XCTAssertEqual(try r.xReference()?.path, "/data/x.npy")
        XCTAssertEqual(r.d, 3)
    }

    func testResumeTruncatesEverySeries() throws {
        let file = path("resume.h5")
        let syn = try writeSynthetic(file, steps: 40, options: .all, status: .interrupted)
        let w = try TrajectoryWriter.resume(path: file, truncatingAfter: 20)
        XCTAssertEqual(w.stepCount, 21)
        XCTAssertEqual(w.lastStep, 20)
        XCTAssertEqual(w.lastStep(of: "parameters"), 20)
        XCTAssertEqual(w.count(of: "checkpoint_step"), 3)
        XCTAssertEqual(w.lastStep(of: "spectrum"), 20)
        XCTAssertEqual(w.lastStep(of: "hessian_sharpness"), 20)
        XCTAssertTrue(w.isSWMR)
        XCTAssertEqual(try TrajectoryReader(path: file, swmr: true).status(), .running)
        for s in 21..<30 {
            try w.append(syn.row(step: Int64(s)))
            if s % 5 == 0 { try w.appendSpectrum(step: Int64(s), eigenvalues: syn.eigenvalues(step: Int64(s))) }
        }
        try w.appendCheckpoint(step: 25, parameters: syn.parameters(step: 25))
        try w.close()
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.steps(), (0..<30).map { Int64($0) })
        XCTAssertEqual(try r.read("loss"), (0..<30).map { syn.row(step: Int64($0)).loss })
        XCTAssertEqual(try r.spectrumSteps(), [0, 5, 10, 15, 20, 25])
        XCTAssertEqual(try r.hessianSteps(), [0, 4, 8, 12, 16, 20])
        XCTAssertEqual(try r.checkpointSteps(), [0, 10, 20, 25])
        XCTAssertEqual(try r.parameters(atCheckpointIndex: 3), syn.parameters(step: 25))
        XCTAssertEqual(try r.gramSteps(), [0, 20])
        XCTAssertEqual(try r.status(), .completed)
    }

    func testResumeOfANonSWMRFileContinuesWithoutSWMR() throws {
        let file = path("plain-resume.h5")
        let syn = try writeSynthetic(file, steps: 10, options: WriterOptions(swmr: false), status: .interrupted)
        let w = try TrajectoryWriter.resume(path: file, truncatingAfter: 4)
        XCTAssertFalse(w.isSWMR)
        for s in 5..<12 { try w.append(syn.row(step: Int64(s))) }
        try w.close()
        let r = try TrajectoryReader(path: file)
        XCTAssertEqual(try r.steps(), (0..<12).map { Int64($0) })
        XCTAssertEqual(try r.read("sharpness"), (0..<12).map { syn.row(step: Int64($0)).sharpness })
        XCTAssertEqual(try Validator().validate(path: file), [])
    }

    func testLiveSWMRReaderSeesFlushedRows() throws {
        let file = path("live.h5")
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 3), Y: syn.Y,
                                     options: WriterOptions(batchSteps: 4, flushIntervalSeconds: nil))
        for s in 0..<6 { try w.append(syn.row(step: Int64(s), optional: false)) }
        let r = try TrajectoryReader(path: file, swmr: true)
        XCTAssertTrue(r.isSWMRReader)
        XCTAssertEqual(try r.stepCount(), 4) // one batch written and flushed
        XCTAssertEqual(try r.status(), .running)
        for s in 6..<8 { try w.append(syn.row(step: Int64(s), optional: false)) }
        try r.refresh()
        XCTAssertEqual(try r.stepCount(), 8)
        XCTAssertEqual(try r.read("loss", range: 4..<8), (4..<8).map { syn.row(step: Int64($0)).loss })
        try w.close()
        try r.refresh()
        XCTAssertEqual(try r.status(), .completed)
    }
}

extension WriterOptions {
    func with(_ f: (inout WriterOptions) -> Void) -> WriterOptions { var c = self; f(&c); return c }
}

extension RunMetadata {
    func with(_ f: (inout RunMetadata) -> Void) -> RunMetadata { var c = self; f(&c); return c }
}
