import Foundation
import QuartetPlan

/// A realistic year (2025) of progress for one log, made deterministically from the log's plan:
/// a status update per action each quarter, readings of every measure at its cadence, and a few
/// evidence items. The seed documents give no measure readings, so the figures are simulated
/// (each reading's note says so); facts from config/plans/facts.yaml, quoted exactly, open the
/// status notes of the actions whose situation they describe (`factsByAction`).
struct DemoData {
    let log: String
    let actions: [ActionPayload]
    let measures: [MeasurePayload]
    var random: DemoRandom

    /// Facts that describe an action's situation, by (log, action): quoted in its status notes.
    static let factsByAction: [String: [String]] = [
        "wales/P1.A1": ["F04", "F05"],
        "wales/P1.A4": ["F01", "F21"],
        "wales/P4.A1": ["F13"],
        "wales/P2.A1": ["F44"],
        "uk/P1.A2": ["F47"],
    ]
    var facts: [String: PlanFact] = [:]

    init(log: String, planned: [PlannedEntry], facts: [String: PlanFact] = [:]) {
        self.log = log
        self.facts = facts
        let decoder = JSONDecoder()
        actions = planned.filter { $0.type == .action }.compactMap { try? decoder.decode(ActionPayload.self, from: Data($0.payload.encoded())) }
        measures = planned.filter { $0.type == .measure }.compactMap { try? decoder.decode(MeasurePayload.self, from: Data($0.payload.encoded())) }
        random = DemoRandom(seed: log.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 })
    }

    static let quarters = [("2025-Q1", "2025-03-31"), ("2025-Q2", "2025-06-30"), ("2025-Q3", "2025-09-30"), ("2025-Q4", "2025-12-31")]

    /// Status trajectories over the four quarters.
    static let trajectories: [[ActionStatus]] = [
        [.notStarted, .onTrack, .onTrack, .onTrack],
        [.onTrack, .onTrack, .onTrack, .done],
        [.onTrack, .onTrack, .atRisk, .onTrack],
        [.notStarted, .notStarted, .onTrack, .onTrack],
        [.onTrack, .onTrack, .onTrack, .onTrack],
        [.notStarted, .onTrack, .atRisk, .onTrack],
        [.onTrack, .onTrack, .onTrack, .atRisk],
        [.onTrack, .onTrack, .done, .done],
        [.notStarted, .notStarted, .notStarted, .onTrack],
        [.onTrack, .onTrack, .onTrack, .onTrack],
        [.onTrack, .atRisk, .onTrack, .onTrack],
        [.onTrack, .atRisk, .atRisk, .offTrack],
        [.notStarted, .onTrack, .onTrack, .done],
        [.onTrack, .onTrack, .atRisk, .atRisk],
        [.notStarted, .onTrack, .onTrack, .onTrack],
        [.onTrack, .onTrack, .onTrack, .onTrack],
        [.onTrack, .onTrack, .onTrack, .done],
        [.notStarted, .onTrack, .onTrack, .onTrack],
        [.onTrack, .onTrack, .onTrack, .onTrack],
        [.onTrack, .atRisk, .atRisk, .offTrack],
    ]

    static let notes: [ActionStatus: [String]] = [
        .notStarted: ["Scoping with partners; work starts next quarter.", "Waiting on funding confirmation."],
        .onTrack: ["Delivering as planned.", "Milestones for the quarter met.", "Partners engaged; activity reported to the governance board."],
        .atRisk: ["Staff capacity reduced this quarter; recovery plan agreed.", "Dependent on partner data that is late."],
        .offTrack: ["Funding for the work was not renewed; options paper to the board.", "Key post vacant; activity paused."],
        .done: ["Completed and reported to the governance board."],
    ]

    /// Everything to record, in order: statuses, readings, evidence.
    mutating func entries() -> [(type: String, payload: JSONValue)] {
        var out: [(String, JSONValue)] = []
        for (q, (period, date)) in Self.quarters.enumerated() {
            for action in actions {
                let trajectory = Self.trajectories[Int(stableHash(action.id) % UInt64(Self.trajectories.count))]
                let status = trajectory[q]
                // Report a change, and otherwise most quarters.
                if q > 0 && trajectory[q - 1] == status && random.next() % 3 == 0 { continue }
                var note = Self.notes[status]!.randomElement(using: &random)!
                if let ids = Self.factsByAction["\(log)/\(action.id)"] {
                    let quotes = ids.compactMap { facts[$0] }.map { "\"\($0.quote)\" (facts.yaml \($0.id))" }
                    if !quotes.isEmpty { note = "Context: " + quotes.joined(separator: " ") + " " + note }
                }
                out.append(("progress.status", .object(["action": .string(action.id), "status": .string(status.rawValue),
                                                        "as_of": .string(date), "note": .string(note)])))
            }
            for measure in measures {
                if let reading = reading(measure, quarter: q, period: period) { out.append(("progress.reading", reading)) }
            }
        }
        // Evidence: a few case studies and improvement journeys.
        for (i, action) in actions.enumerated() where i % 4 == 1 {
            let kind = i % 8 == 1 ? "case-study" : "improvement-journey"
            out.append(("progress.evidence", .object([
                "action": .string(action.id), "kind": .string(kind),
                "title": .string("\(ViewQueries.displayName(log)): \(kind == "case-study" ? "case study" : "improvement journey") for \(action.id)"),
                "link": .string("https://www.rcot.co.uk/innovation-hub/\(log)/\(action.id.lowercased())"),
                "date": .string(Self.quarters[i % 4].1),
            ])))
        }
        return out
    }

    func stableHash(_ s: String) -> UInt64 {
        (log + "/" + s).utf8.reduce(UInt64(14695981039346656037)) { ($0 ^ UInt64($1)) &* 1099511628211 }
    }

    mutating func reading(_ m: MeasurePayload, quarter q: Int, period: String) -> JSONValue? {
        var fields: [String: JSONValue] = ["measure": .string(m.id)]
        let annual = m.cadence == .annual || m.cadence == .everyThreeYears || m.kind == .percentage || m.kind == .qualitative || m.kind == .distribution
        if annual && q != 3 { return nil }
        fields["period"] = .string(annual ? "2025" : period)
        switch m.kind {
        case .count:
            let text = m.text.lowercased()
            let value: Int
            if m.uk_measure == "P2.A2.M1" || m.id == "P2.A2.M1" {
                // Workforce reform workshops (annual): two to four in each nation that reports them.
                value = annual ? 2 + Int(random.next() % 3) : Int(random.next() % 2)
                if log == "uk" { return nil }
            } else if m.over_time == .latest {
                // A level (a headcount): where it stands each quarter, growing slowly.
                value = 40 + Int(stableHash(m.id) % 160) + 3 * q
            } else if text.contains("users") || text.contains("download") || text.contains("access") {
                value = 60 + Int(random.next() % 400)
            } else if text.contains("members") || text.contains("delegates") || text.contains("attend") {
                value = 20 + Int(random.next() % 120)
            } else {
                value = Int(random.next() % 6)
            }
            fields["value"] = .number(Double(value))
        case .percentage:
            fields["value"] = .number(Double(70 + Int(random.next() % 31)))
        case .milestone:
            fields["achieved"] = .bool(random.next() % 4 != 0)
        case .distribution:
            var categories: [String: JSONValue] = [:]
            for band in ["band-5", "band-6", "band-7", "band-8a-plus"] { categories[band] = .number(Double(5 + Int(random.next() % 60))) }
            fields["categories"] = .object(categories)
        case .qualitative:
            fields["text"] = .string(["Feedback from members is positive; themes shared with the governance board.",
                                      "Quality of submissions improved over the year; two exemplars highlighted.",
                                      "Stakeholders report better understanding of the OT contribution."].randomElement(using: &random)!)
        }
        if fields["note"] == nil { fields["note"] = .string("simulated demo figure") }
        return .object(fields)
    }
}

/// SplitMix64: a small deterministic generator for demo data.
struct DemoRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
