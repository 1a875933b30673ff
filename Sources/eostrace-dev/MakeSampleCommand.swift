import ArgumentParser
import EOSCommandLine
import Foundation
import EOSNumerics
import EOSRecorder
import EOSTestSupport
import TrajectoryFormat

/// `eostrace-dev make-sample`: writes the synthetic sample recording shipped in samples/ (see samples/README.md).
struct MakeSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-sample", abstract: "Write the synthetic sample recording.")

    @Option(help: "Output file.") var out = "samples/synthetic-small.h5"
    @Option var steps = 300

    func run() throws {
        try reportingErrors {
            let syn = SyntheticRecording(n: 40, k: 4, d: 6, p: 120, learningRate: 0.02, seed: 20221128)
            let cadences = "{\"step\":1,\"spectrum\":10,\"hessian\":10,\"checkpoint\":50,\"gram\":100}"
            var meta = syn.metadata(softwareVersion: EOSTraceDev.configuration.version, cadences: cadences)
            meta.created = "2026-01-01T00:00:00Z"
            var options = WriterOptions.all.with(batch: 64)
            options.products = true
            options.solverCost = true
            let w = try TrajectoryWriter(path: out, metadata: meta, X: .stored(values: syn.X, d: syn.d), Y: syn.Y,
                                         options: options)
            // Format 1.1: the M-products of the synthetic M(t) (the chains follow the recursion on
            // it; the synthetic D is not a GD trajectory). No solver ran: cost −1, time 0.
            var chains = ProductChains(learningRate: syn.learningRate)
            for t in 0..<Int64(steps) {
                var row = syn.row(step: t)
                let m = Matrix(rows: syn.n, cols: syn.n, data: syn.gram(step: t))
                row.products = chains.step(residual: row.residual, v1: Array(row.eigenvectors[0..<syn.n]),
                                           sharpness: row.sharpness, gram: m)
                row.cost = StepCost(iterations: -1, matvecs: -1, seconds: 0)
                try w.append(row)
                if t % 10 == 0 {
                    try w.appendSpectrum(step: t, eigenvalues: syn.eigenvalues(step: t))
                    try w.appendHessianSharpness(step: t, value: syn.hessianSharpness(step: t))
                }
                if t % 50 == 0 { try w.appendCheckpoint(step: t, parameters: syn.parameters(step: t)) }
                if t % 100 == 0 { try w.appendGram(step: t, matrix: syn.gram(step: t)) }
            }
            try w.close(status: .completed)
            print(out)
        }
    }
}

/// `eostrace-dev blas-core`: prints OpenBLAS's kernel set (scripts/make-samples.sh stores it beside the samples,
/// whose numbers are bit-reproducible only with the same kernels).
struct BLASCoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas-core", abstract: "Print the OpenBLAS kernel set in use.")

    func run() throws { print(BLAS.coreName) }
}

extension WriterOptions {
    func with(batch: Int) -> WriterOptions {
        var c = self
        c.batchSteps = batch
        return c
    }
}
