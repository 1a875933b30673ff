import ArgumentParser
import Foundation
import HDF5Kit
import TrajectoryFormat

/// `eostrace dump FILE OBJECT [--from N --to N]`: values of a dataset or attribute as JSON, with
/// every float64 printed in full (shortest round-trip) precision, for interop tests.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a dataset or attribute as JSON (full precision).",
        discussion: """
            OBJECT is an absolute path (/trajectory/loss), a series name under /trajectory (loss),
            or an attribute as PATH@NAME (/run@model, /@format_version).
            Output: {"object":…, "dtype":…, "shape":[…], "from":…, "to":…, "data":…} where data is
            nested by shape (rows from..<to of the first axis). Non-finite floats print as NaN,
            Infinity, -Infinity (accepted by Python's json module).
            """)

    @Argument(help: "An HDF5 file.")
    var file: String

    @Argument(help: "Dataset path, series name, or PATH@ATTRIBUTE.")
    var object: String

    @Option(help: "First row of the first axis (inclusive).")
    var from: Int?

    @Option(help: "End row of the first axis (exclusive).")
    var to: Int?

    func validate() throws {
        if let from, from < 0 { throw ValidationError("--from must be ≥ 0") }
        if let from, let to, to < from { throw ValidationError("--to must be ≥ --from") }
    }

    func run() throws {
        try reportingErrors {
            let f: HDF5File
            do {
                f = try HDF5File.open(file, mode: .readOnly)
            } catch let e as HDF5Error where e.kind == .fileLocked {
                f = try HDF5File.open(file, mode: .swmrRead)
            }
            defer { try? f.close() }
            // Any HDF5 file can be dumped, but a recording of a newer major version is refused.
            let root = try f.root()
            if root.hasAttribute("format"), (try? root.stringAttribute("format")) == Layout.formatName {
                _ = try TrajectoryReader.checkFormat(root, path: file)
            }
            if let at = object.lastIndex(of: "@") {
                let path = object[..<at].isEmpty ? "/" : String(object[..<at])
                let name = String(object[object.index(after: at)...])
                try dumpAttribute(f, path: path, name: name)
            } else {
                let path = object.hasPrefix("/") ? object : "/trajectory/" + object
                try dumpDataset(f, path: path)
            }
        }
    }

    func dumpAttribute(_ f: HDF5File, path: String, name: String) throws {
        guard let kind = f.kind(of: path) else { throw failure("\(file): \(path): no such object") }
        let obj: HDF5Object = kind == .group ? try f.group(path) : try f.dataset(path)
        let (type, shape) = try obj.attributeInfo(name)
        let label = "\(path)@\(name)"
        switch type.typeClass {
        case .string:
            print(header(label, type, shape, nil) + "\"data\":" + JSONText.string(try obj.stringAttribute(name)) + "}")
        case .integer:
            let v = try obj.attribute(name, as: Int64.self)
            print(header(label, type, shape, nil) + "\"data\":" + JSONText.nested(v.map { String($0) }, shape: shape) + "}")
        case .float:
            let v = try obj.attribute(name, as: Double.self)
            print(header(label, type, shape, nil) + "\"data\":" + JSONText.nested(v.map(JSONText.number), shape: shape) + "}")
        case .other:
            throw failure("\(file): \(label): unsupported attribute type")
        }
    }

    func dumpDataset(_ f: HDF5File, path: String) throws {
        guard f.kind(of: path) == .dataset else { throw failure("\(file): \(path): no such dataset") }
        let ds = try f.dataset(path, chunkCacheBytes: 8 << 20)
        let type = try ds.typeInfo()
        let shape = try ds.shape()
        if type.typeClass == .string {
            print(header(path, type, shape, nil) + "\"data\":" + JSONText.string(try ds.readString()) + "}")
            return
        }
        guard type.typeClass != .other else { throw failure("\(file): \(path): unsupported dtype") }
        if shape.isEmpty {
            let s = type.typeClass == .integer ? String(try ds.read(Int64.self)[0]) : JSONText.number(try ds.read(Double.self)[0])
            print(header(path, type, shape, nil) + "\"data\":" + s + "}")
            return
        }
        let lo = min(from ?? 0, shape[0])
        let hi = min(to ?? shape[0], shape[0])
        let range = lo..<max(lo, hi)
        var sub = shape
        sub[0] = range.count
        let items: [String]
        if type.typeClass == .integer {
            items = try ds.readRows(range, as: Int64.self).map { String($0) }
        } else {
            items = try ds.readRows(range, as: Double.self).map(JSONText.number)
        }
        print(header(path, type, shape, range) + "\"data\":" + JSONText.nested(items, shape: sub) + "}")
    }

    func header(_ object: String, _ type: HDF5TypeInfo, _ shape: [Int], _ range: Range<Int>?) -> String {
        var s = "{\"object\":\(JSONText.string(object)),\"dtype\":\(JSONText.string(type.typeClass == .string ? "string" : type.description)),"
        s += "\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
        if let range { s += "\"from\":\(range.lowerBound),\"to\":\(range.upperBound)," }
        return s
    }
}

/// Minimal JSON text helpers with full-precision numbers.
enum JSONText {
    /// Shortest representation that round-trips (Swift's `description`), NaN/Infinity as Python writes them.
    static func number(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "Infinity" : "-Infinity" }
        return "\(x)"
    }

    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Nests a flat row-major list by `shape` ([] = scalar).
    static func nested(_ items: [String], shape: [Int]) -> String {
        if shape.isEmpty { return items.first ?? "null" }
        if shape.count == 1 { return "[" + items.joined(separator: ",") + "]" }
        let inner = Array(shape.dropFirst())
        let size = inner.reduce(1, *)
        var parts: [String] = []
        parts.reserveCapacity(shape[0])
        for i in 0..<shape[0] {
            parts.append(nested(Array(items[(i * size)..<((i + 1) * size)]), shape: inner))
        }
        return "[" + parts.joined(separator: ",") + "]"
    }
}
