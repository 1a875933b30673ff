import Foundation

/// Text escaping and number formatting shared by the SVG and HTML writers.
public enum Markup {
    /// Escapes `&`, `<`, `>`, `"` and `'` so that `text` is safe both as element content and
    /// inside a double- or single-quoted attribute. Control characters other than tab, newline
    /// and carriage return (not allowed in XML 1.0) are replaced by U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value)
                    || (0xD800...0xDFFF).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A coordinate with one decimal (0.1 px is below what any screen shows), without the
    /// cost of `String(format:)`. Non-finite values become "0" (callers skip them before).
    @inline(__always)
    static func coord(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        // Clamped so that no value can trap the Int conversion (drawn values are within the
        // viewBox anyway).
        let tenths = Int((min(max(v, -1e12), 1e12) * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let a = abs(tenths)
        let frac = a % 10
        return frac == 0 ? "\(sign)\(a / 10)" : "\(sign)\(a / 10).\(frac)"
    }

    /// A value for a table or a label: up to `significant` significant digits, exponent
    /// notation outside [1e-3, 1e6), no trailing zeros. NaN and infinities are spelled out.
    public static func number(_ v: Double, significant: Int = 4) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == 0 { return "0" }
        let mag = abs(v)
        if mag >= 1e6 || mag < 1e-3 { return scientific(v, significant: significant) }
        let intDigits = Int(floor(log10(mag))) + 1
        let decimals = max(0, significant - intDigits)
        var s = String(format: "%.\(decimals)f", v)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        if s == "-0" { s = "0" }
        return s
    }

    /// Always exponent notation, short: 1.5e-4, 2e6, -3.25e10; 0 stays "0".
    /// "10⁻³" (superscript exponent, true minus sign).
    public static func powerOfTen(_ e: Int) -> String {
        let digits: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶",
                                              "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
        return "10" + String(String(e).map { digits[$0] ?? $0 })
    }

    /// `v` as "1.5×10⁻⁴" (mantissa with at most `significant` digits; "1×10⁶" → "10⁶"), for tick
    /// labels: readable where "1.5e-4" is not.
    public static func timesPowerOfTen(_ v: Double, significant: Int = 3) -> String {
        if v == 0 { return "0" }
        let s = scientific(v, significant: significant)
        guard let e = s.firstIndex(of: "e"), let exp = Int(s[s.index(after: e)...]) else { return s }
        let mant = String(s[..<e])
        if mant == "1" { return powerOfTen(exp) }
        if mant == "-1" { return "−" + powerOfTen(exp) }
        return mant.replacingOccurrences(of: "-", with: "−") + "×" + powerOfTen(exp)
    }

    public static func scientific(_ v: Double, significant: Int = 4) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == 0 { return "0" }
        var s = String(format: "%.\(max(0, significant - 1))e", v)
        // 1.500e-04 -> 1.5e-4
        if let e = s.firstIndex(of: "e") {
            var mant = String(s[..<e])
            var exp = String(s[s.index(after: e)...])
            if mant.contains(".") {
                while mant.hasSuffix("0") { mant.removeLast() }
                if mant.hasSuffix(".") { mant.removeLast() }
            }
            let neg = exp.hasPrefix("-")
            exp = String(exp.drop(while: { $0 == "-" || $0 == "+" || $0 == "0" }))
            if exp.isEmpty { exp = "0" }
            s = mant + "e" + (neg ? "-" : "") + exp
        }
        return s
    }
}
