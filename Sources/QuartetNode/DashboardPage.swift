/// What the dashboard's template shows, every value already worded. The template reads these
/// stored properties by name (swift-mustache looks them up by reflection), and escapes every
/// `{{value}}`; only `Chart.svg`, which `BarChart` escaped itself, is inserted raw.
struct DashboardPage {
    struct Badge {
        var name: String
        /// The nation's page.
        var href: String
        var colour: String
        var counts: String
        var verified: Bool
        /// fresh, stale, old or none: the CSS class of the checkpoint's age.
        var freshness: String
        var checkpointAge: String
        var alertCount: String?
        var checkpoint: String?
        /// "witnessed by k of n at size S · age" (docs/witness.md), and whether k is a quorum.
        var witnessed: String
        var witnessQuorum: Bool
    }

    struct Row {
        var id: String
        /// The priority's page.
        var href: String
        var title: String
        var cells: [Cell]
    }

    struct Cell {
        /// The priority's page at this nation's actions.
        var href: String
        var colour: String
        var fill: String
        var empty: Bool
        var percent: Int
        var detail: String
        /// With its oldest update two reporting quarters or more behind the newest in the view
        /// (`ViewCell.stale`): what that newest is, said on the tag.
        var stale: String?
    }

    struct Legend {
        var name: String
        var colour: String
    }

    struct Chart {
        var title: String
        /// The measure's page (nil where there is none).
        var href: String? = nil
        var svg: String
        /// Under a chart of UK totals: the latest.
        var total: Total?
        var note: String?
        /// Set when the measure's readings are text or categories: where to read them.
        var textOnly: String? = nil
    }

    struct Total {
        /// "UK total" (the nations' readings summed) or "UK figure" (the UK log's own reading).
        var label: String = "UK total"
        var year: Int
        var value: String
        /// " of a target of N a year", or empty.
        var target: String
        /// Whose readings it is ("(the sum of Wales, England's readings; none from Scotland)").
        var detail: String = ""
        var figure: String
        var figureHref: String
        /// The year as said: "2025", or "so far in 2026" for the year under way.
        var period: String = ""
    }

    struct Agreement {
        var id: String
        var owner: String
        /// The owner's audit page.
        var ownerHref: String
        var holder: String
        var labels: String
        var recipients: String
        var validFrom: String
        var validUntil: String
        var status: String
        var pill: String
    }

    struct Count {
        /// Nil when suppressed.
        var value: String?
    }

    struct AggregateRow {
        var label: String
        var cells: [Count]
        var total: Count
    }

    struct Aggregate {
        var caption: String
        var columns: [String]
        var rows: [AggregateRow]
        var hidden: String
        var minimum: String
        var rounding: String
        var figure: String
    }

    struct Alert {
        var time: String
        var kind: String
        var message: String
    }

    var title: String
    var node: String
    var role: String
    var generatedAt: String
    var viewer: String
    var badges: [Badge]
    var columns: [String]
    var rows: [Row]
    var columnCount: Int
    var legend: [Legend]
    var targetedCharts: [Chart]
    var sharedCharts: [Chart]
    var localCharts: [Chart]
    var localCount: Int
    var agreements: [Agreement]
    var ignoredAgreements: String?
    var aggregates: [Aggregate]
    var alerts: [Alert]
}
