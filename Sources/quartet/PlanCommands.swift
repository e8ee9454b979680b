import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import QuartetAPI
import QuartetNode
import QuartetPlan
import QuartetStore

/// How a command reaches a running node's API: the node's configuration file (address, CA) and
/// credentials — a bearer token, or a client certificate, or else the node's own certificate.
struct NodeClientOptions: ParsableArguments {
    @Option(help: "The node's configuration file on its host, or a client file elsewhere: {\"node\", \"log\", \"api\": \"https://HOST:PORT\", \"tls\": {\"ca\"}} (docs/formats.md, \"Client file\").") var config: String
    @Option(help: "A bearer token (default: $QUARTET_TOKEN, sent only to a node whose configuration lists it). On a shared host every user reads a command line: prefer --token-file.") var token: String?
    @Option(help: "A file holding the bearer token (this user's, mode 600), or - to read it from standard input.") var tokenFile: String?
    @Option(help: "A client certificate from the federation CA (operator, reader or auditor).") var cert: String?
    @Option(help: "The client certificate's private key.") var key: String?
    @Option(help: "Seconds a request may take before it is given up.") var timeout: Int = 60

    func client() throws -> (APIClient, ClientConfiguration) {
        let configuration: ClientConfiguration
        do { configuration = try ClientConfiguration.load(path: config) } catch { throw CLIError("\(error)") }
        let address = configuration.address
        guard (cert == nil) == (key == nil) else { throw ValidationError("give --cert and --key together") }
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be from 1 to 3,600 seconds") }
        guard token == nil || tokenFile == nil else { throw ValidationError("give --token or --token-file, not both") }
        guard tokenFile == nil || cert == nil else { throw ValidationError("give --token-file or --cert and --key, not both (one credential is sent)") }
        var token = try self.token ?? tokenFile.map(TokenFile.read)
        // (Not when a certificate is given: that is the credential asked for.)
        if token == nil, cert == nil, let environment = ProcessInfo.processInfo.environment["QUARTET_TOKEN"], !environment.isEmpty {
            // A token is one node's credential: sent from the environment only to a node whose
            // configuration lists it (an operator's exported token must not reach another
            // member's node with a command meant to read that node).
            let digest = TokenGrant.digest(environment)
            guard configuration.nodeCredential != nil else {
                throw CLIError("QUARTET_TOKEN is not sent with a client file (\(config) cannot say which node's token it is): give it with --token-file (a file of yours, mode 600, or - for standard input), or use --cert and --key")
            }
            guard configuration.tokens.contains(where: { $0.sha256 == digest }) else {
                throw CLIError("QUARTET_TOKEN is not a token \(configuration.node) accepts (\(config) lists no such token), so it is not sent there: "
                               + "a token sent to another member's node is that member's to use. Give it with --token-file to send it anyway, or use --cert and --key.")
            }
            token = environment
        }
        // A token made for one node is not sent to another (which would then hold it, and
        // refuses it anyway).
        if let token, let bound = TokenGrant.boundNode(of: token), bound != configuration.node {
            throw CLIError("the token was issued for node \(bound), and \(config) is node \(configuration.node)'s: it is not sent there (a token sent to another member's node is that member's to use)")
        }
        var client: APIClient
        let lists = try configuration.clientRevocationLists()
        if configuration.nodeCredential == nil, configuration.revocationList == nil {
            // A stolen node key the CA revoked, with the traffic redirected, would be taken for
            // the node, and given the token or the request.
            printError("warning: \(config) names no tls.crl: a node certificate the CA revoked would not be refused (docs/formats.md, \"Client file\")")
        }
        if let cert, let key {
            client = try APIClient(certificate: cert, key: key, ca: configuration.caCertificate, node: configuration.node, address: address, revocationLists: lists)
        } else if let token, !token.isEmpty {
            client = try APIClient(certificate: nil, key: nil, ca: configuration.caCertificate, node: configuration.node, address: address, token: token,
                                   revocationLists: lists)
        } else if let own = configuration.nodeCredential {
            client = try APIClient(certificate: own.certificate, key: own.key, ca: configuration.caCertificate,
                                   node: configuration.node, address: address, revocationLists: lists)
        } else {
            throw ValidationError("\(config) is a client file: give --cert and --key (an operator's, reader's or auditor's certificate) or --token-file")
        }
        client.timeout = .seconds(Int64(timeout))
        return (client, configuration)
    }
}

