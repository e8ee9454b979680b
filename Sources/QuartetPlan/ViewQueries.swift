import Foundation
import QuartetAPI

/// What the node knows of a log beyond its entries: whether what it holds verified and the
/// alerts raised about it.
public struct LogHealth: Sendable {
    public var verified: Bool
    public var alerts: [String]
    public init(verified: Bool, alerts: [String]) {
        self.verified = verified
        self.alerts = alerts
    }
}

/// The queries over the view, as QuartetAPI's typed answers (docs/openapi.yaml describes their
/// JSON) and CSV tables. Figures carry an id that `/v1/view/figures/{id}/provenance` resolves
/// to the entries behind them. By part: ViewQueries+Summary (the whole view, log summaries,
/// totals, aggregates), +Priority (the matrix), +Action (actions, measures, readings),
/// +Measure (nation and measure answers), +Provenance, +CSV.
public struct ViewQueries {
    public let view: StrategyView
    public let health: [String: LogHealth]
    public let nowMillis: UInt64
    /// Log names in display order: the UK log first, then the nations as configured.
    public let order: [String]

    /// Whether an aggregate of `label` held by `log` (its payload names the agreement it was made
    /// under; `recorded` is its entry's time) is published (`Policy.publishes`: an agreement in
    /// force covers it, gives some node access and asks no more suppression than the maker
    /// applied, the maker's method is the label's now, and the table is one that method makes).
    /// Others stay the holder's (default: all are).
    public var published: @Sendable (_ log: String, _ label: String, _ index: UInt64, _ aggregate: HeldAggregate) -> Bool = { _, _, _, _ in true }

    /// The aggregate at `log`/`index` if the view holds it and it is published.
    func publishedAggregate(log: String, index: UInt64) -> HeldAggregate? {
        guard let held = view.logs[log]?.aggregates[index], case .object(let fields) = held.payload, case .string(let label)? = fields["label"],
              published(log, label, index, held) else { return nil }
        return held
    }

    public init(view: StrategyView, health: [String: LogHealth], nowMillis: UInt64, order: [String]) {
        self.view = view
        self.health = health
        self.nowMillis = nowMillis
        let known = Set(order)
        // Only the logs that count (the members listed now, and the UK log): a removed member's
        // log is still held and folded, but is no nation of the view (finding 234).
        self.order = (order + view.logs.keys.filter { !known.contains($0) }.sorted()).filter(view.counts)
    }

    public static func displayName(_ log: String) -> String {
        switch log {
        case "uk": return "UK"
        case "wales": return "Wales"
        case "england": return "England"
        case "scotland": return "Scotland"
        case "northern-ireland": return "Northern Ireland"
        default: return log
        }
    }

    /// The nations (logs other than the UK log) in display order.
    public var nations: [String] { order.filter { $0 != view.ukLog } }

