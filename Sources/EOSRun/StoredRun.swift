import EOSModels
import EOSNumerics
import Foundation
import TrajectoryFormat

/// A run as stored in a recording: its configuration (`/run@config`) and its training data,
/// rebuilt from the configuration and checked against the file (resume, replay).
public enum StoredRun {
    /// The recording's configuration (`/run@config`).
    /// - Throws: `RunError.cannotResume` when the file has none or it does not decode.
    public static func config(reader: TrajectoryReader) throws -> RunConfig {
        guard let json = reader.metadata.config, !json.isEmpty else {
            throw RunError.cannotResume(file: reader.path, problem: "no /run@config (not written by eostrace record)")
        }
        do { return try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8)) } catch {
            throw RunError.cannotResume(file: reader.path, problem: "/run@config is not a valid run configuration")
        }
    }

    /// Checks a recording's `/run@config` against the file's own attributes (`/run@learning_rate`,
    /// `@k`, `@n_samples`, `@n_parameters`, `@model`): a config edited after recording (or copied
    /// from another run) is refused with one line naming the first mismatch, instead of resuming
    /// with settings the file does not have. `parameterCount` is p of the config's network.
    public static func checkConfigMatchesFile(reader: TrajectoryReader, config c: RunConfig, n: Int,
                                              parameterCount: Int) throws {
        let m = reader.metadata
        func fail(_ key: String, _ got: String, _ attribute: String, _ stored: String) -> RunError {
            .cannotResume(file: reader.path, problem: "/run@config: \(key) \(got) differs from /run@\(attribute) = \(stored); restore the recorded configuration (the file was edited or mixed)")
        }
        if c.learningRate.bitPattern != m.learningRate.bitPattern {
            throw fail("learning_rate", "\(c.learningRate)", "learning_rate", "\(m.learningRate)")
        }
        if c.k != m.k { throw fail("k", "\(c.k)", "k", "\(m.k)") }
        if n != m.n { throw fail("data gives n =", "\(n)", "n_samples", "\(m.n)") }
        if parameterCount != m.p { throw fail("model has", "\(parameterCount) parameters", "n_parameters", "\(m.p)") }
        if c.model.jsonString() != m.model { throw fail("model", c.model.jsonString(), "model", m.model) }
    }

    /// Rebuilds the training data of a recording from its `/run@config` and checks it against the
    /// file: Y against `/data/Y`, X against `/data/X` or, when X is only referenced, against the
    /// digest `/data@x_sha256`. A mismatch (the data file changed) throws a one-line
    /// `RunError.cannotResume`.
    public static func verifiedData(reader: TrajectoryReader, config c: RunConfig) throws -> Dataset {
        func fail(_ s: String) -> RunError { .cannotResume(file: reader.path, problem: s) }
        let data: Dataset
        do { data = try c.data.load() } catch {
            throw fail("cannot rebuild the training data from /run@config: \(error)")
        }
        guard data.n == reader.n, data.d == reader.d else {
            throw fail("rebuilt data are \(data.n) × \(data.d), the recording has n = \(reader.n), d = \(reader.d)")
        }
        guard data.Y == (try reader.Y()) else { throw fail("rebuilt targets Y differ from the recorded /data/Y") }
        if let x = try reader.X() {
            if x != data.X.data { throw fail("rebuilt inputs X differ from the recorded /data/X") }
        } else if let ref = try reader.xReference() {
            let digest = SHA256.hex(float64LittleEndian: data.X.data)
            guard digest == ref.sha256.lowercased() else {
                throw fail("X digest mismatch: \(ref.path) now gives sha256 \(digest.prefix(16))…, the recording has \(ref.sha256.prefix(16))… (the data file changed)")
            }
        } else {
            throw fail("/data has neither X nor a reference to it")
        }
        return data
    }

    /// X (n × d) of a recording: `/data/X`, or, when only referenced, rebuilt from `/run@config`
    /// and checked against `/data@x_sha256` (for replays of recordings that do not hold X).
    public static func inputs(reader: TrajectoryReader) throws -> Matrix {
        if let x = try reader.X() { return Matrix(rows: reader.n, cols: reader.d, data: x) }
        return try verifiedData(reader: reader, config: config(reader: reader)).X
    }

    /// X as the writer stores it: in the file when it is smaller than `store_data_below` bytes
    /// (float64), else a reference: its location and the SHA-256 of the X used for training
    /// (float64 little-endian, row-major n × d, after the row subset and centering of the config).
    public static func trainingInputs(config c: RunConfig, data: Dataset) -> TrainingInputs {
        let bytes = data.X.data.count * MemoryLayout<Double>.size
        if bytes < (c.storeDataBelow ?? RunConfig.defaultStoreDataBelow) { return .stored(values: data.X.data, d: data.d) }
        return .reference(path: c.data.inputsLocation, values: data.X.data, d: data.d)
    }
}
