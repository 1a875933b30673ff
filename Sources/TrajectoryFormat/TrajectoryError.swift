/// A problem with a trajectory file or with how the format API was called.
/// `description` is one line: `<file>: <object>: <problem>`.
public struct TrajectoryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// The file is HDF5 but not an eostrace trajectory (format attribute missing or other).
        case notATrajectory
        /// The file's major format version is newer than this library's.
        case unsupportedVersion
        /// A required object or attribute is missing.
        case missingObject
        /// Data in the file is inconsistent (shapes, values).
        case invalidData
        /// The caller passed something inconsistent (row sizes, non-increasing steps, closed writer).
        case invalidArgument
    }

    public var kind: Kind
    public var file: String
    public var object: String
    public var message: String

    public init(_ kind: Kind, file: String, object: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.object = object
        self.message = message
    }

    public var description: String {
        String("\(file): \(object): \(message)".map { $0.isNewline ? " " : $0 })
    }
}