    /// A figure as written in CSV, tables and headlines: exactly, as the shortest decimal that
    /// reads back as the same double, never with an exponent (a reading of 99.995 was "100", a
    /// total of 123,456.5 "1.235e+05").
    public static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        guard v.isFinite else { return "\(v)" }
        return plainDecimal("\(v)")
    }

    /// A share (0 to 1) as a whole percentage for a cell or a summary: rounded, except that
    /// 100 is only everything and 0 only nothing (199 of 200 actions on track read "100 %").
    public static func wholePercent(_ share: Double) -> Int {
        guard share.isFinite else { return 0 }
        let rounded = Int((min(max(share, 0), 1) * 100).rounded())
        if share < 1, rounded == 100 { return 99 }
        if share > 0, rounded == 0 { return 1 }
        return rounded
    }

    /// A distribution's categories as one text (CSV cell, table cell, terminal line), names in
    /// order, each `name<pair>value`, joined by `separator`. A name holding a character of the
    /// pair or the separator other than a blank (`=` and `;` in CSV, `:` and `,` on the pages), a
    /// quote or a backslash, or with blanks at its ends, is written as a JSON string
    /// (`"Band 6=40; Band 7"=2`): else a category named so reads as more categories, with
    /// values the entry does not hold. Other names are written as they are.
    public static func categories(_ c: [String: Double], pair: String = "=", separator: String = "; ") -> String {
        let special = Set((pair + separator).unicodeScalars.filter { !$0.properties.isWhitespace } + ["\"", "\\"])
        return c.keys.sorted().map { name in
            let plain = !name.isEmpty && !name.first!.isWhitespace && !name.last!.isWhitespace
                && !name.unicodeScalars.contains { special.contains($0) || unclear($0) }
            return (plain ? name : quoted(name)) + pair + number(c[name]!)
        }.joined(separator: separator)
    }

    /// A character a name must not show raw beside others: a control, an invisible character
    /// or one that reads as a separator (`ShownText.unclearName`; names recorded before the
    /// append refused them).
    static func unclear(_ scalar: Unicode.Scalar) -> Bool {
        ShownText.isControl(scalar) || ShownText.isInvisible(scalar) || scalar.properties.isDefaultIgnorableCodePoint || ShownText.readsAsSeparator(scalar)
    }

    /// `name` as a JSON string (the writer's escapes), its unclear characters escaped too
    /// (`\u200f`): seen, not obeyed.
    static func quoted(_ name: String) -> String {
        var bytes: [UInt8] = []
        JSONWriter.writeString(name, to: &bytes)
        var out = String.UnicodeScalarView()
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            guard unclear(scalar) else { out.append(scalar); continue }
            for unit in String(scalar).utf16 { out.append(contentsOf: ("\\u" + String(unit, radix: 16).leftPadded(to: 4)).unicodeScalars) }
        }
        return String(out)
    }

    /// A chart's axis label, short enough for its margin: four significant digits with no
    /// exponent, from 10,000 on three, with k, M or bn.
    public static func approximate(_ v: Double) -> String {
        guard v.isFinite else { return number(v) }
        // (Thresholds where three digits round up into the next unit: 999,999 is "1M", not "1000k".)
        for (from, scale, suffix) in [(999_500_000.0, 1e9, "bn"), (999_500, 1e6, "M"), (1e4, 1e3, "k")] where abs(v) >= from {
            let shown = v / scale
            return (Double(String(format: "%.3g", shown)).map(number) ?? number(shown)) + suffix
        }
        guard let rounded = Double(String(format: "%.4g", v)) else { return number(v) }
        return number(rounded)
    }

    /// Swift's shortest round-trip form of a double (`1.5`, `1e-05`, `1.2345e+16`) written out
    /// without its exponent.
    static func plainDecimal(_ shortest: String) -> String {
        let e = shortest.firstIndex { $0 == "e" || $0 == "E" } ?? shortest.endIndex
        // (No exponent: written as it is, less a trailing ".0" — Swift writes 1e15 "1000000000000000.0".)
        guard let exponent = e == shortest.endIndex ? 0 : Int(shortest[shortest.index(after: e)...]) else { return shortest }
        var mantissa = shortest[..<e]
        let negative = mantissa.first == "-"
        if negative { mantissa = mantissa.dropFirst() }
        let point = mantissa.firstIndex(of: ".").map { mantissa.distance(from: mantissa.startIndex, to: $0) } ?? mantissa.count
        var digits = Array(mantissa.filter { $0 != "." })
        // Where the point falls among the digits once the exponent is applied.
        var at = point + exponent
        if at <= 0 {
            digits = Array(repeating: "0", count: 1 - at) + digits
            at = 1
        } else if at > digits.count {
            digits += Array(repeating: "0", count: at - digits.count)
        }
        var whole = String(digits[..<at]), fraction = String(digits[at...])
        while fraction.last == "0" { fraction.removeLast() }
        while whole.count > 1, whole.first == "0" { whole.removeFirst() }
        return (negative ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// Orders plan ids numerically part by part (P2.A10 after P2.A9).
    public static func idOrder(_ a: String, _ b: String) -> Bool {
        let pa = a.split(separator: "."), pb = b.split(separator: ".")
        for (x, y) in zip(pa, pb) where x != y {
            if let nx = Int(x.dropFirst()), let ny = Int(y.dropFirst()), x.first == y.first { return nx < ny }
            return x < y
        }
        return pa.count < pb.count
    }

    /// A duration in seconds as pages and the CLI write an age ("42 s", "3 min", "5 h", "2 days").
    public static func age(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "a very long time" }
        if seconds < 90 { return "\(Int(seconds)) s" }
        if seconds < 5400 { return "\(Int(seconds / 60)) min" }
        if seconds < 172_800 { return "\(Int(seconds / 3600)) h" }
        return "\(Int(seconds / 86400)) days"
    }

    /// A time in milliseconds since 1970 as ISO 8601, written out by hand (UTC, `yyyy-MM-ddTHH:mm:ss.SSSZ`, as `ISO8601DateFormatter` with
    /// internet date-time and fractional seconds writes it): making a formatter per call was a
    /// sixth of a web page's render. Days to a civil date by Howard Hinnant's algorithm.
    public static func iso(_ millis: UInt64) -> String {
        // Times come from entries a writer chose: clamped to 9999-12-31T23:59:59Z.
        let clamped = min(millis, 253_402_300_799_000)
        let seconds = Int(clamped / 1000), fraction = Int(clamped % 1000)
        let (year, month, day) = PlanDate.civil(fromDays: seconds / 86_400)
        let second = seconds % 86_400, pad = PlanDate.pad
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(second / 3600, 2)):\(pad(second / 60 % 60, 2)):\(pad(second % 60, 2)).\(pad(fraction, 3))Z"
    }
}
