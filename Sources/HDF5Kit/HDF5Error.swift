/// A failed HDF5 operation: which file, which object, what we tried, and what HDF5 said.
///
/// `description` is one line: `<file>: <object>: <operation> failed: <HDF5 message>`.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is, for callers that branch on it.
    public enum Kind: String, Sendable {
        /// The file does not exist or cannot be opened by the OS.
        case fileNotFound
        /// The file exists but is not HDF5 (no signature) or is truncated/corrupt.
        case notHDF5
        /// The file is marked open by a writer (e.g. a killed SWMR writer left its status flags).
        case fileLocked
        /// An object (group, dataset, attribute) does not exist.
        case objectNotFound
        /// The object exists but has another type, rank or shape than asked for.
        case typeMismatch
        /// Any other failure reported by the library.
        case library
    }

    public var kind: Kind
    /// Path of the file on disk.
    public var file: String
    /// Path of the object inside the file ("/" for the file itself, "/run@model" for attributes).
    public var object: String
    /// The operation that failed, e.g. "open", "read rows 10..<20", "H5Dset_extent".
    public var operation: String
    /// HDF5's own message from its error stack, or ours when HDF5 gave none.
    public var message: String

    public init(kind: Kind, file: String, object: String, operation: String, message: String) {
        self.kind = kind
        self.file = file
        self.object = object
        self.operation = operation
        self.message = message
    }

    public var description: String {
        let msg = message.isEmpty ? "" : ": \(message)"
        return String("\(file): \(object): \(operation) failed\(msg)".map { $0.isNewline ? " " : $0 })
    }
}
