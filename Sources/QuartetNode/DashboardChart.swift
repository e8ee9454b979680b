import Foundation
import QuartetPlan

/// A bar chart in SVG: categories along the bottom, one colour per series, bars stacked or side
/// by side, an optional dashed target line, and a key. Pure: the same input gives the same
/// text; every label is escaped (`HTMLText.escape`), so a hostile category or series name stays text.
struct BarChart: Sendable {
    struct Series: Sendable {
        /// Shown in the key and each bar's tooltip.
        var name: String
        /// A CSS colour.
        var colour: String
        /// One value per category; nil or ≤ 0 draws no bar.
        var values: [Double?]
    }

    var categories: [String]
    var series: [Series]
    var stacked: Bool
    var target: Double?
    /// Per category, a page its bars link to (a year's readings): each category's column, full
    /// height, is one link, so a short bar is still a target of at least 24 px. Links are drawn
    /// only when every column is that wide; the chart is then a group of links, not an image.
    var links: [String?] = []

    static let minimumTarget = 24.0

    static let width = 420.0, height = 190.0, left = 36.0, bottom = 26.0, top = 10.0
    static var plotWidth: Double { width - left - 8 }
    static var plotHeight: Double { height - bottom - top }

    /// The top of the value axis: a round number at or above every bar (stacked: every stack)
    /// and the target, with 5 % headroom.
    var maxValue: Double {
        var highest = target ?? 0
        for i in categories.indices {
            let values = series.map { i < $0.values.count ? ($0.values[i] ?? 0) : 0 }
            highest = max(highest, stacked ? values.reduce(0, +) : (values.max() ?? 0))
        }
        return Self.niceCeiling(highest * 1.05)
    }

    /// The chart's text alternative (its `aria-label`): every category's values by series, at
    /// most `maxDescription` characters (the measure page also has the full table).
    var description: String {
        var parts: [String] = []
        for (i, category) in categories.enumerated() {
            let values = series.compactMap { s -> String? in
                guard i < s.values.count, let v = s.values[i] else { return nil }
                return "\(s.name) \(ViewQueries.number(v))"
            }
            if !values.isEmpty { parts.append("\(category): \(values.joined(separator: ", "))") }
        }
        var text = parts.isEmpty ? "Bar chart with no values" : "Bar chart. " + parts.joined(separator: "; ")
        if let target { text += "; target \(ViewQueries.number(target))" }
        if text.count > Self.maxDescription { text = String(text.prefix(Self.maxDescription - 1)) + "…" }
        return text
    }

    static let maxDescription = 600

    /// The `<svg>` element followed by the key (`<p class=keys>`).
    func svg() -> String {
        let (width, height, left, top) = (Self.width, Self.height, Self.left, Self.top)
        let plotW = Self.plotWidth, plotH = Self.plotHeight
        let maxValue = self.maxValue
        let slot = plotW / Double(max(categories.count, 1))
        let linked = !links.isEmpty && links.count == categories.count && slot >= Self.minimumTarget && links.contains { $0 != nil }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\(linked ? "group" : "img") aria-label=\"\(e(description))\" xmlns=\"http://www.w3.org/2000/svg\">"
        for step in 0...4 {
            let v = maxValue * Double(step) / 4
            let y = top + plotH - plotH * Double(step) / 4
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 8))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e3e5e8\"/>"
            svg += "<text x=\"\(f(left - 4))\" y=\"\(f(y + 3))\" text-anchor=end class=ax>\(ViewQueries.approximate(v))</text>"
        }
        for (i, category) in categories.enumerated() {
            let x0 = left + slot * Double(i)
            var base = 0.0
            let barCount = Double(max(series.count, 1))
            for (j, s) in series.enumerated() {
                guard i < s.values.count, let value = s.values[i], value > 0 else { continue }
                let h = plotH * value / maxValue
                let x: Double, w: Double, y: Double
                if stacked {
                    w = slot * 0.6
                    x = x0 + slot * 0.2
                    y = top + plotH - plotH * (base + value) / maxValue
                    base += value
                } else {
                    w = slot * 0.8 / barCount
                    x = x0 + slot * 0.1 + w * Double(j)
                    y = top + plotH - h
                }
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(max(w, 1)))\" height=\"\(f(h))\" fill=\"\(e(s.colour))\"><title>\(e(s.name)) \(e(category)): \(ViewQueries.number(value))</title></rect>"
            }
            if categories.count <= 16 || i % max(1, categories.count / 12) == 0 {
                svg += "<text x=\"\(f(x0 + slot / 2))\" y=\"\(f(height - 8))\" text-anchor=middle class=ax>\(e(category))</text>"
            }
        }
        if linked {
            for (i, link) in links.enumerated() {
                guard let link else { continue }
                let values = series.compactMap { s -> String? in i < s.values.count ? s.values[i].map { "\(s.name) \(ViewQueries.number($0))" } : nil }
                let label = "\(categories[i]): \(values.isEmpty ? "no values" : values.joined(separator: ", ")) — see the readings"
                svg += "<a href=\"\(e(link))\" aria-label=\"\(e(label))\"><rect class=col x=\"\(f(left + slot * Double(i)))\" y=\"\(f(top))\" width=\"\(f(slot))\" height=\"\(f(plotH))\" fill=\"transparent\"/></a>"
            }
        }
        if let target {
            let y = top + plotH - plotH * target / maxValue
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - 8))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#111\" stroke-dasharray=\"5 4\" stroke-width=\"1.5\"/>"
            svg += "<text x=\"\(f(width - 10))\" y=\"\(f(y - 4))\" text-anchor=end class=tg>target \(ViewQueries.number(target))</text>"
        }
        svg += "</svg><p class=keys>"
        for s in series { svg += "<span><i style=\"background:\(e(s.colour))\"></i>\(e(s.name))</span>" }
        return svg + "</p>"
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
    private func e(_ text: String) -> String { HTMLText.escape(text) }

    /// The smallest of 1, 2, 4, 5 or 8 times a power of ten at or above `v` (at least 1), so the
    /// four grid steps fall on round numbers.
    static func niceCeiling(_ v: Double) -> Double {
        guard v > 1 else { return 1 }
        let magnitude = pow(10, floor(log10(v)))
        for m in [1.0, 2, 4, 5, 8, 10] where m * magnitude >= v { return m * magnitude }
        return 10 * magnitude
    }
}

/// HTML escaping for element content and quoted attributes.
enum HTMLText {
    /// Escapes by Unicode scalar: a `Character` can merge `<` with a preceding prepend mark
    /// (U+0600) or a following combining mark into one grapheme that compares unequal to "<",
    /// and would be copied through (swift-mustache's own HTML escaping walks Characters, so the
    /// dashboard's template uses this one). Control characters other than tab and newline,
    /// and the bidirectional overrides and isolates (an entry's author or a peer's alert may
    /// hold them: they would reorder the rest of the line it is shown in), become U+FFFD.
    static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            case "\t", "\n": out.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) {
                    out.append("\u{FFFD}")
                } else {
                    out.append(scalar)
                }
            }
        }
        return String(out)
    }
}
