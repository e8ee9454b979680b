import Foundation
import QuartetAPI

/// The entry types of the action-plan domain (docs/entries.md). Each names its payload schema.
public enum PlanEntryType: String, CaseIterable, Sendable {
    case priority = "plan.priority"
    case action = "plan.action"
    case actionRevised = "plan.action.revised"
    case actionWithdrawn = "plan.action.withdrawn"
    case measure = "plan.measure"
    case status = "progress.status"
    case reading = "progress.reading"
    case evidence = "progress.evidence"
}

/// The kinds of measure (measures-catalogue.yaml's value types, folded into five).
public enum MeasureKind: String, CaseIterable, Sendable, Codable {
    case count, percentage, milestone, distribution, qualitative
}

/// The states of an action's progress.
public enum ActionStatus: String, CaseIterable, Sendable, Codable {
    case notStarted = "not-started", onTrack = "on-track", atRisk = "at-risk", offTrack = "off-track", done
}

public enum EvidenceKind: String, CaseIterable, Sendable, Codable {
    case caseStudy = "case-study", improvementJourney = "improvement-journey", impactExample = "impact-example", report, other
}

public enum Cadence: String, CaseIterable, Sendable, Codable {
    case annual, quarterly, monthly, everyThreeYears = "every-three-years"
}

/// How a count measure's readings make a longer period's figure: `sum` (the default: events
/// held, a year is the sum of its quarters) or `latest` (a level that stands at a time — a
/// headcount, a membership — a year is its latest period's reading, a quarter its latest month's).
public enum OverTime: String, CaseIterable, Sendable, Codable {
    case sum, latest
}
