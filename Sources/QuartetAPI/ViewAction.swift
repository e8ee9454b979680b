/// A nation's (or the UK's) action with its status (`Action` in docs/openapi.yaml).
public struct ViewAction: Codable, Sendable, Equatable {
    public var log: String
    public var id: String
    public var priority: String
    public var title: String
    public var ukActions: [String]
    /// How many times the action was revised after it was first planned.
    public var revisions: Int
    /// `status:<log>:<action>`.
    public var figure: String
    /// How many evidence items it has.
    public var evidence: Int
    public var timeframe: String?
    /// Null on the wire when no status was reported; `asOf` and `note` come with it.
    public var status: String?
    public var asOf: String?
    public var note: String?
    public var withdrawn: ViewWithdrawal?
    /// In the priority and nation answers: the action's measures with their latest reading.
    public var measures: [ViewMeasure]?
    /// In the nation answer only.
    public var evidenceItems: [ViewEvidence]?

    public init(log: String, id: String, priority: String, title: String, ukActions: [String], revisions: Int, figure: String,
                evidence: Int, timeframe: String? = nil, status: String? = nil, asOf: String? = nil, note: String? = nil,
                withdrawn: ViewWithdrawal? = nil, measures: [ViewMeasure]? = nil, evidenceItems: [ViewEvidence]? = nil) {
        self.log = log
        self.id = id
        self.priority = priority
        self.title = title
        self.ukActions = ukActions
        self.revisions = revisions
        self.figure = figure
        self.evidence = evidence
        self.timeframe = timeframe
        self.status = status
        self.asOf = asOf
        self.note = note
        self.withdrawn = withdrawn
        self.measures = measures
        self.evidenceItems = evidenceItems
    }

    enum CodingKeys: String, CodingKey {
        case log, id, priority, title, revisions, figure, evidence, timeframe, status, note, withdrawn, measures
        case ukActions = "uk_actions"
        case asOf = "as_of"
        case evidenceItems = "evidence_items"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(log, forKey: .log)
        try c.encode(id, forKey: .id)
        try c.encode(priority, forKey: .priority)
        try c.encode(title, forKey: .title)
        try c.encode(ukActions, forKey: .ukActions)
        try c.encode(revisions, forKey: .revisions)
        try c.encode(figure, forKey: .figure)
        try c.encode(evidence, forKey: .evidence)
        try c.encodeIfPresent(timeframe, forKey: .timeframe)
        try c.encode(status, forKey: .status)  // null when none
        try c.encodeIfPresent(asOf, forKey: .asOf)
        try c.encodeIfPresent(note, forKey: .note)
        try c.encodeIfPresent(withdrawn, forKey: .withdrawn)
        try c.encodeIfPresent(measures, forKey: .measures)
        try c.encodeIfPresent(evidenceItems, forKey: .evidenceItems)
    }
}

/// Why and when an action was withdrawn.
public struct ViewWithdrawal: Codable, Sendable, Equatable {
    public var reason: String
    public var asOf: String
    public init(reason: String, asOf: String) {
        self.reason = reason
        self.asOf = asOf
    }
    enum CodingKeys: String, CodingKey {
        case reason
        case asOf = "as_of"
    }
}

/// One evidence item of an action.
public struct ViewEvidence: Codable, Sendable, Equatable {
    public var kind: String
    public var title: String
    public var link: String
    public var entry: ViewEntryPointer
    public init(kind: String, title: String, link: String, entry: ViewEntryPointer) {
        self.kind = kind
        self.title = title
        self.link = link
        self.entry = entry
    }
}

/// A measure of one log (`Measure`): with its latest reading in an action, with its readings
/// in the measure answer.
public struct ViewMeasure: Codable, Sendable, Equatable {
    public var id: String
    public var log: String
    public var text: String
    /// count, percentage, milestone, distribution or qualitative.
    public var kind: String
    public var unit: String?
    public var ukMeasure: String?
    public var cadence: String?
    public var target: ViewTarget?
    /// A count measure's rule over periods: "latest" for a level (a headcount: a year is its
    /// latest period's reading); none is "sum".
    public var overTime: String?
    public var latest: ViewReading?
    public var readings: [ViewReading]?

    public init(id: String, log: String, text: String, kind: String, unit: String? = nil, ukMeasure: String? = nil,
                cadence: String? = nil, target: ViewTarget? = nil, overTime: String? = nil, latest: ViewReading? = nil, readings: [ViewReading]? = nil) {
        self.id = id
        self.log = log
        self.text = text
        self.kind = kind
        self.unit = unit
        self.ukMeasure = ukMeasure
        self.cadence = cadence
        self.target = target
        self.overTime = overTime
        self.latest = latest
        self.readings = readings
    }

    enum CodingKeys: String, CodingKey {
        case id, log, text, kind, unit, cadence, target, latest, readings
        case ukMeasure = "uk_measure"
        case overTime = "over_time"
    }
}

/// A measure's target as the plan states it.
public struct ViewTarget: Codable, Sendable, Equatable {
    public var value: Double
    /// "year", or the plan's period word.
    public var per: String
    public var scope: String?
    public var quote: String?
    public init(value: Double, per: String, scope: String? = nil, quote: String? = nil) {
        self.value = value
        self.per = per
        self.scope = scope
        self.quote = quote
    }

    /// A yearly target for the UK as a whole, the one a UK total of a year is set against (one
    /// per nation, `scope: nation`, is not: against the four nations' sum it overstated progress
    /// up to 4×; one per quarter or month is not a year's).
    public var isUKYearly: Bool { per == "year" && scope != "nation" }
}

/// One reading of a measure for a period (`Reading`): exactly one of value, achieved,
/// categories and text, as the measure's kind says.
public struct ViewReading: Codable, Sendable, Equatable {
    /// 2025, 2025-Q2 or 2025-03.
    public var period: String
    /// `reading:<log>:<measure>:<period>`.
    public var figure: String
    public var entry: ViewEntryPointer
    public var value: Double?
    public var achieved: Bool?
    public var categories: [String: Double]?
    public var text: String?
    public var note: String?
    /// How many earlier readings of the period this one replaced; absent when none.
    public var replaced: Int?
    /// The measure's kind when the reading was admitted, where the measure has another kind
    /// now (redefined since): such a reading is in the tables, not in charts or UK totals.
    public var admittedAs: String?

    enum CodingKeys: String, CodingKey {
        case period, figure, entry, value, achieved, categories, text, note, replaced
        case admittedAs = "admitted_as"
    }

    public init(period: String, figure: String, entry: ViewEntryPointer, value: Double? = nil, achieved: Bool? = nil,
                categories: [String: Double]? = nil, text: String? = nil, note: String? = nil, replaced: Int? = nil, admittedAs: String? = nil) {
        self.period = period
        self.figure = figure
        self.entry = entry
        self.value = value
        self.achieved = achieved
        self.categories = categories
        self.text = text
        self.note = note
        self.replaced = replaced
        self.admittedAs = admittedAs
    }
}
