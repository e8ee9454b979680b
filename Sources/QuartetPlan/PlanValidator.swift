import Foundation
import QuartetAPI

// MARK: Validation on append

/// What the validator may ask about the log being appended to: the actions and measures it
/// already holds (so a reading names a measure of this log, and its value fits the measure's kind).
public protocol PlanContext {
    /// Whether this log takes `plan.priority` entries (only the UK plan's log does).
    var acceptsPriorities: Bool { get }
    func action(_ id: String) -> ActionPayload?
    /// The date (YYYY-MM-DD) as of which `action` was withdrawn, if it was.
    func withdrawnAsOf(_ action: String) -> String?
    func measure(_ id: String) -> MeasurePayload?
    /// The ids of this log's count measures that add up into UK measure `ukMeasure` now.
    func measuresMapped(to ukMeasure: String) -> [String]
}

extension PlanContext {
    func isWithdrawn(_ action: String) -> Bool { withdrawnAsOf(action) != nil }
}

public enum PlanLimits {
    /// Count measures one log may add up into one UK measure. Every reading of that UK measure,
    /// any nation's, sums them all again at every node under the view's lock: unbounded, one
    /// member's thousands of measures mapped to a UK measure made each other nation's reading of
    /// it cost every node that many sums. A plan maps a handful.
    public static let measuresPerUKMeasure = 64
    /// The Unicode scalars of one statement of an action (the plans' longest is under 400).
    public static let statementLength = 4000
}

/// Validates payloads of the plan entry types before they are appended. Errors name the field
/// (`payload.status`) and what was expected.
public enum PlanValidator {
    /// Whether `type` is one of the plan domain's entry types (others are not validated here).
    public static func isPlanType(_ type: String) -> Bool { PlanEntryType(rawValue: type) != nil }

    /// Checks `payload` against the schema of `type` and against `context`.
    public static func validate(type: String, payload: [UInt8], context: any PlanContext) throws(PlanError) {
        guard let kind = PlanEntryType(rawValue: type) else {
            throw PlanError("type: expected one of \(PlanEntryType.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(type)\"")
        }
        try validate(kind, JSONValue.parse(payload), context: context)
    }

