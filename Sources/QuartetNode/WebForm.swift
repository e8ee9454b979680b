import Foundation
import QuartetAPI
import QuartetPlan

/// The operator's forms as data: which fields each kind has, reading a posted form, turning it
/// into the entry's payload (the plan validator then checks it, as for the API), and what the
/// template shows. Pure.
enum WebForm {
    enum Kind: String, CaseIterable, Sendable {
        case status, reading, evidence

        var entryType: PlanEntryType {
            switch self {
            case .status: .status
            case .reading: .reading
            case .evidence: .evidence
            }
        }

        var noun: String {
            switch self {
            case .status: "a status update"
            case .reading: "a reading"
            case .evidence: "evidence"
            }
        }
    }

    /// A refusal to show next to a field: `field` is the form field the message names (the
    /// validator's `payload.<field>: …`), nil for one about the whole form.
    struct FieldError: Error {
        var field: String?
        var message: String

        init(field: String? = nil, message: String) {
            self.message = message
            if let field {
                self.field = field
            } else if message.hasPrefix("payload."), let colon = message.firstIndex(of: ":") {
                self.field = String(message[message.index(message.startIndex, offsetBy: 8)..<colon])
            } else {
                self.field = nil
            }
        }
    }

    static let maxFields = 32

    /// `a=1&b=two+words` as sent by a form (UTF-8, `+` for space, percent escapes), read
    /// leniently (a search box; a post is read by `decodeForm`). At most
    /// `maxFields` fields; a value is never cut (a cut text was signed into the log as if typed:
    /// finding 290) — the body's bound (`API.maxFormBody`) bounds them all, and the validator
    /// names a field over its length; a repeated field keeps its first value; names are not
    /// escaped into anything (only known names are read).
    static func decode(_ body: String) -> [String: String] { parse(body).values }

    /// A form post as `decode` reads it, refused whole (nothing saved) when any of it cannot be
    /// read as sent — more than `maxFields` fields, a field given twice, a name or value that
    /// is not percent-encoded UTF-8 — rather than saved without what was dropped (a note lost
    /// to a bad escape was signed into the log as if left empty).
    static func decodeForm(_ body: String) throws(FieldError) -> [String: String] {
        let parsed = parse(body)
        if let problem = parsed.problem { throw FieldError(message: problem + ": nothing was saved; send the form again from this page") }
        return parsed.values
    }

    private static func parse(_ body: String) -> (values: [String: String], problem: String?) {
        var out: [String: String] = [:]
        var problem: String?
        let pairs = body.split(separator: "&", omittingEmptySubsequences: true)
        if pairs.count > maxFields { problem = "the form has \(pairs.count) fields, more than the \(maxFields) a form here has" }
        for pair in pairs.prefix(maxFields) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func text(_ s: Substring) -> String? { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            let decodedName = text(parts[0])
            let name = decodedName ?? ""
            guard out[name] == nil else {
                problem = problem ?? "the field \"\(name.prefix(40))\" is given twice"
                continue
            }
            // A textarea's line breaks arrive as CRLF (the HTML form encoding): entries keep
            // newlines only (text refuses other control characters).
            let decoded = parts.count > 1 ? text(parts[1]) : ""
            if decodedName == nil || decoded == nil { problem = problem ?? "a field of the form is not percent-encoded UTF-8" }
            out[name] = (decoded ?? "").replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        }
        return (out, problem)
    }

