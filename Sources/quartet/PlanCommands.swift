import ArgumentParser
import Foundation
import NIOHTTP1
import QuartetNode
import QuartetPlan

/// How a command reaches a running node's API: the node's configuration file (address, CA) and
/// credentials — a bearer token, or a client certificate, or else the node's own certificate.
struct NodeClientOptions: ParsableArguments {
    @Option(help: "The node's configuration file (API address, CA certificate).") var config: String
    @Option(help: "A bearer token (default: $QUARTET_TOKEN).") var token: String?
    @Option(help: "A client certificate from the federation CA (operator, reader or auditor).") var cert: String?
    @Option(help: "The client certificate's private key.") var key: String?

    func client() throws -> (APIClient, NodeConfiguration) {
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration.load(path: config) } catch { throw CLIError("\(error)") }
        let host = ["0.0.0.0", "::", "[::]"].contains(configuration.apiListen.host) ? "127.0.0.1" : configuration.apiListen.host
        let address = HostPort(host: host, port: configuration.apiListen.port)
        guard (cert == nil) == (key == nil) else { throw ValidationError("give --cert and --key together") }
        let token = self.token ?? ProcessInfo.processInfo.environment["QUARTET_TOKEN"]
        let client: APIClient
        if let cert, let key {
            client = try APIClient(certificate: cert, key: key, ca: configuration.caCertificate, node: configuration.node, address: address)
        } else if let token, !token.isEmpty {
            client = try APIClient(certificate: nil, key: nil, ca: configuration.caCertificate, node: configuration.node, address: address, token: token)
        } else {
            client = try APIClient(certificate: configuration.certificate, key: configuration.privateKey, ca: configuration.caCertificate,
                                   node: configuration.node, address: address)
        }
        return (client, configuration)
    }
}

/// Runs an API call, turning a refused connection into advice and an error status into the
/// node's own message.
func call(_ client: APIClient, _ method: HTTPMethod, _ path: String, body: Any? = nil, accept: String? = nil,
          configuration: NodeConfiguration) async throws -> Data {
    let data = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes]) }
    let status: Int, response: Data
    do {
        (status, response) = try await client.request(method, path, body: data, accept: accept)
    } catch {
        throw CLIError("cannot reach node \(configuration.node) at https://\(configuration.apiListen): \(error) (is `quartet serve --config \(configuration.file)` running?)")
    }
    guard (200..<300).contains(status) else {
        let message = (try? JSONSerialization.jsonObject(with: response) as? [String: Any])
            .flatMap { ($0["error"] as? [String: Any])?["message"] as? String } ?? String(decoding: response, as: UTF8.self)
        throw CLIError("\(method) \(path): \(status): \(message)")
    }
    return response
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import plans into a running node's own log.",
        subcommands: [ImportPlanCommand.self])
}

struct ImportPlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Append a plan's priorities, actions and measures to the node's own log (nothing twice).",
        discussion: """
            FILE is a plan in the form of config/plans/uk-plan.yaml or wales-plan.yaml; the \
            measures catalogue and quantitative targets are read from the same directory unless \
            given. The UK plan goes to the uk log; a nation's plan to its own log; a nation with no \
            plan of its own (England, Scotland, Northern Ireland) imports the UK plan and adopts its \
            actions. What the log already holds is read first: an unchanged item is skipped, a \
            changed action is appended as plan.action.revised. Needs the operator of the node's log \
            (--token or --cert/--key).
            """)

    @Argument(help: "The plan file (YAML).") var file: String
    @OptionGroup var node: NodeClientOptions
    @Option(help: "The measures catalogue (default: measures-catalogue.yaml beside FILE).") var catalogue: String?
    @Option(help: "The quantitative targets (default: quantitative-targets.yaml beside FILE).") var targets: String?
    @Flag(help: "Show what would be appended, append nothing.") var dryRun = false
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let (client, configuration) = try node.client()
        let (plan, planned, changes, appended) = try await importPlan(file: file, catalogue: catalogue, targets: targets, client: client,
                                                                      configuration: configuration, dryRun: dryRun)
        let log = configuration.log
        var counts: [String: Int] = [:]
        for c in changes { counts[c.type.rawValue, default: 0] += 1 }
        switch output.format {
        case .json:
            printJSON(["log": log, "plan": plan.planID, "planned": planned.count, "already_held": planned.count - changes.count,
                       "appended": appended, "dry_run": dryRun, "by_type": counts])
        case .text:
            let summary = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
            if changes.isEmpty {
                print("\(log): the \(plan.planID) plan is already imported (\(planned.count) entries held); nothing appended")
            } else {
                print("\(log): \(dryRun ? "would append" : "appended") \(changes.count) entries (\(summary)); \(planned.count - changes.count) already held")
            }
        }
    }
}

