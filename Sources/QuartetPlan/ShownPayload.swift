import Foundation
import QuartetAPI

// MARK: Text checked again by the fold

/// A payload's text that people read (pages, CSV, `quartet view`): the fold refuses an entry
/// whose text holds a control character the append would have refused, so an entry a modified
/// node wrote past its own API's checks is counted unreadable at every other node, not folded
/// (docs/entries.md). Identifiers, dates, periods, links and category names allow none; other
/// text allows tab and newline. The append's checks (`PlanValidator`, `FieldReader`) must refuse
/// at least this much, or an entry appended through the API would be folded nowhere
/// (`theFoldRefusesNothingTheAppendTakes` tries every field).
protocol ShownPayload {
    /// Calls `body` with each text field's name, its text and whether it may hold lines.
    func eachShownText(_ body: (_ field: String, _ text: String, _ lines: Bool) throws(PlanError) -> Void) throws(PlanError)
}

extension ShownPayload {
    /// Throws naming the first field with a control character (what the append would have said).
    func refuseControls() throws(PlanError) {
        try eachShownText { field, text, lines throws(PlanError) in
            // A scan first: the message (and the path) are built only for text that fails.
            guard text.unicodeScalars.contains(where: { ShownText.isControl($0, allowingLines: lines) }) else { return }
            try FieldReader.refuseControls(text, at: "payload." + field, lines: lines)
        }
    }
}

extension PriorityPayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("id", id, false)
        try body("title", title, true)
        for goal in goals ?? [] { try body("goals", goal, true) }
    }
}

extension ActionPayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("id", id, false)
        try body("priority", priority, false)
        for statement in statements { try body("statements", statement, true) }
        for measure in measures ?? [] { try body("measures", measure, false) }
        for uk in uk_actions ?? [] { try body("uk_actions", uk, false) }
        if let text = timeframe?.text { try body("timeframe.text", text, true) }
        if let source { try body("source", source, true) }
        if let reason { try body("reason", reason, true) }
    }
}

extension WithdrawalPayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("id", id, false)
        try body("reason", reason, true)
        try body("as_of", as_of, false)
    }
}

extension MeasurePayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("id", id, false)
        try body("action", action, false)
        try body("text", text, true)
        if let unit { try body("unit", unit, true) }
        if let uk_measure { try body("uk_measure", uk_measure, false) }
        if let target {
            try body("target.per", target.per, false)
            if let scope = target.scope { try body("target.scope", scope, false) }
            if let quote = target.quote { try body("target.quote", quote, true) }
        }
    }
}

extension StatusPayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("action", action, false)
        if let note { try body("note", note, true) }
        try body("as_of", as_of, false)
    }
}

extension ReadingPayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("measure", measure, false)
        try body("period", period, false)
        for name in (categories ?? [:]).keys { try body("categories", name, false) }
        if let text { try body("text", text, true) }
        if let note { try body("note", note, true) }
    }
}

extension EvidencePayload: ShownPayload {
    func eachShownText(_ body: (String, String, Bool) throws(PlanError) -> Void) throws(PlanError) {
        try body("action", action, false)
        try body("title", title, true)
        try body("link", link, false)
        if let summary { try body("summary", summary, true) }
        if let date { try body("date", date, false) }
    }
}
