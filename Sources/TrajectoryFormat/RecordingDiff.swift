import Foundation
import HDF5Kit

/// Compares two HDF5 files object by object: the meaning of "identical recordings" used
/// throughout eostrace (docs/FORMAT.md, "Identical recordings").
///
/// Two files are identical when they hold the same groups and datasets, every dataset has the
/// same datatype, shape and values **bit for bit** (floats compared by bit pattern, so `-0.0`
/// differs from `0.0` and a NaN equals only the same NaN), and every attribute has the same
/// datatype, shape and value — except the *volatile* objects listed in `volatileAttributes` and
/// `isVolatileDataset(_:)` (creation time, history line, host name, per-step wall-clock times),
/// which are skipped unless `includeVolatile` is set. Dimension-scale bookkeeping attributes
/// (`DIMENSION_LIST`, `REFERENCE_LIST`) hold object addresses, which differ between equal files:
/// they are compared as the names of the scales attached to each axis instead.
///
/// Cost: reads every dataset once, one object at a time (memory ≈ the largest dataset, twice).
public struct RecordingDiff: Sendable {
    /// One object that differs, with its first difference.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        /// `/group/dataset` or `/object@attribute`.
        public var object: String
        /// What differs, e.g. "only in A", "shape [3] vs [4]", "element 17: 0.5 vs 0.25".
        public var problem: String
        public var description: String { "\(object): \(problem)" }
    }

    /// Attribute names that are volatile wherever they stand (volatile: creation time, history, host).
    public static let volatileAttributes: Set<String> = ["created", "history", "host", "hostname"]
    /// Datasets of per-step wall-clock times (volatile): any name ending in `_seconds` or `_time_s`,
    /// or called `wall_time`.
    public static func isVolatileDataset(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name == "wall_time" || name.hasSuffix("_seconds") || name.hasSuffix("_time_s")
    }

    public var includeVolatile: Bool
    public init(includeVolatile: Bool = false) { self.includeVolatile = includeVolatile }

    /// Every difference between the files at `a` and `b` (empty when identical), in path order.
    /// Throws when a file cannot be opened or read.
    public func compare(_ a: String, _ b: String) throws -> [Difference] {
        let fa = try Self.open(a), fb = try Self.open(b)
        defer { try? fa.close(); try? fb.close() }
        var out: [Difference] = []
        try compareGroup("/", fa, fb, into: &out)
        return out
    }

    /// The reader's open (SWMR when a writer holds the file; a recording cut short at its end padded).
    static func open(_ path: String) throws -> HDF5File { try TrajectoryReader.openFile(path, swmr: false) }

    private func child(_ group: String, _ name: String) -> String { group == "/" ? "/" + name : group + "/" + name }

    private func compareGroup(_ path: String, _ fa: HDF5File, _ fb: HDF5File, into out: inout [Difference]) throws {
        let ga = try fa.group(path), gb = try fb.group(path)
        try compareAttributes(path, ga, gb, into: &out)
        let na = Set(try ga.childNames()), nb = Set(try gb.childNames())
        for name in na.union(nb).sorted() {
            let p = child(path, name)
            guard na.contains(name) else { out.append(.init(object: p, problem: "only in B")); continue }
            guard nb.contains(name) else { out.append(.init(object: p, problem: "only in A")); continue }
            let ka = fa.kind(of: p), kb = fb.kind(of: p)
            guard ka == kb else { out.append(.init(object: p, problem: "a \(Self.kindName(ka)) in A, a \(Self.kindName(kb)) in B")); continue }
            switch ka {
            case .group?: try compareGroup(p, fa, fb, into: &out)
            case .dataset?: try compareDataset(p, fa, fb, into: &out)
            default: break
            }
        }
    }

    private static func kindName(_ k: HDF5File.ObjectKind?) -> String {
        switch k { case .group?: return "group"; case .dataset?: return "dataset"; default: return "other object" }
    }

    private func compareDataset(_ path: String, _ fa: HDF5File, _ fb: HDF5File, into out: inout [Difference]) throws {
        let da = try fa.dataset(path), db = try fb.dataset(path)
        defer { da.close(); db.close() }
        try compareAttributes(path, da, db, into: &out)
        let rank = try da.shape().count
        if rank == (try db.shape().count) {
            for axis in 0..<rank {
                let sa = (try? da.attachedScales(axis: axis)) ?? [], sb = (try? db.attachedScales(axis: axis)) ?? []
                if sa != sb { out.append(.init(object: path, problem: "axis \(axis) scales \(sa) vs \(sb)")) }
            }
        }
        if !includeVolatile && Self.isVolatileDataset(path) { return }
        let ta = try da.typeInfo(), tb = try db.typeInfo()
        guard ta == tb else { out.append(.init(object: path, problem: "type \(ta) vs \(tb)")); return }
        let sa = try da.shape(), sb = try db.shape()
        guard sa == sb else { out.append(.init(object: path, problem: "shape \(sa) vs \(sb)")); return }
        if let problem = try Self.firstDifference(type: ta, shape: sa,
                                                  readA: { try Self.values(da, $0) }, readB: { try Self.values(db, $0) },
                                                  stringA: { try da.readString() }, stringB: { try db.readString() }) {
            out.append(.init(object: path, problem: problem))
        }
    }

    private func compareAttributes(_ path: String, _ oa: HDF5Object, _ ob: HDF5Object, into out: inout [Difference]) throws {
        let skip: Set<String> = ["DIMENSION_LIST", "REFERENCE_LIST"]
        let na = Set(try oa.attributeNames()).subtracting(skip), nb = Set(try ob.attributeNames()).subtracting(skip)
        for name in na.union(nb).sorted() {
            if !includeVolatile && Self.volatileAttributes.contains(name) { continue }
            let object = "\(path)@\(name)"
            guard na.contains(name) else { out.append(.init(object: object, problem: "only in B")); continue }
            guard nb.contains(name) else { out.append(.init(object: object, problem: "only in A")); continue }
            let (ta, sa) = try oa.attributeInfo(name), (tb, sb) = try ob.attributeInfo(name)
            guard ta == tb else { out.append(.init(object: object, problem: "type \(ta) vs \(tb)")); continue }
            guard sa == sb else { out.append(.init(object: object, problem: "shape \(sa) vs \(sb)")); continue }
            if let problem = try Self.firstDifference(type: ta, shape: sa,
                                                      readA: { try Self.attributeValues(oa, name, $0) },
                                                      readB: { try Self.attributeValues(ob, name, $0) },
                                                      stringA: { try oa.stringAttribute(name) },
                                                      stringB: { try ob.stringAttribute(name) }) {
                out.append(.init(object: object, problem: problem))
            }
        }
    }

    /// Values as raw 64-bit patterns (floats by bit pattern, integers sign- or zero-extended), so
    /// that one comparison serves every numeric type bit for bit.
    private static func values(_ d: HDF5Dataset, _ t: HDF5ElementType) throws -> [UInt64] {
        switch t {
        case .float64: return try d.read(Double.self).map { $0.bitPattern }
        case .float32: return try d.read(Float.self).map { UInt64($0.bitPattern) }
        case .int64: return try d.read(Int64.self).map { UInt64(bitPattern: $0) }
        case .int32: return try d.read(Int32.self).map { UInt64(bitPattern: Int64($0)) }
        case .int8: return try d.read(Int8.self).map { UInt64(bitPattern: Int64($0)) }
        case .uint8: return try d.read(UInt8.self).map { UInt64($0) }
        default: return []
        }
    }

    private static func attributeValues(_ o: HDF5Object, _ name: String, _ t: HDF5ElementType) throws -> [UInt64] {
        switch t {
        case .float64: return try o.attribute(name, as: Double.self).map { $0.bitPattern }
        case .float32: return try o.attribute(name, as: Float.self).map { UInt64($0.bitPattern) }
        case .int64: return try o.attribute(name, as: Int64.self).map { UInt64(bitPattern: $0) }
        case .int32: return try o.attribute(name, as: Int32.self).map { UInt64(bitPattern: Int64($0)) }
        case .int8: return try o.attribute(name, as: Int8.self).map { UInt64(bitPattern: Int64($0)) }
        case .uint8: return try o.attribute(name, as: UInt8.self).map { UInt64($0) }
        default: return []
        }
    }

    /// The first difference of two same-typed, same-shaped values, or nil when equal.
    private static func firstDifference(type: HDF5TypeInfo, shape: [Int],
                                        readA: (HDF5ElementType) throws -> [UInt64], readB: (HDF5ElementType) throws -> [UInt64],
                                        stringA: () throws -> String, stringB: () throws -> String) throws -> String? {
        if type.typeClass == .string {
            // Arrays of strings are not used by the format: never call them equal unread.
            guard shape.isEmpty else { return "arrays of strings are not compared" }
            let a = try stringA(), b = try stringB()
            return a == b ? nil : "\(quote(a)) vs \(quote(b))"
        }
        // Other classes (compound, reference, ...) are not used by the format: never call them equal unread.
        guard let element = type.elementType else { return "values of type \(type) are not compared" }
        let a = try readA(element), b = try readB(element)
        let common = min(a.count, b.count)
        guard let i = (0..<common).first(where: { a[$0] != b[$0] }) ?? (a.count == b.count ? nil : common) else {
            return nil
        }
        let differing = zip(a, b).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
        let at = shape.count > 1 ? "element \(index(i, shape))" : shape.isEmpty ? "value" : "element \(i)"
        let va = i < a.count ? show(a[i], element) : "none", vb = i < b.count ? show(b[i], element) : "none"
        let total = max(a.count, b.count)
        return "\(at): \(va) vs \(vb)" + (total > 1 ? " (\(differing) of \(total) elements differ)" : "")
    }

    private static func index(_ flat: Int, _ shape: [Int]) -> String {
        var rest = flat, idx = [Int](repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            idx[axis] = rest % shape[axis]; rest /= shape[axis]
        }
        return "[" + idx.map(String.init).joined(separator: ", ") + "]"
    }

    private static func show(_ bits: UInt64, _ t: HDF5ElementType) -> String {
        switch t {
        case .float64: return "\(Double(bitPattern: bits))"
        case .float32: return "\(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))"
        case .uint8: return "\(bits)"
        default: return "\(Int64(bitPattern: bits))"
        }
    }

    private static func quote(_ s: String) -> String {
        let short = s.count > 80 ? String(s.prefix(77)) + "..." : s
        return "\"" + short.replacingOccurrences(of: "\n", with: " ") + "\""
    }
}
