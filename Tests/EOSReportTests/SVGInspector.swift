import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses an SVG (or any XML) string and records what the tests look at.
final class SVGInspector: NSObject, XMLParserDelegate {
    var elementCounts: [String: Int] = [:]
    var legendTexts: [String] = []
    var allTexts: [String] = []
    var attributes: [[String: String]] = []
    var error: Error?
    private var legendDepth = 0
    private var depth = 0
    private var inText = false
    private var current = ""

    /// Returns nil when the document is not well-formed XML.
    static func parse(_ xml: String) -> SVGInspector? {
        let i = SVGInspector()
        let p = XMLParser(data: Data(xml.utf8))
        p.delegate = i
        guard p.parse() else { return nil }
        return i
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes attr: [String: String] = [:]) {
        depth += 1
        elementCounts[name, default: 0] += 1
        attributes.append(attr)
        if name == "g" && attr["class"] == "legend" { legendDepth = depth }
        if name == "text" { inText = true; current = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { current += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" {
            inText = false
            allTexts.append(current)
            if legendDepth > 0 { legendTexts.append(current) }
        }
        if name == "g" && depth == legendDepth { legendDepth = 0 }
        depth -= 1
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
}

/// The `<svg ...>...</svg>` blocks of an HTML page, in order.
func svgBlocks(in html: String) -> [String] {
    var out: [String] = []
    var rest = html[...]
    while let a = rest.range(of: "<svg"), let b = rest.range(of: "</svg>", range: a.upperBound..<rest.endIndex) {
        out.append(String(rest[a.lowerBound..<b.upperBound]))
        rest = rest[b.upperBound...]
    }
    return out
}
