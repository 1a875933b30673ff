import HDF5Kit

/// Read access to any object of any HDF5 file, for `eostrace dump` (the CLI does not touch HDF5
/// itself): the values of one dataset (a row range of its first axis) or one attribute, with
/// their type and shape. A recording of a newer major format version is refused; other HDF5
/// files are read as they are.
public final class FileDump {
    /// Values read, flat in row-major order.
    public enum Values: Sendable, Equatable {
        case string(String)
        case integers([Int64])
        case floats([Double])
    }

    /// One dumped object.
    public struct Item: Sendable, Equatable {
        /// `/path` of a dataset or `/path@name` of an attribute.
        public var object: String
        /// "string", or HDF5Kit's type name ("float64", "int8", ...).
        public var dtype: String
        /// Full shape ([] for scalars).
        public var shape: [Int]
        /// Rows of the first axis read (datasets of rank ≥ 1 only).
        public var rows: Range<Int>?
        public var values: Values
    }

    public let path: String
    private let file: HDF5File

    /// Opens `path` read-only (as SWMR reader when a writer holds it open).
    public init(path: String) throws {
        self.path = path
        // The reader's open: SWMR reader when a writer holds it, and a recording cut short at its
        // end (ulimit -f, a full disk) read from a padded private mapping, the file unchanged.
        let f = try TrajectoryReader.openFile(path, swmr: false)
        file = f
        do {
            let root = try f.root()
            if root.hasAttribute("format"), (try? root.stringAttribute("format")) == Layout.formatName {
                _ = try TrajectoryReader.checkFormat(root, path: path)
            }
        } catch {
            try? f.close()
            throw error
        }
    }

    /// Releases the file handle (also done when the dump is released).
    public func close() { file.release() }

    private func fail(_ object: String, _ message: String) -> TrajectoryError {
        TrajectoryError(.missingObject, file: path, object: object, message)
    }

    private static func dtype(_ type: HDF5TypeInfo) -> String {
        type.typeClass == .string ? "string" : type.description
    }

    /// The attribute `name` of the group or dataset at `objectPath`.
    public func attribute(_ name: String, of objectPath: String) throws -> Item {
        guard let kind = file.kind(of: objectPath) else { throw fail(objectPath, "no such object") }
        let obj: HDF5Object = kind == .group ? try file.group(objectPath) : try file.dataset(objectPath)
        let (type, shape) = try obj.attributeInfo(name)
        let label = "\(objectPath)@\(name)"
        let values: Values
        switch type.typeClass {
        case .string: values = .string(try obj.stringAttribute(name))
        case .integer: values = .integers(try obj.attribute(name, as: Int64.self))
        case .float: values = .floats(try obj.attribute(name, as: Double.self))
        case .other: throw TrajectoryError(.invalidData, file: path, object: label, "unsupported attribute type")
        }
        return Item(object: label, dtype: Self.dtype(type), shape: shape, rows: nil, values: values)
    }

    /// The dataset at `datasetPath`: rows `from..<to` of its first axis (clamped to its extent;
    /// nil: all), the whole value for scalars and strings.
    public func dataset(_ datasetPath: String, from: Int?, to: Int?) throws -> Item {
        guard file.kind(of: datasetPath) == .dataset else { throw fail(datasetPath, "no such dataset") }
        let ds = try file.dataset(datasetPath, chunkCacheBytes: 8 << 20)
        try ds.checkExtent()
        let type = try ds.typeInfo()
        let shape = try ds.shape()
        let dtype = Self.dtype(type)
        if type.typeClass == .string {
            return Item(object: datasetPath, dtype: dtype, shape: shape, rows: nil, values: .string(try ds.readString()))
        }
        guard type.typeClass != .other else {
            throw TrajectoryError(.invalidData, file: path, object: datasetPath, "unsupported dtype")
        }
        if shape.isEmpty {
            let v: Values = type.typeClass == .integer ? .integers([try ds.read(Int64.self)[0]])
                : .floats([try ds.read(Double.self)[0]])
            return Item(object: datasetPath, dtype: dtype, shape: shape, rows: nil, values: v)
        }
        let lo = min(from ?? 0, shape[0])
        let hi = min(to ?? shape[0], shape[0])
        let range = lo..<max(lo, hi)
        let v: Values = type.typeClass == .integer ? .integers(try ds.readRows(range, as: Int64.self))
            : .floats(try ds.readRows(range, as: Double.self))
        return Item(object: datasetPath, dtype: dtype, shape: shape, rows: range, values: v)
    }
}
