import EOSModels
import EOSRun
import EOSNumerics
import Foundation
import TrajectoryFormat

extension AnalysisInput {
    /// Loads rows `rows` (default all) of a recording: every series the analyzer reads, each with
    /// one hyperslab read. Never loads `gram` or `parameters` (those are read row by row by the
    /// Gram providers), and of the eigenvectors only v₁: the others are read from `reader` on
    /// demand, for rows that use the top-k approximation (the reader must stay open while the
    /// input is analyzed). Memory: T·n·3 doubles (residual, outputs, v₁).
    ///
    /// - Throws: the reader's errors, and `TrajectoryError(.invalidData)` naming the file and the
    ///   object when the series are inconsistent or hold NaN/Inf.
    public init(reader: TrajectoryReader, rows: Range<Int>? = nil) throws {
        let total = try reader.stepCount()
        let r = rows ?? 0..<total
        guard r.lowerBound >= 0, r.upperBound <= total, !r.isEmpty else {
            throw TrajectoryError(.invalidArgument, file: reader.path, object: "/trajectory/step",
                                  total == 0 ? "no recorded steps" : "rows \(r) outside 0..<\(total)")
        }
        let s = Layout.Series.self
        let optional: (String) throws -> [Double]? = { name in
            reader.has(name) ? try reader.read(name, range: r) : nil
        }
        let kind: String? = {
            guard let data = reader.metadata.model.data(using: .utf8),
                  let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return obj["kind"] as? String
        }()
        // c > 1 (format 2.0): every vector is n·c long (sample-major), j ≤ k eigenvectors stored.
        let j = reader.eigenvectorsStored
        self.init(steps: try reader.steps(r), learningRate: reader.metadata.learningRate, n: reader.n,
                  outputCount: reader.outputCount, k: reader.k,
                  loss: try reader.read(s.loss, range: r), residual: try reader.read(s.residual, range: r),
                  outputs: try optional(s.outputs), targets: try reader.Y(),
                  outputNormSq: try reader.read(s.outputNormSq, range: r), sharpness: try reader.read(s.sharpness, range: r),
                  eigenvalues: try reader.read(s.eigenvalues, range: r),
                  eigenvectors: j > 1 ? try reader.leadingEigenvectors(r) : try reader.eigenvectors(r).values,
                  storedEigenvectors: j, dtf: try reader.read(s.dtf, range: r), outputLayerSharpness: try optional(s.outputLayerSharpness),
                  modelKind: kind)
        if let data = reader.metadata.config?.data(using: .utf8),
           let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let tol = (obj["eigen_tolerance"] as? NSNumber)?.doubleValue, tol > 0, tol.isFinite {
            eigenTolerance = tol
        }
        if j > 1 {
            let box = ReaderBox(reader), first = r.lowerBound
            loadEigenvectors = { row in try box.reader.eigenvectors((first + row)..<(first + row + 1)).values }
        }
        do { try validate() } catch let AnalysisError.invalidInput(object, problem) {
            let path = object == "learning_rate" ? "/run@learning_rate" : (object == "Y" ? Layout.y : "/trajectory/\(object)")
            throw TrajectoryError(.invalidData, file: reader.path, object: path, problem)
        }
    }
}

/// Which M(t) to use for a recording.
public enum GramChoice: String, Sendable, CaseIterable, Codable {
    /// The recorded M-products where they serve; elsewhere replay when possible, else stored
    /// `gram`, else the top-k approximation.
    case auto
    /// The recorded M-products only (error when the file has none; top-k where they do not serve).
    case products
    /// Replay (error when impossible).
    case replay
    /// Stored `gram` (top-k where missing; error when the file has none).
    case stored
    /// The top-k approximation everywhere.
    case topk
}

/// The Gram provider chosen for a recording and why.
public struct GramSelection {
    public var provider: GramProvider?
    /// Set when `provider` replays GD; read its `report` after the analysis.
    public var replay: ReplayGramProvider?
    /// Why a better source was not used (nil when replaying).
    public var note: String?

    /// Picks the provider for `choice`.
    ///
    /// Replay needs a replayable model description (`mlp`, `two_layer_linear`), X stored in the
    /// file, and parameter checkpoints of the model's size. When any is missing, `auto` falls back
    /// (stored gram, then top-k) and records why in `note`; `replay` and `stored` throw.
    public static func make(reader: TrajectoryReader, input: AnalysisInput, choice: GramChoice) throws -> GramSelection {
        var why: String?
        if choice == .auto || choice == .replay {
            do {
                let r = try makeReplay(reader: reader, input: input)
                return GramSelection(provider: r, replay: r, note: nil)
            } catch let e as ReplayUnavailable {
                if choice == .replay { throw AnalysisError.replay(file: reader.path, problem: e.reason) }
                why = "not replayable: \(e.reason)"
            }
        }
        if choice == .auto || choice == .stored {
            if reader.has(Layout.Series.gram) {
                let gramSteps = try reader.gramSteps()
                var index: [Int64: Int] = [:]
                for (i, s) in gramSteps.enumerated() { index[s] = i }
                let steps = input.steps, n = input.dimension   // nc × nc for c outputs
                let provider = ClosureGramProvider(
                    source: .storedGram, label: "stored gram at \(gramSteps.count) steps", n: n,
                    dense: { row in
                        guard let j = index[steps[row]] else { return nil }
                        return try reader.gram(atIndex: j).values
                    })
                return GramSelection(provider: provider, replay: nil, note: why)
            }
            if choice == .stored {
                throw TrajectoryError(.missingObject, file: reader.path, object: "/trajectory/gram", "not recorded in this file")
            }
            why = [why, "no stored gram"].compactMap { $0 }.joined(separator: "; ")
        }
        return GramSelection(provider: nil, replay: nil, note: why)
    }

