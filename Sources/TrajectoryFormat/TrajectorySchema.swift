import Foundation

/// The parsed layout of schemas/trajectory-v1.json (embedded in the module, see
/// `EmbeddedSchema.swift`, generated at build time by the EmbedSchema plugin). The validator, writer and reader take names, dtypes and dimensions
/// from here.
public struct TrajectorySchema: Decodable, Sendable {
    public struct Attribute: Decodable, Sendable {
        public var name: String
        /// "string", "int64", "float64".
        public var type: String
        public var shape: [Int]?
        public var required: Bool
        /// Required value (strings only).
        public var value: String?
        /// Allowed values (strings only), when restricted.
        public var values: [String]?
        public var doc: String?
    }

    public struct Dimension: Decodable, Sendable {
        public var name: String
        /// Path of the coordinate variable, when the dimension has one.
        public var coordinate: String?
        public var unlimited: Bool?
        /// Symbolic size: "n", "k", "d", "p" or "a" (/run@eigenvalue_threshold_capacity).
        public var size: String?
        /// CF `long_name` and `units` of the scale dataset (dimensions without a coordinate).
        public var longName: String?
        public var units: String?
        public var doc: String?

        enum CodingKeys: String, CodingKey {
            case name, coordinate, unlimited, size, units, doc
            case longName = "long_name"
        }
    }

    public struct Group: Decodable, Sendable {
        public var path: String
        public var required: Bool
        public var doc: String?
        public var attributes: [Attribute]?
    }

    public struct Dataset: Decodable, Sendable {
        public var path: String
        /// "float64", "int64", "int8", "uint8" or "string".
        public var dtype: String
        /// Dimension names, one per axis (absent for scalars).
        public var dims: [String]?
        /// Dimension names in a file with c > 1 outputs (format 2.0), when they differ from `dims`
        /// (an `output` axis after `sample`, or the flattened n·c axes).
        public var dimsMultiOutput: [String]?
        /// Fixed shape (scalars: []).
        public var shape: [Int]?
        public var required: Bool
        /// Not required when every one of these "group@attribute" exists.
        public var requiredUnless: [String]?
        public var coordinate: Bool?
        /// "increasing": strictly increasing along axis 0.
        public var monotonic: String?
        /// "descending": non-increasing along the last axis.
        public var monotonicAxis: String?
        public var finite: Bool?
        /// Objects that must exist when this one does.
        public var requires: [String]?
        /// Allowed values (string datasets).
        public var values: [String]?
        /// Named extra checks (see conventions.checks), e.g. "mean_square_of:/trajectory/residual".
        public var checks: [String]?
        /// CF `long_name` and `units` attributes, written on the dataset (format 1.1).
        public var longName: String?
        public var units: String?
        public var doc: String?

        enum CodingKeys: String, CodingKey {
            case path, dtype, dims, shape, required, coordinate, monotonic, finite, requires, values, checks, doc, units
            case longName = "long_name"
            case requiredUnless = "required_unless"
            case monotonicAxis = "monotonic_axis"
            case dimsMultiOutput = "dims_multi_output"
        }

        /// The dimensions of this dataset in a file with `outputs` = c outputs (c = 1: `dims`).
        public func dims(outputs c: Int) -> [String]? { c > 1 ? (dimsMultiOutput ?? dims) : dims }

        /// Last path component.
        public var name: String { String(path.split(separator: "/").last ?? "") }
        /// Parent group path.
        public var group: String {
            let parts = path.split(separator: "/").dropLast()
            return "/" + parts.joined(separator: "/")
        }
    }

    public var format: String
    /// [major, minor] of a single-output file (c = 1): what this library writes for c = 1.
    public var version: [Int]
    /// [major, minor] of a file with several outputs (c > 1, format 2.0).
    public var versionMultiOutput: [Int]
    public var conventions: [String: String]
    public var rootAttributes: [Attribute]
    public var dimensions: [Dimension]
    public var groups: [Group]
    public var datasets: [Dataset]

    enum CodingKeys: String, CodingKey {
        case format, version, conventions, dimensions, groups, datasets
        case rootAttributes = "root_attributes"
        case versionMultiOutput = "version_multi_output"
    }

    /// Major version this library writes for a single-output file (c = 1).
    public var major: Int { version.first ?? 0 }
    /// Minor version this library writes for a single-output file (c = 1).
    public var minor: Int { version.count > 1 ? version[1] : 0 }
    /// Newest major version this library reads (2: files with several outputs).
    public var readableMajor: Int { max(major, versionMultiOutput.first ?? 0) }
    /// [major, minor] written for a file with `outputs` = c outputs: `version` for c = 1 (the
    /// same bytes as before format 2.0), `versionMultiOutput` for c > 1.
    public func writtenVersion(outputs c: Int) -> [Int] {
        let v = c > 1 ? versionMultiOutput : version
        return [v.first ?? 0, v.count > 1 ? v[1] : 0]
    }

    /// The schema embedded in this build (parsed once).
    public static let current: TrajectorySchema = {
        do {
            return try JSONDecoder().decode(TrajectorySchema.self, from: Data(embeddedJSON.utf8))
        } catch {
            // The embedded schema is generated from the repository file at build time and tested; failing here
            // is a build defect, not bad input.
            fatalError("embedded trajectory schema does not parse: \(error)")
        }
    }()

    public func dataset(_ path: String) -> Dataset? { datasets.first { $0.path == path } }
    public func dimension(_ name: String) -> Dimension? { dimensions.first { $0.name == name } }
    public func group(_ path: String) -> Group? { groups.first { $0.path == path } }

    /// Datasets under `/trajectory` whose first axis is the dimension `cadence` (e.g. "step").
    public func series(onCadence cadence: String, under group: String = "/trajectory") -> [Dataset] {
        datasets.filter { $0.group == group && $0.dims?.first == cadence }
    }
}
