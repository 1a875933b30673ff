import ArgumentParser
import EOSCommandLine
import Foundation
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
            nested by shape (with --rows A:B, rows A to B of the first axis, both included; "to" in the
            output is the end, excluded: B + 1). Non-finite floats print as NaN,
            Infinity, -Infinity (accepted by Python's json module).
            """)

    @Argument(help: ArgumentHelp("The recording (or any HDF5 file) to read.", valueName: "recording"))
    var file: String

    @Argument(help: "Dataset path, series name, or PATH@ATTRIBUTE.")
    var object: String

    @Option(help: ArgumentHelp("Only rows A to B of the first axis, both included (A: or :B leaves an end open). Default: every row.", valueName: "A:B"))
    var rows: String?

    /// The old spellings (hidden; scripts may use them): first row (included) and end row (excluded).
    @Option(help: .hidden)
    var from: Int?
    @Option(help: .hidden)
    var to: Int?

    func validate() throws {
        if let rows {
            let w = try StepWindow.parse(rows, option: "--rows", unit: "row")
            if let a = w.first, a < 0 { throw ValidationError("--rows: the first row must be ≥ 0, got \(a)") }
            if from != nil || to != nil { throw ValidationError("--rows and --from/--to (its old spelling) are exclusive") }
        }
        if let from, from < 0 { throw ValidationError("--from must be ≥ 0") }
        if let from, let to, to < from { throw ValidationError("--to must be ≥ --from") }
    }

    /// Rows as [from, to): from --rows A:B (B included), else the old --from/--to.
    private var rowRange: (from: Int?, to: Int?) {
        if let rows, let w = StepWindow(rows) { return (w.first, w.last.map { $0 + 1 }) }
        return (from, to)
    }

    func run() throws {
        try reportingErrors {
            let dump = try FileDump(path: file)
            defer { dump.close() }
            let item: FileDump.Item
            if let at = object.lastIndex(of: "@") {
                let path = object[..<at].isEmpty ? "/" : String(object[..<at])
                item = try dump.attribute(String(object[object.index(after: at)...]), of: path)
            } else {
                item = try dump.dataset(object.hasPrefix("/") ? object : "/trajectory/" + object, from: rowRange.from, to: rowRange.to)
            }
            print(json(item))
        }
    }

    /// {"object":…, "dtype":…, "shape":[…], ("from":…, "to":…,) "data":…}
    func json(_ item: FileDump.Item) -> String {
        var s = "{\"object\":\(JSONText.string(item.object)),\"dtype\":\(JSONText.string(item.dtype)),"
        s += "\"shape\":[\(item.shape.map(String.init).joined(separator: ","))],"
        if let range = item.rows { s += "\"from\":\(range.lowerBound),\"to\":\(range.upperBound)," }
        var sub = item.shape
        if let range = item.rows { sub[0] = range.count }
        let data: String
        switch item.values {
        case .string(let v): data = JSONText.string(v)
        case .integers(let v): data = JSONText.nested(v.map { String($0) }, shape: sub)
        case .floats(let v): data = JSONText.nested(v.map(JSONText.number), shape: sub)
        }
        return s + "\"data\":" + data + "}"
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