/// Runs typed API calls (`APIClient.logs()`, ...), turning a refused connection into advice and
/// a refusal into the node's own message (`GET /v1/agreements: 403: ...`).
func api<Answer>(_ configuration: ClientConfiguration, _ calls: () async throws -> Answer) async throws -> Answer {
    do { return try await calls() } catch let error as APIClientError {
        throw CLIError(error.description)
    } catch let error as CLIError {
        throw error
    } catch where error is AnswerTimedOut || error is AnswerTooLarge {
        // The node was reached: it answered too slowly, or too much.
        throw CLIError("node \(configuration.node) at \(configuration.shownAddress): \(error)")
    } catch {
        throw CLIError(unreachable(configuration, error))
    }
}

/// Runs an append with an `Idempotency-Key` (`given`, else one of its own) and, when its answer
/// was lost (the connection closed or reset, or timed out, after the request may have arrived),
/// sends it again with the same key: a node of 0.3.8 or later answers a repeat with the first
/// answer and appends nothing twice, also after it restarted (0.3.7 kept keys in memory only).
/// At most three tries, `retryWaits` apart; once an answer was lost, a node that cannot be
/// reached or answers 503 (restarting, or taking its own log back) is asked again too,
/// `restartWaits` apart (about a minute), and a repeat the node says is still being appended
/// (`IdempotencyKey.pendingMessage`), `pendingWaits` apart. Given up, it says the entry may be
/// in the log, with the key to send it again with (`--idempotency-key`), rather than that the
/// node could not be reached.
func appendOnce<Answer>(_ configuration: ClientConfiguration, key given: String? = nil, retryWaits: [Duration] = [.seconds(1), .seconds(2)],
                        restartWaits: [Duration] = [.seconds(2), .seconds(4), .seconds(8), .seconds(15), .seconds(30)],
                        pendingWaits: [Duration] = [.seconds(5), .seconds(5), .seconds(5), .seconds(5)],
                        _ send: (_ idempotencyKey: String) async throws -> Answer) async throws -> Answer {
    let key = given ?? UUID().uuidString.lowercased()
    var waits = retryWaits[...], restarting = restartWaits[...], pending = pendingWaits[...]
    // The first failure after which the request may have been appended.
    var lost: (any Error)?
    func mayBeInTheLog(_ last: any Error) -> CLIError {
        CLIError("node \(configuration.node) at \(configuration.shownAddress): the answer to this append was lost (\(lost ?? last))"
                 + (lost == nil ? "" : "; the last try: \(last)")
                 + "; it may have been appended (Idempotency-Key \(key)): send it again with the same key (`quartet record` and `agreement establish`/`revoke` take `--idempotency-key \(key)`: a node of 0.3.8 or later answers with the first receipt if it was appended, and appends it once if not), or look at the newest entries of log \(configuration.log) (quartet view, or GET /v1/logs/\(configuration.log)/entries) before recording it again")
    }
    return try await api(configuration) {
        while true {
            do {
                return try await send(key)
            } catch let error as APIClientError where lost != nil && error.status == 409 && error.message.hasPrefix(IdempotencyKey.pendingMessage) {
                // A repeat whose first the node is still appending: asked again, same key.
                guard let wait = pending.popFirst() else { throw mayBeInTheLog(error) }
                try await Task.sleep(for: wait)
            } catch {
                if APIClient.mayHaveArrived(error), let wait = waits.popFirst() {
                    if lost == nil { lost = error }
                    printError("node \(configuration.node): the answer was lost (\(error)); sending the same request again in \(wait.components.seconds) s (Idempotency-Key \(key): a node of 0.3.8 or later appends it once)")
                    try await Task.sleep(for: wait)
                    continue
                }
                // Lost, and now the node is restarting (not reached, or 503): its keys outlive
                // the restart, so it is asked again once it is back.
                if lost != nil, notThereForNow(error), let wait = restarting.popFirst() {
                    printError("node \(configuration.node): \(error); asking again in \(wait.components.seconds) s with the same Idempotency-Key \(key)")
                    try await Task.sleep(for: wait)
                    continue
                }
                // Never possibly appended: the error as any request's.
                guard lost != nil || APIClient.mayHaveArrived(error) else { throw error }
                throw mayBeInTheLog(error)
            }
        }
    }
}

