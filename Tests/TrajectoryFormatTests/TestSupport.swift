import Foundation
import XCTest
@testable import TrajectoryFormat
// SyntheticRecording and TemporaryDirectory, visible in every file of this target.
@_exported import EOSTestSupport

/// A temporary directory removed after the test.
class TemporaryDirectoryTestCase: XCTestCase {
    private var temporary: TemporaryDirectory!
    var dir: URL { temporary.url }

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory(prefix: "trajfmt")
    }

    override func tearDownWithError() throws {
        temporary?.remove()
    }

    func path(_ name: String) -> String { temporary.path(name) }

    /// Writes a synthetic recording with every series; returns the generator.
    @discardableResult
    func writeSynthetic(_ file: String, n: Int = 32, k: Int = 3, d: Int = 5, p: Int = 50, steps: Int = 40,
                        options: WriterOptions = .all, status: RunStatus = .completed) throws -> SyntheticRecording {
        let syn = SyntheticRecording(n: n, k: k, d: d, p: p, learningRate: 0.05, seed: 7)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(cadences: "{\"spectrum\":5}"),
                                     X: .stored(values: syn.X, d: d), Y: syn.Y, options: options)
        for s in 0..<steps {
            let step = Int64(s)
            try w.append(syn.row(step: step, optional: true))
            if options.spectrum && s % 5 == 0 { try w.appendSpectrum(step: step, eigenvalues: syn.eigenvalues(step: step)) }
            if options.hessian && s % 4 == 0 { try w.appendHessianSharpness(step: step, value: syn.hessianSharpness(step: step)) }
            if options.checkpoints && s % 10 == 0 { try w.appendCheckpoint(step: step, parameters: syn.parameters(step: step)) }
            if options.gram && s % 20 == 0 { try w.appendGram(step: step, matrix: syn.gram(step: step)) }
        }
        try w.close(status: status)
        keep(file)
        return syn
    }

    /// For inspecting test files with other tools: EOSTRACE_KEEP_DIR=/some/dir swift test ...
    func keep(_ file: String) { TemporaryDirectory.keep(file) }
}
