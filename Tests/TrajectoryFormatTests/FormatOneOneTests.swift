import Foundation
import XCTest
import HDF5Kit
@testable import TrajectoryFormat

/// Format 1.1 at the writer/reader/validator level: the new per-step series round-trip exactly,
/// the threshold eigenvalues are NaN-padded to the capacity, every dataset carries its schema
/// long_name/units, history grows by one line per writing command, 1.0 files stay valid, and the
/// validator names broken conventions.
final class FormatOneOneTests: TemporaryDirectoryTestCase {
    /// A synthetic recording with products (arbitrary but consistent rows: r_prime equals
    /// r_prime_from_start, the synthetic Λ stays below 2/η), cost and 3 eigenvalues above 0.
    func write(_ file: String, steps: Int = 12, threshold: Double? = 0.0, capacity: Int? = 5,
               convention: LossConvention = .meanSquaredError) throws -> (SyntheticRecording, [StepRow]) {
        let syn = SyntheticRecording(n: 32, k: 3, d: 4, p: 30, learningRate: 0.05, seed: 9)
        var opts = WriterOptions(outputs: true, batchSteps: 5)
        opts.products = true
        opts.solverCost = true
        opts.eigenvalueThreshold = threshold
        opts.eigenvalueThresholdCapacity = capacity
        var meta = syn.metadata()
        meta.lossConvention = convention
        meta.command = "test write"
        let w = try TrajectoryWriter(path: file, metadata: meta, X: .stored(values: syn.X, d: syn.d), Y: syn.Y, options: opts)
        var rows: [StepRow] = []
        for t in 0..<Int64(steps) {
            var row = syn.row(step: t)
            // The loss in the stated convention (the convention check compares it with ‖D‖²/n).
            if convention == .halfMeanSquaredError { row.loss *= 0.5 }
            let r = row.residual.map { $0 * 0.5 }
            row.products = StepProducts(gramResidual: row.residual.map { $0 * 2 }, rPrime: r, rPrimeFromStart: r)
            row.cost = StepCost(iterations: t, matvecs: 6 * (t + 1), seconds: 0.001 * Double(t + 1))
            if threshold != nil { row.eigenvaluesAboveThreshold = Array(syn.eigenvalues(step: t).prefix(Int(t) % 8)) }
            try w.append(row)
            rows.append(row)
        }
        try w.close()
        return (syn, rows)
    }

    func testNewSeriesRoundTripAndAreLabelled() throws {
        let file = path("v11.h5")
        let (_, rows) = try write(file)
        XCTAssertEqual(try Validator().validate(path: file), [])
        let r = try TrajectoryReader(path: file)
        defer { r.close() }
        XCTAssertEqual(r.formatVersion, [1, 1])
        XCTAssertEqual(try r.read("gram_residual"), rows.flatMap { $0.products!.gramResidual })
        XCTAssertEqual(try r.read("r_prime_from_start"), rows.flatMap { $0.products!.rPrimeFromStart })
        XCTAssertEqual(try r.read("eigensolver_matvecs"), rows.map { Double($0.cost!.matvecs) })
        XCTAssertEqual(try r.read("step_seconds"), rows.map { $0.cost!.seconds })
        // Threshold eigenvalues: capacity 5, NaN after the stored ones, the true count beside.
        let above = try r.read("eigenvalues_above_threshold"), counts = try r.read("eigenvalue_count_above_threshold")
        XCTAssertEqual(above.count, rows.count * 5)
        for (i, row) in rows.enumerated() {
            let want = row.eigenvaluesAboveThreshold!
            XCTAssertEqual(counts[i], Double(want.count))
            for j in 0..<5 {
                if j < want.count { XCTAssertEqual(above[i * 5 + j], want[j]) } else { XCTAssertTrue(above[i * 5 + j].isNaN) }
            }
        }
        XCTAssertEqual(r.metadata.lossConvention, .meanSquaredError)
        // CF labels from the schema on every dataset; root provenance.
        let f = try HDF5File.open(file, mode: .readOnly)
        defer { try? f.close() }
        var labelled = 0
        func visit(_ g: String) throws {
            for name in try f.group(g).childNames() {
                let p = g == "/" ? "/" + name : g + "/" + name
                if f.kind(of: p) == .group { try visit(p); continue }
                let ds = try f.dataset(p)
                let key = TrajectorySchema.current.dataset(p) != nil ? p : name
                let spec = TrajectorySchema.current.dataset(key).map { ($0.longName, $0.units) }
                    ?? TrajectorySchema.current.dimension(key).map { ($0.longName, $0.units) }
                XCTAssertNotNil(spec?.0, "\(p) has no long_name in the schema")
                XCTAssertEqual(try ds.stringAttribute("long_name"), spec?.0, p)
                XCTAssertEqual(try ds.stringAttribute("units"), spec?.1, p)
                labelled += 1
            }
        }
        try visit("/")
        XCTAssertGreaterThan(labelled, 20)
        let root = try f.root()
        XCTAssertEqual(try root.stringAttribute("Conventions"), "CF-1.8")
        let history = try root.stringAttribute("history")
        XCTAssertTrue(history.hasSuffix(" eostrace 0.1.0: test write") && !history.contains("\n"), history)
        XCTAssertEqual(try f.group("/run").stringAttribute("gram_definition"), "M = (2/n) J J^T")
        XCTAssertEqual(try f.group("/run").scalarAttribute("eigenvalue_threshold_capacity", as: Int64.self), 5)
    }

