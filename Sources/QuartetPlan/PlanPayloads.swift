import Foundation
import QuartetAPI

// MARK: Payloads (decoded leniently by the fold; validated strictly on append)

public struct PriorityPayload: Codable, Sendable, Equatable {
    public var id: String
    public var number: Int?
    public var title: String
    public var goals: [String]?
}

public struct Timeframe: Codable, Sendable, Equatable {
    public var text: String?
    public var start_year: Int?
    public var end_year: Int?
}

public struct ActionPayload: Codable, Sendable, Equatable {
    public var id: String
    public var priority: String
    public var statements: [String]
    public var measures: [String]?
    public var timeframe: Timeframe?
    public var uk_actions: [String]?
    public var source: String?
    /// Only on `plan.action.revised`: why it changed.
    public var reason: String?

    /// The first statement, as a title.
    public var title: String { statements.first ?? id }
}

public struct WithdrawalPayload: Codable, Sendable, Equatable {
    public var id: String
    public var reason: String
    public var as_of: String
}

/// A measure's target: the view shows it as the plan states it, so it is one type with the API's.
public typealias Target = ViewTarget

public struct MeasurePayload: Codable, Sendable, Equatable {
    public var id: String
    public var action: String
    public var text: String
    public var kind: MeasureKind
    public var unit: String?
    public var uk_measure: String?
    public var target: Target?
    public var cadence: Cadence?
    /// Count measures only; none is `sum`.
    public var over_time: OverTime?
}

public struct StatusPayload: Codable, Sendable, Equatable {
    public var action: String
    public var status: ActionStatus
    public var note: String?
    public var as_of: String
    public init(action: String, status: ActionStatus, note: String? = nil, as_of: String) {
        self.action = action
        self.status = status
        self.note = note
        self.as_of = as_of
    }
}

public struct ReadingPayload: Codable, Sendable, Equatable {
    public var measure: String
    public var period: String
    public var value: Double?
    public var achieved: Bool?
    public var categories: [String: Double]?
    public var text: String?
    public var note: String?
    public init(measure: String, period: String, value: Double? = nil, achieved: Bool? = nil, categories: [String: Double]? = nil,
                text: String? = nil, note: String? = nil) {
        self.measure = measure
        self.period = period
        self.value = value
        self.achieved = achieved
        self.categories = categories
        self.text = text
        self.note = note
    }
}

public struct EvidencePayload: Codable, Sendable, Equatable {
    public var action: String
    public var kind: EvidenceKind
    public var title: String
    public var link: String
    public var summary: String?
    public var date: String?
}