    /// The entry's payload from the form's fields; empty optional fields are left out. The
    /// value field of a reading depends on the measure's kind.
    static func payload(_ kind: Kind, _ v: [String: String], measures: [String: MeasureKind]) throws(FieldError) -> JSONValue {
        func field(_ name: String) -> String { (v[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
        var out: [String: JSONValue] = [:]
        func optional(_ name: String) { let value = field(name); if !value.isEmpty { out[name] = .string(value) } }
        switch kind {
        case .status:
            out["action"] = .string(field("action"))
            out["status"] = .string(field("status"))
            out["as_of"] = .string(field("as_of"))
            optional("note")
        case .reading:
            let measure = field("measure")
            out["measure"] = .string(measure)
            out["period"] = .string(field("period"))
            optional("note")
            switch measures[measure] {
            case .count?, .percentage?:
                let text = field("value")
                guard let number = DecimalText.parse(text) else {
                    throw FieldError(field: "value", message: "payload.value: expected a decimal number such as 12 or 12.5, got \"\(text)\"")
                }
                out["value"] = .number(number)
            case .milestone?:
                switch field("achieved") {
                case "yes": out["achieved"] = .bool(true)
                case "no": out["achieved"] = .bool(false)
                case let other: throw FieldError(field: "achieved", message: "payload.achieved: choose yes or no, got \"\(other)\"")
                }
            case .qualitative?:
                out["text"] = .string(field("text"))
            case .distribution?:
                throw FieldError(field: "measure", message: "payload.measure: \(measure) is a distribution; record it with `quartet record reading` or the API")
            case nil:
                throw FieldError(field: "measure", message: "payload.measure: this log has no measure \"\(measure)\"")
            }
        case .evidence:
            out["action"] = .string(field("action"))
            out["kind"] = .string(field("kind"))
            out["title"] = .string(field("title"))
            out["link"] = .string(field("link"))
            optional("summary")
            optional("date")
        }
        return .object(out)
    }

    // MARK: What the template shows

    struct Option { var value: String; var label: String; var selected: Bool }
    struct Field {
        var name: String
        var label: String
        var hint: String?
        var error: String?
        var value: String
        var options: [Option]?
        var textarea: Bool
        var type: String
        /// Stored, not computed: the templates read properties by reflection.
        var isSelect: Bool
        var describedBy: String?
    }
    struct Receipt { var index: String; var checkpoint: String; var entry: String; var aggregatorHref: String? }

    struct Body {
        var heading: String
        var action: String
        var fields: [Field]
        var summaryError: String?
        var receipt: Receipt?
        var others: [WebPage.Crumb]

        init(kind: Kind, values v: [String: String], error: FieldError?, token: String, submission: String, actions: [(id: String, title: String)],
             measures: [(id: String, text: String, kind: MeasureKind)], receipt: Receipt?) {
            heading = "Record \(kind.noun)"
            action = "/record/\(kind.rawValue)?csrf=\(token)&submission=\(submission)"
            self.receipt = receipt
            others = Kind.allCases.filter { $0 != kind }.map { WebPage.Crumb(name: "Record \($0.noun)", href: "/record/\($0.rawValue)") }
            func choose(_ name: String, _ pairs: [(String, String)], blank: String) -> [Option] {
                [Option(value: "", label: blank, selected: (v[name] ?? "").isEmpty)] + pairs.map { Option(value: $0.0, label: $0.1, selected: v[name] == $0.0) }
            }
            func make(_ name: String, _ label: String, hint: String? = nil, options: [Option]? = nil, textarea: Bool = false, type: String = "text") -> Field {
                let message = error?.field == name ? error?.message : nil
                let described = [hint.map { _ in "h-\(name)" }, message.map { _ in "e-\(name)" }].compactMap { $0 }.joined(separator: " ")
                return Field(name: name, label: label, hint: hint, error: message, value: v[name] ?? "", options: options, textarea: textarea, type: type,
                             isSelect: options != nil, describedBy: described.isEmpty ? nil : described)
            }
            let actionOptions = choose("action", actions.map { ($0.id, "\($0.id) — \($0.title)") }, blank: "Choose an action")
            switch kind {
            case .status:
                fields = [make("action", "Action", options: actionOptions),
                          make("status", "Status", options: choose("status", ActionStatus.allCases.map { ($0.rawValue, $0.rawValue) }, blank: "Choose a status")),
                          make("as_of", "As of", hint: "The date the status holds for, as YYYY-MM-DD", type: "date"),
                          make("note", "Note (optional)", textarea: true)]
            case .reading:
                fields = [make("measure", "Measure", options: choose("measure", measures.map { ($0.id, "\($0.id) — \($0.text) (\($0.kind.rawValue))") }, blank: "Choose a measure")),
                          make("period", "Period", hint: "A year (2025), a quarter (2025-Q2) or a month (2025-03)"),
                          make("value", "Value", hint: "For a count or a percentage", type: "text"),
                          make("achieved", "Achieved", hint: "For a milestone", options: choose("achieved", [("yes", "yes"), ("no", "no")], blank: "Not a milestone")),
                          make("text", "Text", hint: "For a qualitative measure", textarea: true),
                          make("note", "Note (optional)", textarea: true)]
            case .evidence:
                fields = [make("action", "Action", options: actionOptions),
                          make("kind", "Kind", options: choose("kind", EvidenceKind.allCases.map { ($0.rawValue, $0.rawValue) }, blank: "Choose a kind")),
                          make("title", "Title"),
                          make("link", "Link", hint: "Where the evidence is published (https://…)", type: "url"),
                          make("summary", "Summary (optional)", textarea: true),
                          make("date", "Date (optional)", hint: "YYYY-MM-DD", type: "date")]
            }
            // Every refusal is summarised at the top; one about a field is also shown beside it.
            summaryError = error?.message
        }
    }
}