    public static func validate(_ type: PlanEntryType, _ value: JSONValue, context: any PlanContext) throws(PlanError) {
        let p = try FieldReader(value, path: "payload")
        switch type {
        case .priority:
            guard context.acceptsPriorities else { throw PlanError("type: plan.priority belongs in the UK plan's log, not this one") }
            try p.refuseUnknown(["id", "number", "title", "goals"])
            _ = try p.matching("id", .priority)
            _ = try p.optionalInteger("number", in: 1...99)
            _ = try p.string("title", maxLength: 500)
            _ = try p.strings("goals", required: false)
        case .action, .actionRevised:
            var known = ["id", "priority", "statements", "measures", "timeframe", "uk_actions", "source"]
            if type == .actionRevised { known.append("reason") }
            try p.refuseUnknown(known)
            let id = try p.matching("id", .action)
            let priority = try p.matching("priority", .priority)
            guard id.hasPrefix(priority + ".") else {
                throw PlanError("payload.priority: action \(id) is numbered under \(id.split(separator: ".")[0]), not \(priority)")
            }
            // Bounded like every other text of a plan (finding 235: a nation's 1 MiB statements
            // under measures mapped to a UK measure filled the total's provenance budget, and the
            // figure failed "How do we know?" for every reader). The page's script checks the same.
            _ = try p.strings("statements", required: true, maxLength: PlanLimits.statementLength)
            let measures = try p.strings("measures", required: false, pattern: .measure)
            for (i, m) in measures.enumerated() where !m.hasPrefix(id + ".") {
                throw PlanError("payload.measures[\(i)]: measure \(m) does not belong to action \(id) (expected \(id).M<n>)")
            }
            _ = try p.strings("uk_actions", required: false, pattern: .action)
            _ = try p.optionalString("source", maxLength: 200)
            if p.has("timeframe") {
                let t = try p.object("timeframe")
                try t.refuseUnknown(["text", "start_year", "end_year"])
                _ = try t.optionalString("text", maxLength: 100)
                let start = try t.optionalInteger("start_year", in: 2000...2100)
                let end = try t.optionalInteger("end_year", in: 2000...2100)
                if let start, let end, end < start { throw PlanError("payload.timeframe.end_year: \(end) is before start_year \(start)") }
            }
            if type == .actionRevised {
                _ = try p.string("reason", maxLength: 2000)
                guard context.action(id) != nil else { throw PlanError("payload.id: this log has no action \(id) to revise") }
            } else if context.action(id) != nil {
                throw PlanError("payload.id: action \(id) already exists in this log; append plan.action.revised to change it")
            }
        case .actionWithdrawn:
            try p.refuseUnknown(["id", "reason", "as_of"])
            let id = try p.matching("id", .action)
            _ = try p.string("reason", maxLength: 2000)
            _ = try p.date("as_of")
            guard context.action(id) != nil else { throw PlanError("payload.id: this log has no action \(id) to withdraw") }
            guard !context.isWithdrawn(id) else { throw PlanError("payload.id: action \(id) is already withdrawn") }
        case .measure:
            try p.refuseUnknown(["id", "action", "text", "kind", "unit", "uk_measure", "target", "cadence", "over_time"])
            let id = try p.matching("id", .measure)
            let action = try p.matching("action", .action)
            guard id.hasPrefix(action + ".") else { throw PlanError("payload.action: measure \(id) belongs to action \(id.split(separator: ".").prefix(2).joined(separator: ".")), not \(action)") }
            guard context.action(action) != nil else { throw PlanError("payload.action: this log has no action \(action); append it first") }
            // A withdrawn action's measures may be defined again (unmapped, say), not added to:
            // a new one would count for an action the plan no longer has.
            let withdrawn = context.isWithdrawn(action), old = context.measure(id)
            if withdrawn, old == nil {
                throw PlanError("payload.action: action \(action) was withdrawn; no new measure is defined under it")
            }
            _ = try p.string("text", maxLength: 2000)
            let kind = MeasureKind(rawValue: try p.oneOf("kind", MeasureKind.allCases.map(\.rawValue)))!
            // Defined again under a withdrawn action: its kind kept, its mapping kept or dropped,
            // never a new one (its readings would start counting in another UK total).
            if withdrawn, let old {
                guard kind == old.kind else { throw PlanError("payload.kind: action \(action) was withdrawn; its measure \(id) keeps its kind (\(old.kind.rawValue))") }
                if p.has("uk_measure") {
                    let uk = try p.matching("uk_measure", .measure)
                    guard uk == old.uk_measure else {
                        throw PlanError("payload.uk_measure: action \(action) was withdrawn; its measure \(id) keeps its mapping (\(old.uk_measure ?? "none")) or drops it")
                    }
                }
            }
            _ = try p.optionalString("unit", maxLength: 200)
            if p.has("uk_measure") {
                let uk = try p.matching("uk_measure", .measure)
                // Only the nations' count measures add up into UK totals (the UK log's own do not).
                if kind == .count, !context.acceptsPriorities {
                    let mapped = context.measuresMapped(to: uk)
                    if !mapped.contains(id), mapped.count >= PlanLimits.measuresPerUKMeasure {
                        throw PlanError("payload.uk_measure: this log adds \(mapped.count) count measures up into \(uk) already, the most one log may (\(PlanLimits.measuresPerUKMeasure)); map this one elsewhere or to none (a measure of a withdrawn action keeps its place: define it again without uk_measure to free it)")
                    }
                }
            }
            if p.has("cadence") { _ = try p.oneOf("cadence", Cadence.allCases.map(\.rawValue)) }
            if p.has("over_time") {
                _ = try p.oneOf("over_time", OverTime.allCases.map(\.rawValue))
                guard kind == .count else { throw PlanError("payload.over_time: only count measures add up over periods; this one is \(kind.rawValue)") }
            }
            if p.has("target") {
                let t = try p.object("target")
                try t.refuseUnknown(["value", "per", "scope", "quote"])
                let value = try t.number("value")
                guard (0...1_000_000_000).contains(value) else { throw PlanError("payload.target.value: expected a number from 0 to 1,000,000,000, got \(value)") }
                if kind == .percentage, value > 100 { throw PlanError("payload.target.value: a percentage target is at most 100, got \(value)") }
                guard kind == .count || kind == .percentage else { throw PlanError("payload.target: only count and percentage measures have a numeric target; this one is \(kind.rawValue)") }
                _ = try t.oneOf("per", ["year", "quarter", "month", "plan"])
                if t.has("scope") { _ = try t.oneOf("scope", ["uk", "nation"]) }
                _ = try t.optionalString("quote", maxLength: 2000)
            }
        case .status:
            try p.refuseUnknown(["action", "status", "note", "as_of"])
            let action = try p.matching("action", .action)
            _ = try p.oneOf("status", ActionStatus.allCases.map(\.rawValue))
            _ = try p.optionalString("note", maxLength: 4000)
            _ = try p.date("as_of")
            try requireLiveAction(action, field: "payload.action", context: context)
        case .reading:
            try p.refuseUnknown(["measure", "period", "value", "achieved", "categories", "text", "note"])
            let id = try p.matching("measure", .measure)
            let period = try p.string("period", maxLength: 10)
            guard Period(period) != nil else { throw PlanError("payload.period: expected a year (2025), a quarter (2025-Q2) or a month (2025-03), got \"\(period)\"") }
            _ = try p.optionalString("note", maxLength: 4000)
            guard let measure = context.measure(id) else { throw PlanError("payload.measure: this log has no measure \(id)") }
            // Readings of periods begun before the action's withdrawal only (late figures of
            // its time); none for the time after, when the plan no longer has it.
            if let asOf = context.withdrawnAsOf(measure.action), let begins = Period(period)?.firstDay, begins > asOf {
                throw PlanError("payload.period: action \(measure.action) was withdrawn as of \(asOf); a reading of its measure \(id) is for a period begun by then, not \(period)")
            }
            let given = ["value", "achieved", "categories", "text"].filter(p.has)
            let expected: String
            switch measure.kind {
            case .count, .percentage: expected = "value"
            case .milestone: expected = "achieved"
            case .distribution: expected = "categories"
            case .qualitative: expected = "text"
            }
            guard given == [expected] else {
                throw PlanError("payload: measure \(id) is a \(measure.kind.rawValue) measure, so a reading carries exactly \"\(expected)\"\(given.isEmpty ? "" : ", got \(given.joined(separator: ", "))")")
            }
            switch measure.kind {
            case .count:
                _ = try p.integer("value", in: 0...1_000_000_000)
            case .percentage:
                let value = try p.number("value")
                guard (0...100).contains(value) else { throw PlanError("payload.value: a percentage is from 0 to 100, got \(value)") }
            case .milestone:
                _ = try p.bool("achieved")
            case .distribution:
                let c = try p.object("categories")
                guard !c.fields.isEmpty else { throw PlanError("payload.categories: expected at least one category") }
                guard c.fields.count <= 1000 else { throw PlanError("payload.categories: at most 1,000 categories, got \(c.fields.count)") }
                for key in c.fields.keys.sorted() {
                    guard !FieldReader.isBlankName(key) else { throw PlanError("payload.categories: a category's name is empty") }
                    try FieldReader.refuseControls(key, at: "payload.categories (a category's name)", lines: false)
                    let n = try c.number(key)
                    guard (0...1_000_000_000).contains(n) else { throw PlanError("payload.categories.\(key): expected a number from 0 to 1,000,000,000, got \(n)") }
                }
            case .qualitative:
                _ = try p.string("text", maxLength: 8000)
            }
        case .evidence:
            try p.refuseUnknown(["action", "kind", "title", "link", "summary", "date"])
            let action = try p.matching("action", .action)
            _ = try p.oneOf("kind", EvidenceKind.allCases.map(\.rawValue))
            _ = try p.string("title", maxLength: 500)
            _ = try p.link("link")
            _ = try p.optionalString("summary", maxLength: 4000)
            if p.has("date") { _ = try p.date("date") }
            try requireLiveAction(action, field: "payload.action", context: context)
        }
    }

