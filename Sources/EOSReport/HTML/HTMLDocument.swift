import Foundation

/// A table for the HTML page and the terminal.
public struct Table: Sendable {
    public var caption: String?
    public var headers: [String]
    public var rows: [[String]]
    /// Columns rendered right-aligned (numbers).
    public var numericColumns: Set<Int>

    public init(caption: String? = nil, headers: [String], rows: [[String]], numericColumns: Set<Int> = []) {
        self.caption = caption
        self.headers = headers
        self.rows = rows
        self.numericColumns = numericColumns
    }

    /// Fixed-width text for a terminal: columns padded to their widest cell, two spaces apart.
    public func text() -> String {
        let n = max(headers.count, rows.map(\.count).max() ?? 0)
        var widths = [Int](repeating: 0, count: n)
        for r in [headers] + rows { for (j, c) in r.enumerated() { widths[j] = max(widths[j], c.count) } }
        func line(_ r: [String]) -> String {
            var cells: [String] = []
            for j in 0..<n {
                let c = j < r.count ? r[j] : ""
                let pad = String(repeating: " ", count: widths[j] - c.count)
                cells.append(numericColumns.contains(j) ? pad + c : c + pad)
            }
            var s = cells.joined(separator: "  ")
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
        var out = ""
        if let c = caption { out += c + "\n" }
        out += line(headers) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for r in rows { out += line(r) + "\n" }
        return out
    }

    /// The table as an HTML `<table>` element (all text escaped).
    public func html() -> String {
        var out = "<table>\n"
        if let c = caption { out += "<caption>\(Markup.escape(c))</caption>\n" }
        out += "<thead><tr>" + headers.map { "<th>\(Markup.escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for r in rows {
            out += "<tr>"
            for (j, c) in r.enumerated() {
                out += numericColumns.contains(j) ? "<td class=\"num\">\(Markup.escape(c))</td>" : "<td>\(Markup.escape(c))</td>"
            }
            out += "</tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }
}

/// One self-contained HTML page: inline CSS and inline SVG, no scripts, no fonts, no images,
/// no URL of any kind, so it opens offline and can be attached to a paper's supplement.
public struct HTMLDocument: Sendable {
    public enum Block: Sendable {
        case figure(Figure, caption: String?)
        case table(Table)
        case paragraph(String)
        case preformatted(String)
    }

    public struct Section: Sendable {
        public var id: String
        public var heading: String
        public var blocks: [Block]
        public init(id: String, heading: String, blocks: [Block]) {
            self.id = id
            self.heading = heading
            self.blocks = blocks
        }
    }

    public var title: String
    public var subtitle: String?
    public var sections: [Section]

    public init(title: String, subtitle: String? = nil, sections: [Section] = []) {
        self.title = title
        self.subtitle = subtitle
        self.sections = sections
    }

    static let css = """
    body { font-family: Helvetica, Arial, sans-serif; color: #222; background: #fff; margin: 0 auto; max-width: 1000px; padding: 16px 24px 48px; }
    h1 { font-size: 22px; margin: 8px 0 4px; }
    h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
    p { font-size: 14px; line-height: 1.4; }
    p.subtitle { color: #555; margin: 0 0 12px; font-size: 15px; }
    nav { font-size: 13px; margin: 8px 0 16px; }
    nav a { color: #2b5d8c; margin-right: 12px; text-decoration: none; }
    figure { margin: 8px 0 20px; }
    figure svg { width: 100%; height: auto; display: block; }
    figcaption { font-size: 13px; color: #444; margin-top: 4px; }
    table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
    caption { text-align: left; font-weight: bold; padding: 4px 0; }
    th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #f2f2f2; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
    """

    /// The page. Element ids come from section and figure ids (escaped).
    public func render() -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>\(Markup.escape(title))</title>\n<style>\n\(HTMLDocument.css)\n</style>\n</head>\n<body>\n"
        out += "<h1>\(Markup.escape(title))</h1>\n"
        if let s = subtitle { out += "<p class=\"subtitle\">\(Markup.escape(s))</p>\n" }
        if sections.count > 1 {
            out += "<nav>" + sections.map { "<a href=\"#\(Markup.escape($0.id))\">\(Markup.escape($0.heading))</a>" }.joined(separator: " ") + "</nav>\n"
        }
        for s in sections {
            out += "<section id=\"\(Markup.escape(s.id))\">\n<h2>\(Markup.escape(s.heading))</h2>\n"
            for b in s.blocks {
                switch b {
                case let .figure(f, caption):
                    out += "<figure>\n" + f.svg(standalone: false)
                    if let c = caption { out += "<figcaption>\(Markup.escape(c))</figcaption>\n" }
                    out += "</figure>\n"
                case let .table(t):
                    out += t.html()
                case let .paragraph(p):
                    out += "<p>\(Markup.escape(p))</p>\n"
                case let .preformatted(p):
                    out += "<pre>\(Markup.escape(p))</pre>\n"
                }
            }
            out += "</section>\n"
        }
        out += "</body>\n</html>\n"
        return out
    }
}
