import Foundation

/// The sweep manifest, `<sweep folder>/sweep.json`: what `eostrace sweep` expanded, so that every
/// later step (a Slurm task, `sweep status`, `merge`) reads the same list of runs.
///
/// `runs[i]` is Slurm array task i: its run id, its file (relative to the folder), the swept
/// values and the full configuration it is recorded with.
public struct SweepManifest: Codable, Sendable {
    public struct Run: Codable, Sendable {
        public var index: Int
        public var id: String
        /// Relative to the sweep folder.
        public var file: String
        public var values: [String: SweepValue]
        public var config: SweepValue
        /// The canonical identity text hashed into the id (see `RunIdentity`).
        public var identity: String
        public init(index: Int, id: String, file: String, values: [String: SweepValue], config: SweepValue, identity: String) {
            self.index = index; self.id = id; self.file = file; self.values = values; self.config = config; self.identity = identity
        }
    }

    public var format = "eostrace-sweep"
    public var formatVersion = 1
    /// The version of eostrace that expanded the sweep (not part of the run ids).
    public var softwareVersion: String
    /// Where the description came from.
    public var description: String
    public var order = "swept keys sorted by name; cartesian product, last key varying fastest; values in the order listed"
    public var axes: [SweepDescription.Axis]
    /// Options of `eostrace record` every run gets besides its configuration (e.g. --compression).
    public var recordArguments: [String]
    public var runs: [Run]

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", softwareVersion = "software_version", description, order, axes
        case recordArguments = "record_arguments", runs
    }

    public static let fileName = "sweep.json"

    /// The manifest of an expanded description; files are `<run id>.h5` unless `fileName` says
    /// otherwise.
    public init(description: SweepDescription, runs: [SweepDescription.Run], softwareVersion: String,
                recordArguments: [String] = [], fileName: (SweepDescription.Run) -> String = { $0.id + ".h5" }) throws {
        self.softwareVersion = softwareVersion
        self.description = description.source
        self.axes = description.axes
        self.recordArguments = recordArguments
        self.runs = try runs.map {
            Run(index: $0.index, id: $0.id, file: fileName($0), values: $0.values,
                config: try SweepDescription.tree(of: $0.config), identity: $0.identity)
        }
    }

    /// Reads `<folder>/sweep.json` (or a manifest file given directly).
    public static func load(folder: String) throws -> SweepManifest {
        var isDir: ObjCBool = false
        let path = FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) && isDir.boolValue
            ? (folder as NSString).appendingPathComponent(fileName) : folder
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError.invalidConfig(source: path, problem: "no sweep manifest here (made by eostrace sweep)")
        }
        do {
            let m = try JSONDecoder().decode(SweepManifest.self, from: data)
            guard m.format == "eostrace-sweep" else { throw RunError.invalidConfig(source: path, problem: "format is \"\(m.format)\", not eostrace-sweep") }
            guard m.formatVersion == 1 else { throw RunError.invalidConfig(source: path, problem: "sweep manifest version \(m.formatVersion) is newer than this eostrace reads (1)") }
            for (i, r) in m.runs.enumerated() where r.index != i {
                throw RunError.invalidConfig(source: path, problem: "runs[\(i)] has index \(r.index)")
            }
            return m
        } catch let e as RunError { throw e
        } catch {
            throw RunError.invalidConfig(source: path, problem: "not a sweep manifest: " + "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ").prefix(200))
        }
    }

    /// The JSON text (sorted keys, indented).
    public func jsonData() throws -> Data {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try e.encode(self) + Data("\n".utf8)
    }

    /// The configuration of run `i`.
    public func config(of i: Int) throws -> RunConfig {
        try RunIdentity.config(from: runs[i].config, source: "sweep.json runs[\(i)]")
    }
}