    func testResumeAppendsOneHistoryLineAndContinuesTheNewSeries() throws {
        let file = path("resume.h5")
        let (syn, rows) = try write(file, steps: 8)
        let w = try TrajectoryWriter.resume(path: file, truncatingAfter: 5)
        XCTAssertTrue(w.options.products && w.options.solverCost)
        XCTAssertEqual(w.options.eigenvalueThreshold, 0)
        for t in 6..<10 {
            var row = syn.row(step: Int64(t))
            let r = row.residual.map { $0 * 0.5 }
            row.products = StepProducts(gramResidual: row.residual.map { $0 * 2 }, rPrime: r, rPrimeFromStart: r)
            row.cost = StepCost(iterations: 1, matvecs: 6, seconds: 0.5)
            row.eigenvaluesAboveThreshold = [3, 2, 1, 0.5, 0.25, 0.125, 0.1]   // 7 > capacity 5: count 7, 5 stored
            try w.append(row)
        }
        try w.close()
        XCTAssertEqual(try Validator().validate(path: file), [])
        let r = try TrajectoryReader(path: file)
        defer { r.close() }
        XCTAssertEqual(try r.read("eigenvalue_count_above_threshold").suffix(4), [7, 7, 7, 7])
        XCTAssertEqual(Array(try r.read("eigenvalues_above_threshold").suffix(5)), [3, 2, 1, 0.5, 0.25])
        XCTAssertEqual(Array(try r.read("gram_residual").prefix(6 * 32)), rows.prefix(6).flatMap { $0.products!.gramResidual })
        let f = try HDF5File.open(file, mode: .readOnly)
        defer { try? f.close() }
        let lines = try f.root().stringAttribute("history").split(separator: "\n")
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines[0].hasSuffix("test write"))
    }

    func testWriterRefusesRowsWithoutTheRecordedSeries() throws {
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 10, learningRate: 0.1, seed: 1)
        var opts = WriterOptions()
        opts.products = true
        let w = try TrajectoryWriter(path: path("refuse.h5"), metadata: syn.metadata(), X: .stored(values: syn.X, d: 3),
                                     Y: syn.Y, options: opts)
        XCTAssertThrowsError(try w.append(syn.row(step: 0))) { e in XCTAssertTrue("\(e)".contains("gram_residual"), "\(e)") }
        var row = syn.row(step: 0)
        row.products = StepProducts(gramResidual: [1], rPrime: row.residual, rPrimeFromStart: row.residual)
        XCTAssertThrowsError(try w.append(row)) { e in XCTAssertTrue("\(e)".contains("expected n = 32"), "\(e)") }
        try w.close(status: .interrupted)
    }

    func testOneZeroFilesStayValidAndBrokenConventionsAreNamed() throws {
        let file = path("conv.h5")
        _ = try write(file, threshold: nil, convention: .halfMeanSquaredError)
        XCTAssertEqual(try Validator().validate(path: file), [])
        XCTAssertEqual(try TrajectoryReader(path: file).metadata.lossConvention, .halfMeanSquaredError)
        let old = path("old.h5")
        _ = try writeSynthetic(old, options: WriterOptions(outputs: true))
        do {   // A 1.0 file: no 1.1 attributes, version [1, 0].
            let f = try HDF5File.open(old, mode: .readWrite)
            try f.root().setAttribute("format_version", [Int64(1), 0])
            for a in ["Conventions", "title", "history"] { try f.root().removeAttribute(a) }
            try f.group("/run").removeAttribute("loss_convention")
            try f.close()
        }
        XCTAssertEqual(try Validator().validate(path: old), [])
        XCTAssertEqual(try TrajectoryReader(path: old).metadata.lossConvention, .meanSquaredError)
        do {
            let f = try HDF5File.open(file, mode: .readWrite)
            try f.group("/run").setAttribute("gram_definition", "M = (2/n) J J^T")
            try f.close()
        }
        let p = try Validator().validate(path: file)
        XCTAssertEqual(p.map(\.object), ["/run@gram_definition"], "\(p)")
        XCTAssertTrue(p[0].message.contains("half_mean_squared_error"), p[0].message)
        do {
            let f = try HDF5File.open(file, mode: .readWrite)
            try f.group("/run").setAttribute("loss_convention", "sum_of_squares")
            try f.close()
        }
        XCTAssertTrue(try Validator().validate(path: file).contains { $0.object == "/run@loss_convention" })
        XCTAssertThrowsError(try TrajectoryReader(path: file)) { e in XCTAssertTrue("\(e)".contains("sum_of_squares"), "\(e)") }
    }
}