/// Whether `error` is a node that is not there for now: not reached (refused, timed out), or
/// answering 503 (starting, or taking its own log back from its peers).
private func notThereForNow(_ error: any Error) -> Bool {
    switch error {
    case let answer as APIClientError: return answer.code == .refused && answer.status == 503
    case is NIOConnectionError: return true
    case let error as ChannelError:
        if case .connectTimeout = error { return true }
        return false
    case let error as IOError: return [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(error.errnoCode)
    default: return false
    }
}

/// `--idempotency-key`: the key of an append sent before whose answer was lost (the CLI says it
/// when it gives up), so that sending it again appends it once.
struct AppendKeyOptions: ParsableArguments {
    @Option(name: .customLong("idempotency-key"),
            help: "Send the append with this Idempotency-Key: the one a lost append was sent with (said when it gave up), so that sending it again appends it at most once.")
    var idempotencyKey: String?

    func validate() throws {
        guard let key = idempotencyKey else { return }
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
            throw ValidationError("--idempotency-key: expected 1 to 128 printable ASCII characters, no quote or backslash (the key the CLI said)")
        }
    }
}

func unreachable(_ configuration: ClientConfiguration, _ error: any Error) -> String {
    "cannot reach node \(configuration.node) at \(configuration.shownAddress): \(error)"
        + (configuration.nodeCredential != nil ? " (is `quartet serve --config \(configuration.file)` running?)" : " (is the node up, and is \(configuration.file)'s api its API address?)")
}

