import ArgumentParser
import Foundation
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPlan

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record progress in a running node's own log: a status update, a measure reading or an evidence item.",
        subcommands: [RecordStatus.self, RecordReading.self, RecordEvidence.self, RecordDataset.self])
}

/// Appends one item to the node's own log and prints the receipt (`done` LOG/INDEX, or the JSON).
func postEntry(_ item: AppendItem, node: NodeClientOptions, key: AppendKeyOptions, format: OutputFormat, done: String) async throws {
    let (client, configuration) = try node.client()
    printReceipt(try await appendOnce(configuration, key: key.idempotencyKey) { try await client.append(log: configuration.log, item, idempotencyKey: $0) },
                 format: format, done: done)
}

/// POSTs a progress payload to `/v1/record/KIND` and prints the receipt.
func postRecord(_ kind: String, _ payload: [String: PayloadValue], node: NodeClientOptions, key: AppendKeyOptions, format: OutputFormat) async throws {
    let (client, configuration) = try node.client()
    printReceipt(try await appendOnce(configuration, key: key.idempotencyKey) { try await client.record(kind, payload: .object(payload), idempotencyKey: $0) },
                 format: format, done: "recorded as")
}

func printReceipt(_ receipt: ReceiptBody, format: OutputFormat, done: String) {
    switch format {
    case .json: printJSON(receipt)
    case .text: print(TerminalText.escaped("\(done) \(receipt.log)/\(receipt.index)"))
    }
}

struct RecordStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "An action's status as of a date.")
    @Option(help: "The action, e.g. P1.A2.") var action: String
    @Option(help: "not-started, on-track, at-risk, off-track or done.") var status: String
    @Option(help: "The date the status is as of (YYYY-MM-DD; default today).") var asOf: String?
    @Option(help: "A note.") var note: String?
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: PayloadValue] = ["action": .string(action), "status": .string(status), "as_of": .string(asOf ?? today())]
        if let note { payload["note"] = .string(note) }
        try await postRecord("status", payload, node: node, key: appendKey, format: output.format)
    }
}

struct RecordReading: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reading", abstract: "A measure's reading for a period.",
        discussion: "Give --value for count and percentage measures, --achieved for milestones, --category NAME=N (repeated) for distributions, --text for qualitative measures.")
    @Option(help: "The measure, e.g. P2.A2.M1.") var measure: String
    @Option(help: "The period: a year (2025), a quarter (2025-Q2) or a month (2025-03).") var period: String
    @Option(parsing: .unconditional, help: "A number (count or percentage), in decimal.") var value: String?
    @Option(help: "true or false (milestone).") var achieved: Bool?
    @Option(help: "NAME=N, repeated (distribution).") var category: [String] = []
    @Option(help: "Text (qualitative).") var text: String?
    @Option(help: "A note.") var note: String?
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: PayloadValue] = ["measure": .string(measure), "period": .string(period)]
        if let value { payload["value"] = .number(try Self.decimal(value, "--value")) }
        if let achieved { payload["achieved"] = .bool(achieved) }
        if !category.isEmpty {
            var categories: [String: PayloadValue] = [:]
            for item in category {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--category expects NAME=N, got \"\(item)\"") }
                let name = String(parts[0])
                guard categories[name] == nil else { throw ValidationError("--category \(name) is given twice") }
                categories[name] = .number(try Self.decimal(String(parts[1]), "--category \(name)"))
            }
            payload["categories"] = .object(categories)
        }
        if let text { payload["text"] = .string(text) }
        if let note { payload["note"] = .string(note) }
        try await postRecord("reading", payload, node: node, key: appendKey, format: output.format)
    }

    /// A finite decimal number as a person writes one (`DecimalText`).
    static func decimal(_ text: String, _ option: String) throws -> Double {
        guard let n = DecimalText.parse(text) else {
            throw ValidationError("\(option) must be a decimal number such as 12 or 12.5, got \"\(text)\"")
        }
        return n
    }
}

struct RecordEvidence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evidence", abstract: "An evidence item for an action (case study, improvement journey, ...).")
    @Option(help: "The action, e.g. P1.A3.") var action: String
    @Option(help: "case-study, improvement-journey, impact-example, report or other.") var kind: String
    @Option(help: "Its title.") var title: String
    @Option(help: "Where it is (http(s) URL).") var link: String
    @Option(help: "A summary.") var summary: String?
    @Option(help: "Its date (YYYY-MM-DD).") var date: String?
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: PayloadValue] = ["action": .string(action), "kind": .string(kind), "title": .string(title), "link": .string(link)]
        if let summary { payload["summary"] = .string(summary) }
        if let date { payload["date"] = .string(date) }
        try await postRecord("evidence", payload, node: node, key: appendKey, format: output.format)
    }
}

struct RecordDataset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Restricted data under a data-sharing agreement (a dataset.rows entry classified with the agreement's label).",
        discussion: "Accepted only while an agreement in force at this node covers the label; replication sends the payload only to nodes the agreement gives full access.")
    @Option(help: "The data label, e.g. heiw.workforce.headcount.") var label: String
    @Option(help: "A file holding the rows as a JSON object: {\"dataset\": NAME, \"period\": YYYY|YYYY-Qn|YYYY-MM|YYYY-MM-DD, \"rows\": [{..., \"count\": N}]} (a period may not overlap another of the dataset's under the label: docs/agreements.md).") var payload: String
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var appendKey: AppendKeyOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let data: Data
        do { data = Data(try RegularFile.read(payload, limit: EntryHeader.maxPayloadLength)) } catch {
            throw CLIError("--payload: \(payload): \(error) (a payload is a regular file of at most \(EntryHeader.maxPayloadLength) bytes)")
        }
        guard let object = PayloadValue.parseIfValid(data), case .object = object else {
            throw CLIError("--payload: \(payload) is not a JSON object")
        }
        try await postEntry(AppendItem(type: "dataset.rows", classification: label, payload: object), node: node, key: appendKey,
                            format: output.format, done: "recorded as")
    }
}

func today() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd"
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.locale = Locale(identifier: "en_US_POSIX")
    return formatter.string(from: Date())
}
