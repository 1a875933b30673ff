import Foundation

/// A JSON value as a sweep description holds it (a swept value, a configuration tree), with the
/// one canonical text that run ids are computed from.
///
/// Canonical JSON (`canonical`): no whitespace; object keys sorted by code point; strings with
/// `"` `\` and control characters escaped as Python's `json.dumps` does (`\n \r \t \b \f`, else
/// `\u00XX`), other characters as UTF-8; integers in decimal; a double that is an integer of
/// magnitude below 2^53 as that integer, any other double as C's `%.17g` (which reads back to the
/// same double on every IEEE machine). So `8.0` and `8` are the same, and `0.05` is written
/// `0.050000000000000003`. A five-line Python function reproduces it (docs/SWEEPS.md).
public indirect enum SweepValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([SweepValue])
    case object([String: SweepValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let v = try? c.decode(Bool.self) { self = .bool(v); return }
        if let v = try? c.decode(Int64.self) { self = .int(v); return }
        if let v = try? c.decode(UInt64.self) { self = .uint(v); return }
        if let v = try? c.decode(Double.self) { self = .double(v); return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let v = try? c.decode([SweepValue].self) { self = .array(v); return }
        if let v = try? c.decode([String: SweepValue].self) { self = .object(v); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .uint(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }

    /// The canonical JSON text (see the type's documentation). Non-finite doubles (not JSON) are
    /// written `null`; a validated configuration never holds one.
    public var canonical: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return v ? "true" : "false"
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v):
            guard v.isFinite else { return "null" }
            if v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
            return String(format: "%.17g", v)
        case .string(let s): return Self.quoted(s)
        case .array(let a): return "[" + a.map(\.canonical).joined(separator: ",") + "]"
        case .object(let o):
            let keys = o.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
            return "{" + keys.map { Self.quoted($0) + ":" + o[$0]!.canonical }.joined(separator: ",") + "}"
        }
    }

    /// Short text for tables: strings bare, numbers as JSON.
    public var description: String {
        switch self {
        case .string(let s): return s
        case .double(let v): return "\(v)"
        default: return canonical
        }
    }

    /// The value as a double when it is a number.
    public var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Parses one value of a `--vary key=v1,v2` list: JSON (numbers, true/false, quoted strings,
    /// arrays), else the text as a string.
    public static func parseFlagValue(_ text: String) -> SweepValue {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let v = try? JSONDecoder().decode(SweepValue.self, from: Data(t.utf8)) { return v }
        return .string(t)
    }

    /// `[String: Any]` / `[Any]` / scalars, for `ConfigKeys.problem`.
    var any: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let v): return v
        case .int(let v): return v
        case .uint(let v): return v
        case .double(let v): return v
        case .string(let v): return v
        case .array(let a): return a.map(\.any)
        case .object(let o): return o.mapValues(\.any)
        }
    }

    subscript(path path: [String]) -> SweepValue? {
        get {
            guard let first = path.first else { return self }
            guard case .object(let o) = self, let child = o[first] else { return nil }
            return child[path: Array(path.dropFirst())]
        }
        set {
            guard let first = path.first else { self = newValue ?? .null; return }
            var o: [String: SweepValue] = [:]
            if case .object(let existing) = self { o = existing }
            var child = o[first] ?? .object([:])
            child[path: Array(path.dropFirst())] = newValue
            o[first] = newValue == nil && path.count == 1 ? nil : child
            self = .object(o)
        }
    }

    /// Deep merge: objects merge key by key, anything else replaces.
    func merging(_ other: SweepValue) -> SweepValue {
        guard case .object(var a) = self, case .object(let b) = other else { return other }
        for (k, v) in b { a[k] = a[k].map { $0.merging(v) } ?? v }
        return .object(a)
    }
}
