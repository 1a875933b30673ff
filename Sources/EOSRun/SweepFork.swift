import EOSModels
import Foundation
import TrajectoryFormat

/// Where a forked run starts (the `from` key of a configuration, stored in `/run@config`): the
/// recording, its SHA-256 at the time of the fork, its run id (`RunIdentity`) and the step whose
/// θ is the fork's θ(0). Step 0 of the fork is step `step` of the source; the fork then runs its
/// own settings (a new η, more steps, …) for `steps` updates.
///
/// In a run id the path is left out: the source is named by its digest and run id.
public struct ForkSource: Codable, Sendable, Equatable {
    public var file: String
    public var fileSHA256: String
    public var runID: String
    public var step: Int64

    enum CodingKeys: String, CodingKey { case file, fileSHA256 = "file_sha256", runID = "run_id", step }

    public init(file: String, fileSHA256: String, runID: String, step: Int64) {
        self.file = file; self.fileSHA256 = fileSHA256; self.runID = runID; self.step = step
    }
}

/// `--from RUN@STEP`: resolving a fork's source, and its θ(0).
public enum Fork {
    /// Parses "PATH@STEP" (the last `@` separates them).
    public static func parse(_ spec: String) throws -> (path: String, step: Int64) {
        guard let at = spec.lastIndex(of: "@"), let step = Int64(spec[spec.index(after: at)...]), step >= 0,
              at != spec.startIndex else {
            throw RunError.invalidConfig(source: "--from \(spec)", problem: "expected RECORDING@STEP, e.g. runs/a.h5@500")
        }
        return (String(spec[..<at]), step)
    }

    /// Resolves "PATH@STEP" against a recording: its stored configuration (the fork's base) and
    /// the `ForkSource` to store. STEP must be a recorded step.
    public static func resolve(_ spec: String) throws -> (source: ForkSource, config: RunConfig) {
        let (rawPath, step) = try parse(spec)
        let path = rawPath.hasPrefix("/") ? rawPath : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(rawPath)
        let reader = try TrajectoryReader(path: path)
        defer { reader.close() }
        let config = try StoredRun.config(reader: reader)
        let steps = try reader.steps()
        guard steps.contains(step) else {
            throw RunError.invalidConfig(source: "\(rawPath)", problem: "--from: step \(step) is not recorded (steps \(steps.first ?? 0)...\(steps.last ?? 0))")
        }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw RunError.invalidConfig(source: rawPath, problem: "cannot read the file")
        }
        let source = ForkSource(file: (path as NSString).standardizingPath, fileSHA256: SHA256.hex(Array(bytes)),
                                runID: try RunIdentity.id(of: config), step: step)
        return (source, config)
    }

    /// Relative tolerance of the replayed residual against the recorded one (float64 on the
    /// recording machine, within one checkpoint interval).
    public static let replayTolerance = 1e-9

    /// θ at `source.step` of the source recording: the checkpoint at that step, or a replay on
    /// `GDChain` from the previous checkpoint, checked against the recorded residual D(step)
    /// (max |ΔD| ≤ 1e-9 · max |D|). Throws when the file changed since the fork was described
    /// (digest), the data cannot be rebuilt, or the replay drifts.
    public static func parameters(for source: ForkSource) throws -> [Double] {
        func bad(_ p: String) -> RunError { .invalidConfig(source: source.file, problem: "fork source: " + p) }
        guard let bytes = FileManager.default.contents(atPath: source.file) else { throw bad("cannot read the file") }
        guard SHA256.hex(Array(bytes)) == source.fileSHA256.lowercased() else {
            throw bad("its SHA-256 is no longer \(source.fileSHA256.prefix(16))… (the recording changed since the fork was described)")
        }
        let reader = try TrajectoryReader(path: source.file)
        defer { reader.close() }
        let ck = try reader.checkpointSteps()
        if let j = ck.firstIndex(of: source.step) { return try reader.parameters(atCheckpointIndex: j) }
        guard let first = ck.first, first <= source.step else { throw bad("no checkpoint at or before step \(source.step)") }
        let config = try StoredRun.config(reader: reader)
        let data = try StoredRun.verifiedData(reader: reader, config: config)
        let (_, evaluator) = try RunSetup.evaluator(model: config.model, X: data.X, Y: data.Y, outputs: data.outputs)
        let chain = GDChain(evaluator: evaluator, learningRate: config.learningRate, targets: [source.step], checkpointSteps: ck,
                            loadCheckpoint: { try reader.parameters(atCheckpointIndex: $0) })
        defer { chain.stop() }
        let item = try chain.item(at: 0)
        guard let row = try reader.steps().firstIndex(of: source.step) else { throw bad("step \(source.step) is not recorded") }
        let recorded = try reader.read(Layout.Series.residual, range: row..<(row + 1))
        let replayed = try item.evaluation.map { $0.residual } ?? evaluator.evaluate(item.theta).residual
        guard recorded.count == replayed.count else { throw bad("residual has \(recorded.count) entries, the replay \(replayed.count)") }
        let scale = max(recorded.map { abs($0) }.max() ?? 0, .leastNormalMagnitude)
        let drift = zip(recorded, replayed).map { abs($0 - $1) }.max() ?? 0
        guard drift <= replayTolerance * scale else {
            throw bad(String(format: "the replay from step %lld to %lld drifts from the recorded residual by %.3e (relative; tolerance %.0e)",
                             ck.last { $0 < source.step } ?? first, source.step, drift / scale, replayTolerance))
        }
        return item.theta
    }
}

extension RunSetup {
    /// θ(0) of the run: the fork source's θ at its step when the configuration has `from`, else
    /// `initialParameters`.
    public func startingParameters() throws -> [Double] {
        guard let from = config.from else { return initialParameters }
        let theta = try Fork.parameters(for: from)
        guard theta.count == network.parameterCount else {
            throw RunError.invalidConfig(source: from.file, problem: "fork source has \(theta.count) parameters, this run's model \(network.parameterCount)")
        }
        return theta
    }
}
