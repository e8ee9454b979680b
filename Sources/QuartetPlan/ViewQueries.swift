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

    /// Whether an aggregate of `label` held by `log` is published: some agreement in force gives
    /// some node access to it. Others stay the holder's (default: all are).
    public var published: @Sendable (_ log: String, _ label: String) -> Bool = { _, _ in true }

    public init(view: StrategyView, health: [String: LogHealth], nowMillis: UInt64, order: [String]) {
        self.view = view
        self.health = health
        self.nowMillis = nowMillis
        let known = Set(order)
        self.order = order + view.logs.keys.filter { !known.contains($0) }.sorted()
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

    public static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.4g", v)
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

    public static func iso(_ millis: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // Times come from entries a writer chose: clamped to 9999-12-31T23:59:59Z.
        return formatter.string(from: Date(timeIntervalSince1970: Double(min(millis, 253_402_300_799_000)) / 1000))
    }
}