/// Imports a plan file into the node's own log through its API (`quartet import plan`, and the
/// demo): reads what the log holds, appends what it lacks, in batches of at most 1,000.
func importPlan(file: String, catalogue: String?, targets: String?, client: APIClient, configuration: NodeConfiguration,
                dryRun: Bool) async throws -> (plan: PlanImport, planned: [PlannedEntry], changes: [PlannedEntry], appended: Int) {
    let plan: PlanImport
    do { plan = try PlanImport(planFile: file, catalogueFile: catalogue, targetsFile: targets) } catch { throw CLIError(error.message) }
    let log = configuration.log
    let planned: [PlannedEntry]
    do { planned = try plan.entries(for: log) } catch { throw CLIError(error.message) }
    // What the log holds now (and, for the UK log, its priorities), folded as the view does.
    var view = StrategyView(ukLog: log == plan.planID ? plan.planID : "uk")
    var from = 0
    while true {
        let page = try await call(client, .GET, "/v1/logs/\(log)/entries?from=\(from)&limit=1000", configuration: configuration)
        guard let object = try JSONSerialization.jsonObject(with: page) as? [String: Any],
              let entries = object["entries"] as? [[String: Any]] else { throw CLIError("unexpected answer from the node") }
        for entry in entries {
            let payload = (entry["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map { Array($0) }
            try? view.apply(ViewEntry(log: log, index: UInt64(from), timeMillis: 0, type: entry["type"] as? String ?? "", payload: payload))
            from += 1
        }
        if entries.count < 1000 { break }
    }
    let changes: [PlannedEntry]
    do { changes = try PlanImport.changes(planned, log: view.logs[log], priorities: view.priorities) } catch { throw CLIError(error.message) }
    var appended = 0
    if !dryRun {
        for start in stride(from: 0, to: changes.count, by: 1000) {
            let chunk = changes[start..<min(start + 1000, changes.count)]
            try await postBatch(chunk.map { ($0.type.rawValue, $0.payload) }, log: log, client: client, configuration: configuration)
            appended += chunk.count
        }
    }
    return (plan, planned, changes, appended)
}

/// Appends entries in order in one request (at most 1,000).
func postBatch(_ items: [(type: String, payload: JSONValue)], log: String, client: APIClient, configuration: NodeConfiguration) async throws {
    let body: [String: Any] = ["entries": items.map { item -> [String: Any] in
        ["type": item.type, "payload": try! JSONSerialization.jsonObject(with: Data(item.payload.encoded()))]
    }]
    _ = try await call(client, .POST, "/v1/logs/\(log)/entries", body: body, configuration: configuration)
}

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record progress in a running node's own log: a status update, a measure reading or an evidence item.",
        subcommands: [RecordStatus.self, RecordReading.self, RecordEvidence.self, RecordDataset.self])
}

/// POSTs `body` to the node's API and prints the receipt (`done` LOG/INDEX, or the JSON).
/// `path` may name the node's own log as `{log}`.
func postEntry(_ path: String, _ body: [String: Any], node: NodeClientOptions, format: OutputFormat, done: String) async throws {
    let (client, configuration) = try node.client()
    let data = try await call(client, .POST, path.replacingOccurrences(of: "{log}", with: configuration.log), body: body, configuration: configuration)
    let receipt = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    switch format {
    case .json: printJSON(receipt)
    case .text: print("\(done) \(receipt["log"] ?? "?")/\(receipt["index"] ?? "?")")
    }
}