    struct ReplayUnavailable: Error { var reason: String }

    static func makeReplay(reader: TrajectoryReader, input: AnalysisInput) throws -> ReplayGramProvider {
        let model: ModelDescription
        do { model = try ModelDescription.parse(json: reader.metadata.model, source: "\(reader.path): /run@model") } catch {
            throw ReplayUnavailable(reason: "model description is not replayable (\(error))")
        }
        let x: [Double]
        if let stored = try reader.X() {
            x = stored
        } else {
            // X only referenced (/data@x_path + x_sha256): rebuild it from the stored run
            // configuration and check its digest, as `record --resume` does.
            do { x = try StoredRun.inputs(reader: reader).data } catch {
                throw ReplayUnavailable(reason: "X is only referenced and could not be rebuilt (\(error))")
            }
        }
        guard reader.has(Layout.Series.parameters) else {
            throw ReplayUnavailable(reason: "no parameter checkpoints (/trajectory/parameters)")
        }
        let ckSteps = try reader.checkpointSteps()
        guard !ckSteps.isEmpty else { throw ReplayUnavailable(reason: "parameter checkpoints are empty") }
        let c = input.outputCount
        let network = try Network(model, outputs: c)
        guard reader.d == model.inputDim, x.count == input.n * model.inputDim else {
            throw ReplayUnavailable(reason: "X has \(x.count) values, model expects n·d = \(input.n)·\(model.inputDim)")
        }
        let p0 = try reader.parameters(atCheckpointIndex: 0)
        guard p0.count == network.parameterCount else {
            throw ReplayUnavailable(reason: "checkpoints hold \(p0.count) parameters, model has \(network.parameterCount)")
        }
        let n = input.dimension   // n·c
        let residual = input.residual
        return try ReplayGramProvider(
            model: model, X: Matrix(rows: input.n, cols: model.inputDim, data: x), Y: try reader.Y(),
            learningRate: input.learningRate, steps: input.steps, checkpointSteps: ckSteps,
            checkpoint: { j in try reader.parameters(atCheckpointIndex: j) },
            recordedResidual: { row in Array(residual[(row * n)..<((row + 1) * n)]) },
            fileName: reader.path, outputs: c)
    }
}

extension ProductSource {
    /// The M-products of rows `rows` of a recording, read in blocks as the analysis walks forward;
    /// nil when the file has none. Shapes are checked now (one-line errors naming the object).
    public init?(reader: TrajectoryReader, rows: Range<Int>, modelKind: String?) throws {
        func source(_ name: String) throws -> (@Sendable (Int) throws -> [Double])? {
            guard reader.hasProduct(name) else { return nil }
            let box = BlockBox(try ProductBlockReader(reader: reader, name: name, rows: rows))
            return { row in Array(try box.blocks.vector(atRow: row)) }
        }
        let g = try source(RecordedProducts.gramResidual)
        let rp = try source(RecordedProducts.rPrime)
        let rs = try source(RecordedProducts.rPrimeFromStart)
        guard g != nil || rp != nil || rs != nil else { return nil }
        var linear: (x: [Double], d: Int, width: Int)?
        if modelKind == "two_layer_linear",
           // X stored, or only referenced and rebuilt from the stored configuration (digest checked).
           let x = try reader.X() ?? (try? StoredRun.inputs(reader: reader).data),
           let data = reader.metadata.model.data(using: .utf8),
           let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let width = obj["width"] as? Int, reader.d > 0, x.count == reader.n * reader.d {
            linear = (x, reader.d, width)
        }
        self.init(gramResidual: g, rPrime: rp, rPrimeFromStart: rs, startsAtFirstRecordedStep: rows.lowerBound == 0,
                  linear: linear)
    }
}

/// Lets the product closures hold their block reader (used from the analyzer's thread only).
private final class BlockBox: @unchecked Sendable {
    let blocks: ProductBlockReader
    init(_ b: ProductBlockReader) { blocks = b }
}

/// Lets the on-demand eigenvector loader hold the reader (used from the analyzer's thread only).
private final class ReaderBox: @unchecked Sendable {
    let reader: TrajectoryReader
    init(_ r: TrajectoryReader) { reader = r }
}
