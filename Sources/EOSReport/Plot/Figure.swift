import Foundation

/// How a series is drawn.
public enum SeriesStyle: Sendable, Equatable {
    /// A polyline through the points, broken where a value is not drawable (NaN, ≤ 0 on log).
    case line
    /// A small circle at each point (scatter plots, anomaly points).
    case markers
}

/// One named series of (x, y) points. Every series appears in its panel's legend.
public struct Series: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// Any SVG colour (e.g. "#4e79a7").
    public var color: String
    public var style: SeriesStyle
    public var dashed: Bool
    /// Empty, or one flag per point: flagged points survive decimation.
    public var mustKeep: [Bool]
    /// Marker radius in px (markers only).
    public var markerRadius: Double

    /// - Precondition: `x.count == y.count` and `mustKeep` is empty or has the same count.
    public init(name: String, x: [Double], y: [Double], color: String, style: SeriesStyle = .line,
                dashed: Bool = false, mustKeep: [Bool] = [], markerRadius: Double = 2.5) {
        precondition(x.count == y.count, "Series \(name): x and y must have the same count")
        precondition(mustKeep.isEmpty || mustKeep.count == x.count, "Series \(name): mustKeep count")
        self.name = name
        self.x = x
        self.y = y
        self.color = color
        self.style = style
        self.dashed = dashed
        self.mustKeep = mustKeep
        self.markerRadius = markerRadius
    }
}

/// A horizontal line at a fixed y (e.g. 2/η), labelled on the plot and in the legend.
public struct ReferenceLine: Sendable {
    public var y: Double
    public var label: String
    public var color: String
    public init(y: Double, label: String, color: String = "#555555") {
        self.y = y
        self.label = label
        self.color = color
    }
}

/// A shaded x-interval [start, end] (e.g. a phase). Intervals sharing a label share one
/// legend entry. A `band` interval is drawn as a strip along the top of the plot, over the
/// background shading (a regime that overlaps the phases, such as a hover), not as background.
public struct ShadedInterval: Sendable {
    public var start: Double
    public var end: Double
    public var label: String
    public var color: String
    public var band: Bool
    public init(start: Double, end: Double, label: String, color: String, band: Bool = false) {
        self.start = start
        self.end = end
        self.label = label
        self.color = color
        self.band = band
    }
}

/// One plot area with its own y-axis. Panels of a `Figure` are stacked and share the x-axis.
public struct Panel: Sendable {
    public var title: String?
    public var yLabel: String
    public var yScale: AxisScaleChoice
    public var series: [Series]
    public var referenceLines: [ReferenceLine]
    public var shaded: [ShadedInterval]
    /// Plot-area height in px (viewBox units).
    public var height: Double
    /// Force the y-domain to include these values (e.g. 0).
    public var includeY: [Double]

    public init(title: String? = nil, yLabel: String, yScale: AxisScaleChoice = .automatic,
                series: [Series] = [], referenceLines: [ReferenceLine] = [],
                shaded: [ShadedInterval] = [], height: Double = 230, includeY: [Double] = []) {
        self.title = title
        self.yLabel = yLabel
        self.yScale = yScale
        self.series = series
        self.referenceLines = referenceLines
        self.shaded = shaded
        self.height = height
        self.includeY = includeY
    }

    /// The scale this panel's y-axis uses (resolving `.automatic` from its series and lines).
    public var resolvedYScale: AxisScale {
        switch yScale {
        case .linear: return .linear
        case .log: return .log
        case .automatic:
            return Axis.automaticScale(for: series.lazy.flatMap { $0.y })
        }
    }
}

/// A figure: a title, one or more stacked panels sharing one x-axis, a legend per panel.
/// Renders to SVG with a fixed viewBox (`width` × computed height) that scales to its container.
public struct Figure: Sendable {
    /// Prefix for anything that must be unique in an HTML page (currently only used in `id`).
    public var id: String
    public var title: String
    public var xLabel: String
    public var xScale: AxisScaleChoice
    public var panels: [Panel]
    /// viewBox width; the plot area is `width - margins - legend`.
    public var width: Double
    /// Log axes span the data (padded 3 %), not whole decades: for scatter plots, whose points
    /// would otherwise fill a corner of the panel.
    public var tightLogAxes = false

    public init(id: String, title: String, xLabel: String, xScale: AxisScaleChoice = .linear,
                panels: [Panel], width: Double = 900, tightLogAxes: Bool = false) {
        self.tightLogAxes = tightLogAxes
        self.id = id
        self.title = title
        self.xLabel = xLabel
        self.xScale = xScale
        self.panels = panels
        self.width = width
    }
}

/// Default categorical colours (Tableau 10), readable on white.
public enum Palette {
    public static let blue = "#4e79a7"
    public static let orange = "#f28e2b"
    public static let red = "#e15759"
    public static let teal = "#76b7b2"
    public static let green = "#59a14f"
    public static let yellow = "#edc948"
    public static let purple = "#b07aa1"
    public static let pink = "#ff9da7"
    public static let brown = "#9c755f"
    public static let gray = "#79706e"
    public static let categorical = [blue, orange, red, teal, green, yellow, purple, pink, brown, gray]
    /// Light shades for the four phases I–IV (background fills).
    public static let phase = ["#dbe9f6", "#fde3c4", "#f9c9c9", "#d6ecd2"]
    /// The hover band (a strip over the phase shading).
    public static let hover = "#6a51a3"
}