    static func requireLiveAction(_ id: String, field: String, context: any PlanContext) throws(PlanError) {
        guard context.action(id) != nil else { throw PlanError("\(field): this log has no action \(id)") }
        guard !context.isWithdrawn(id) else { throw PlanError("\(field): action \(id) was withdrawn") }
    }

    /// At the append only (the API's admission and `quartet append`): refuses a status, a
    /// withdrawal or evidence dated after tomorrow (UTC) of `nowMillis`, and a reading for a
    /// period that has not begun by then. The newest as-of date decides an action's status and
    /// entries are never taken back, so one status typed with a year to come (2062 for 2026)
    /// fixed the action's status until then, and a reading for a year to come stood in that
    /// year's UK total (finding 234). A day's grace for the operator's time zone. Not a fold
    /// rule: a writer dates its own entries, so a log's own times could not bound them, and a
    /// member that writes past its API can state any status of its own actions anyway.
    /// At the append only (the API's admission and `quartet append`): refuses a name readers
    /// tell things apart by — a distribution reading's categories, a measure's unit — that
    /// could read as another or as several (`ShownText.unclearName`: an invisible character,
    /// a separator's look-alike; finding 283). Not a fold rule: entries already written with
    /// such names stay readable (the displays quote and escape them).
    public static func refuseUnclearNames(_ type: PlanEntryType, _ value: JSONValue) throws(PlanError) {
        guard case .object(let fields) = value else { return }
        switch type {
        case .reading:
            guard case .object(let categories)? = fields["categories"] else { return }
            for name in categories.keys.sorted() {
                if let problem = ShownText.unclearName(name) { throw PlanError("payload.categories (a category's name): \(problem)") }
            }
        case .measure:
            if case .string(let unit)? = fields["unit"], let problem = ShownText.unclearName(unit) { throw PlanError("payload.unit: \(problem)") }
        default:
            return
        }
    }

    public static func refuseAhead(_ type: PlanEntryType, _ value: JSONValue, nowMillis: UInt64) throws(PlanError) {
        let dated: String? = switch type {
        case .status, .actionWithdrawn: "as_of"
        case .evidence: "date"
        default: nil
        }
        // (Definitions carry no date: nothing to read or write for them.)
        guard dated != nil || type == .reading, case .object(let fields) = value else { return }
        let tomorrow = String(ViewQueries.iso(min(nowMillis, UInt64.max - 86_400_000) + 86_400_000).prefix(10))
        if let key = dated, case .string(let date)? = fields[key], PlanDate.isValid(date), date > tomorrow {
            let today = String(ViewQueries.iso(nowMillis).prefix(10))
            throw PlanError("payload.\(key): \(date) has not come (today is \(today), UTC); an entry is dated a day that has come — entries are never taken back, and the newest date decides")
        }
        if type == .reading, case .string(let text)? = fields["period"], let period = Period(text), period.firstDay > tomorrow {
            let today = String(ViewQueries.iso(nowMillis).prefix(10))
            throw PlanError("payload.period: \(text) has not begun (today is \(today), UTC); a reading is recorded for a period that has begun — entries are never taken back, and it would count in that period's UK total")
        }
    }
}