struct RecordStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "An action's status as of a date.")
    @Option(help: "The action, e.g. P1.A2.") var action: String
    @Option(help: "not-started, on-track, at-risk, off-track or done.") var status: String
    @Option(help: "The date the status is as of (YYYY-MM-DD; default today).") var asOf: String?
    @Option(help: "A note.") var note: String?
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: Any] = ["action": action, "status": status, "as_of": asOf ?? today()]
        if let note { payload["note"] = note }
        try await postEntry("/v1/record/status", payload, node: node, format: output.format, done: "recorded as")
    }
}

struct RecordReading: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reading", abstract: "A measure's reading for a period.",
        discussion: "Give --value for count and percentage measures, --achieved for milestones, --category NAME=N (repeated) for distributions, --text for qualitative measures.")
    @Option(help: "The measure, e.g. P2.A2.M1.") var measure: String
    @Option(help: "The period: a year (2025), a quarter (2025-Q2) or a month (2025-03).") var period: String
    @Option(help: "A number (count or percentage).") var value: Double?
    @Option(help: "true or false (milestone).") var achieved: Bool?
    @Option(help: "NAME=N, repeated (distribution).") var category: [String] = []
    @Option(help: "Text (qualitative).") var text: String?
    @Option(help: "A note.") var note: String?
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: Any] = ["measure": measure, "period": period]
        if let value { payload["value"] = value == value.rounded() && abs(value) < 1e15 ? Int64(value) as Any : value as Any }
        if let achieved { payload["achieved"] = achieved }
        if !category.isEmpty {
            var categories: [String: Any] = [:]
            for item in category {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let n = Double(parts[1]) else { throw ValidationError("--category expects NAME=N, got \"\(item)\"") }
                categories[String(parts[0])] = n
            }
            payload["categories"] = categories
        }
        if let text { payload["text"] = text }
        if let note { payload["note"] = note }
        try await postEntry("/v1/record/reading", payload, node: node, format: output.format, done: "recorded as")
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
    @OptionGroup var output: FormatOptions

    func run() async throws {
        var payload: [String: Any] = ["action": action, "kind": kind, "title": title, "link": link]
        if let summary { payload["summary"] = summary }
        if let date { payload["date"] = date }
        try await postEntry("/v1/record/evidence", payload, node: node, format: output.format, done: "recorded as")
    }
}

struct RecordDataset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Restricted data under a data-sharing agreement (a dataset.rows entry classified with the agreement's label).",
        discussion: "Accepted only while an agreement in force at this node covers the label; replication sends the payload only to nodes the agreement gives full access.")
    @Option(help: "The data label, e.g. heiw.workforce.headcount.") var label: String
    @Option(help: "A file holding the rows as a JSON object, e.g. {\"dataset\": ..., \"period\": ..., \"rows\": [...]}.") var payload: String
    @OptionGroup var node: NodeClientOptions
    @OptionGroup var output: FormatOptions

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: payload),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("--payload: \(payload) is not a readable JSON object")
        }
        try await postEntry("/v1/logs/{log}/entries", ["type": "dataset.rows", "classification": label, "payload": object], node: node,
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

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Bearer tokens for a node's API.", subcommands: [TokenNew.self])
}

struct TokenNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Make a random bearer token; print it once, and the line for the node configuration's \"tokens\" (its SHA-256 only).")
    @Option(help: "Who holds it (a-z, 0-9, '-').") var name: String
    @Option(help: "reader, operator (of the node's own log) or auditor.") var role: String
    @OptionGroup var output: FormatOptions

    func run() throws {
        guard ["reader", "operator", "auditor"].contains(role) else { throw ValidationError("--role must be reader, operator or auditor") }
        let token = try TokenGrant.newToken()
        let hash = TokenGrant.hex(TokenGrant.digest(token))
        let entry: [String: Any] = ["name": name, "role": role, "sha256": hash]
        switch output.format {
        case .json: printJSON(["token": token, "config": entry])
        case .text:
            print("token (shown once; give it to \(name)): \(token)")
            print("add to the node configuration's \"tokens\": {\"name\": \"\(name)\", \"role\": \"\(role)\", \"sha256\": \"\(hash)\"}")
        }
    }
}