/// Runs a raw API call (an answer that is not JSON, such as CSV), with the same errors as `api`.
func call(_ client: APIClient, _ method: HTTPMethod, _ path: String, body: Data? = nil, accept: String? = nil,
          configuration: ClientConfiguration) async throws -> Data {
    let status: Int, response: Data
    do {
        (status, response) = try await client.request(method, path, body: body, accept: accept)
    } catch {
        throw CLIError(unreachable(configuration, error))
    }
    guard (200..<300).contains(status) else {
        let message = (try? JSONDecoder().decode(APIErrorBody.self, from: response))?.error.message ?? String(decoding: response, as: UTF8.self)
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
            (--token-file, $QUARTET_TOKEN or --cert/--key).
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
            printJSON(ImportOutput(log: log, plan: plan.planID, planned: planned.count, alreadyHeld: planned.count - changes.count,
                                   appended: appended, dryRun: dryRun, byType: counts))
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
/// The most entries of its log `import plan` reads from a node (a plan's log is thousands).
let importMaxLogEntries: UInt64 = 50_000_000

func importPlan(file: String, catalogue: String?, targets: String?, client: APIClient, configuration: ClientConfiguration,
                dryRun: Bool) async throws -> (plan: PlanImport, planned: [PlannedEntry], changes: [PlannedEntry], appended: Int) {
    let plan: PlanImport
    do { plan = try PlanImport(planFile: file, catalogueFile: catalogue, targetsFile: targets) } catch { throw CLIError(error.message) }
    let log = configuration.log
    let planned: [PlannedEntry]
    do { planned = try plan.entries(for: log) } catch { throw CLIError(error.message) }
    // What the log holds now (and, for the UK log, its priorities), folded as the view does.
    var view = StrategyView(ukLog: log == plan.planID ? plan.planID : "uk")
    // Up to the size the first page gave: pages must go on from where the last ended, with
    // the entries in order, and end there (a node answering the same page for ever, or pages
    // that never end, is refused rather than followed).
    var from: UInt64 = 0
    var size: UInt64?
    while from < size ?? .max {
        let page = try await api(configuration) { try await client.entries(log: log, from: from, limit: 1000) }
        if size == nil {
            // A plan's log is thousands of entries; one a node says holds more than this is
            // not read to the end (it would be pages for ever).
            guard page.size <= importMaxLogEntries else {
                throw CLIError("node \(configuration.node) says log \(log) holds \(page.size) entries; import plan reads at most \(importMaxLogEntries)")
            }
            size = page.size
        }
        guard page.from == from, page.entries.enumerated().allSatisfy({ $0.element.index == from + UInt64($0.offset) }) else {
            throw CLIError("the node's page of \(log) from \(from) does not hold the entries from \(from) in order; refused")
        }
        if page.entries.isEmpty {
            guard from >= size ?? 0 else {
                throw CLIError("the node's page of \(log) from \(from) is empty, but it said the log holds \(size ?? 0) entries; refused")
            }
            break
        }
        for entry in page.entries {
            let payload = entry.payloadBase64.flatMap { Data(base64Encoded: $0) }.map { Array($0) }
            try? view.apply(ViewEntry(log: log, index: from, timeMillis: 0, type: entry.type, payload: payload))
            from += 1
        }
    }
    let changes: [PlannedEntry]
    do { changes = try PlanImport.changes(planned, log: view.logs[log], priorities: view.priorities) } catch { throw CLIError(error.message) }
    // What the node would refuse is said before anything is appended, and by --dry-run (which
    // said "would append" to a file the node then refused): each change checked as the API's
    // admission checks it (`PlanValidator`) against the log as it is, and folded in order so
    // the next is checked against it, naming the plan's item rather than a position in an
    // HTTP batch. (Checks that need the UK log's state, which this command does not read —
    // the measures mapped to one UK measure — are left to the node.)
    var check = view
    let now = wallClockMillis()
    for (offset, change) in changes.enumerated() {
        if let refusal = admissionRefusal(change, into: &check, log: log, index: from + UInt64(offset), nowMillis: now) {
            let id: String = if case .object(let fields) = change.payload, case .string(let id)? = fields["id"] { " \(id)" } else { "" }
            throw CLIError("\(file): \(change.type.rawValue)\(id): \(refusal); nothing \(dryRun ? "would be " : "")appended")
        }
    }
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

/// Why the API's admission or the nodes' fold would refuse `change` appended to `log` as
/// `view` holds it (which then holds it too), or nil.
func admissionRefusal(_ change: PlannedEntry, into view: inout StrategyView, log: String, index: UInt64, nowMillis: UInt64) -> String? {
    do {
        try PlanValidator.validate(change.type, change.payload, context: LogContext(view: view, log: log))
        try PlanValidator.refuseAhead(change.type, change.payload, nowMillis: nowMillis)
        try PlanValidator.refuseUnclearNames(change.type, change.payload)
        try view.apply(ViewEntry(log: log, index: index, timeMillis: nowMillis, type: change.type.rawValue, payload: change.payload.encoded()))
        return nil
    } catch {
        return error.message
    }
}

/// Appends entries in order in one request (at most 1,000).
func postBatch(_ items: [(type: String, payload: JSONValue)], log: String, client: APIClient, configuration: ClientConfiguration) async throws {
    let batch = items.map { AppendItem(type: $0.type, payload: $0.payload) }
    _ = try await appendOnce(configuration) { try await client.append(log: log, batch: batch, idempotencyKey: $0) }
}


/// `quartet import plan --format json`.
struct ImportOutput: Encodable {
    var log, plan: String
    var planned, alreadyHeld, appended: Int
    var dryRun: Bool
    var byType: [String: Int]

    enum CodingKeys: String, CodingKey {
        case log, plan, planned, appended
        case alreadyHeld = "already_held", dryRun = "dry_run", byType = "by_type"
    }
}
