import ArgumentParser
import EOSCommandLine
import Foundation
import EOSNumerics
import EOSTestSupport
import TrajectoryFormat

/// `eostrace-dev make-sample`: writes the synthetic sample recording shipped in samples/ (see samples/README.md).
struct MakeSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-sample", abstract: "Write the synthetic sample recording.")

    @Option(help: "Output file (an existing one only with --force; written beside it and renamed into place when complete).")
    var out = "samples/synthetic-small.h5"
    @Option var steps = 300
    @Flag(help: "Replace --out if it exists.") var force = false

    func run() throws {
        try reportingErrors {
            let syn = SyntheticRecording(n: 40, k: 4, d: 6, p: 120, learningRate: 0.02, seed: 20221128)
            let cadences = "{\"step\":1,\"spectrum\":10,\"hessian\":10,\"checkpoint\":50,\"gram\":100}"
            var meta = syn.metadata(softwareVersion: EOSTraceDev.configuration.version, cadences: cadences)
            meta.created = "2026-01-01T00:00:00Z"
            // No M-products (format 1.1): the synthetic D(t) is not a GD trajectory of its M(t), so
            // recorded products would make the file's first-order check D(t+1) − D(t) ≈ −ηM(t)D(t)
            // fail by construction. The real recordings (scripts/make-samples.sh) carry them.
            try writeOutput(out, force: force) { temporary in
                let w = try TrajectoryWriter(path: temporary, metadata: meta, X: .stored(values: syn.X, d: syn.d), Y: syn.Y,
                                             options: WriterOptions.all.with(batch: 64))
                for t in 0..<Int64(steps) {
                    try w.append(syn.row(step: t))
                    if t % 10 == 0 {
                        try w.appendSpectrum(step: t, eigenvalues: syn.eigenvalues(step: t))
                        try w.appendHessianSharpness(step: t, value: syn.hessianSharpness(step: t))
                    }
                    if t % 50 == 0 { try w.appendCheckpoint(step: t, parameters: syn.parameters(step: t)) }
                    if t % 100 == 0 { try w.appendGram(step: t, matrix: syn.gram(step: t)) }
                }
                try w.close(status: .completed)
            }
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
