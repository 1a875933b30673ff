import EOSAnalysis
import EOSPhases
import Foundation
import TrajectoryFormat
import XCTest
@testable import EOSReport

/// `AnalysedRun.load` (report, compare) runs the same analysis as `Analyzer.analyze(reader:)`
/// (analyze) and adds what the report shows.
final class AnalysedRunTests: XCTestCase {
    var samples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples").path
    }

    func testSameResultAsAnalyzeAndMetadata() throws {
        let path = samples + "/linear-synthetic-small.h5"
        let reader = try TrajectoryReader(path: path)
        defer { reader.close() }
        let options = AnalysisOptions(phaseRule: .dtf)
        var notes: [String?] = [], progressBeforeNote = false
        let run = try AnalysedRun.load(reader: reader, options: options, gram: .topk,
                                       gramSelected: { notes.append($0) },
                                       progress: { _, _ in if notes.isEmpty { progressBeforeNote = true } })
        let direct = try Analyzer.analyze(reader: reader, options: options, gram: .topk)
        XCTAssertEqual(try run.result.jsonData(), try direct.jsonData())
        XCTAssertEqual(notes.count, 1)
        XCTAssertFalse(progressBeforeNote)
        XCTAssertEqual(run.input.count, run.result.perStep.step.count)
        XCTAssertEqual(run.metadata.first?.key, "file")
        XCTAssertEqual(run.metadata.first?.value, path)
        XCTAssertEqual(run.metadata.last?.value.hasPrefix("version 1, phase rule dtf"), true)
        let report = run.reportInput(runName: "x")
        XCTAssertEqual(report.phase, run.result.perStep.phase.map { Int($0) })
        XCTAssertEqual(PhaseShading.cycleCount(report.phase!), run.result.phases.cycleCount)
    }

    func testEmptyWindowThrowsBeforeAnalysing() throws {
        let reader = try TrajectoryReader(path: samples + "/synthetic-small.h5")
        defer { reader.close() }
        var analysed = false
        XCTAssertThrowsError(try AnalysedRun.load(reader: reader, window: (from: 100_000, to: nil),
                                                  gramSelected: { _ in analysed = true })) { error in
            XCTAssertEqual(error as? ReportError,
                           .emptyWindow(run: "synthetic-small.h5", from: 100_000, to: nil, first: 0, last: 299))
        }
        XCTAssertFalse(analysed)
    }

    func testLabels() {
        XCTAssertEqual(RunComparison.labels(paths: ["a/x.h5", "b/x.h5"], etas: [0.1, 0.1], seeds: [1, 2], by: .auto),
                       ["seed 1", "seed 2"])
        XCTAssertEqual(RunComparison.labels(paths: ["a/x.h5", "b/y.h5"], etas: [0.1, 0.2], seeds: [nil, nil], by: .auto),
                       ["η = 0.1", "η = 0.2"])
        XCTAssertEqual(RunComparison.labels(paths: ["a/x.h5", "b/y.h5"], etas: [0.1, 0.1], seeds: [3, 3], by: .seed),
                       ["seed 3 (x.h5)", "seed 3 (y.h5)"])
    }

    func testCompareCyclesWithoutPhasesUseTheRunCounter() {
        let sharpness: [Double] = [1, 3, 3, 1, 3, 1, .nan, 3]
        let run = CompareInput(label: "r", steps: Array(0..<8), sharpness: sharpness, eta: 1)
        XCTAssertEqual(RunComparison.metrics(run).cycles, 3)
        XCTAssertEqual(RunComparison.metrics(run).cycles, CycleCount.runsAbove(sharpness: sharpness, learningRate: 1))
    }

    func testCompareFlagsOneStepCycles() {
        // 2/η = 2: runs above it at rows 1–2 (two steps), 4 (one), 7 (one, the last row).
        let sharpness: [Double] = [1, 3, 3, 1, 3, 1, 1, 3]
        let run = CompareInput(label: "r", steps: Array(0..<8), sharpness: sharpness, eta: 1)
        XCTAssertEqual(RunComparison.metrics(run).cycles, 3)
        XCTAssertEqual(RunComparison.metrics(run).oneStepCycles, 2)
        // With phases: II at rows 1 (peak) then III at 2 is not one-step; II alone at 4 is.
        let phased = CompareInput(label: "p", steps: Array(0..<8), sharpness: sharpness, eta: 1,
                                  phase: [1, 2, 3, 4, 2, 4, 1, 2])
        XCTAssertEqual(RunComparison.metrics(phased).oneStepCycles, 2)
        XCTAssertTrue(RunComparison.table([run]).rows[0].contains("3 (2 one-step)"))
    }
}
