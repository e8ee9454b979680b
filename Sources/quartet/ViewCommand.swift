import ArgumentParser
import Foundation
import QuartetAPI
import QuartetNode
import QuartetPlan

enum ViewFormat: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

struct ViewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "The combined strategy view of a running node, as the API gives it.",
        discussion: """
            Without a selection: the priorities × nations matrix, each nation's checkpoint, and \
            the UK totals. --format json prints the API's JSON, --format csv its CSV table.
            """)

    @OptionGroup var node: NodeClientOptions
    @Option(help: "One UK priority, e.g. P2.") var priority: String?
    @Option(help: "One nation's log, e.g. wales.") var nation: String?
    @Option(help: "One measure across the logs, e.g. P2.A2.M1.") var measure: String?
    @Option(help: "With --measure: a year, quarter or month.") var period: String?
    @Option(help: "The entries behind a figure id, with inclusion proofs.") var figure: String?
    @Flag(help: "The UK totals against the targets.") var totals = false
    @Option(help: "With --format csv: actions, totals or readings.") var table: String?
    @Option(help: "table, json or csv.") var format: ViewFormat = .table

    func run() async throws {
        let selections = [priority != nil, nation != nil, measure != nil, figure != nil, totals].filter { $0 }.count
        guard selections <= 1 else { throw ValidationError("give at most one of --priority, --nation, --measure, --figure, --totals") }
        let (client, configuration) = try node.client()
        do {
            try await show(client)
        } catch let error as APIClient.ViewRequestError {
            throw CLIError(error.description)
        } catch let error as APIClient.ViewDecodingError {
            throw CLIError(error.description)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw CLIError(unreachable(configuration, error))
        }
    }

    func show(_ client: APIClient) async throws {
        if format == .csv {
            guard figure == nil else { throw ValidationError("a figure's provenance has no CSV form; use --format json") }
            var path = "/v1/view"
            if let priority { path += "/priorities/\(priority)" }
            if let nation { path += "/nations/\(nation)" }
            if let measure { path = APIClient.viewPath(measure: measure, period: period) }
            if totals { path += "/totals" }
            let csv = try await client.viewCSV(path, table: table)
            // Defused by the node, which may be the hostile party: on a terminal, each line is
            // shown escaped (a file or a pipe gets the bytes as they came).
            if isatty(STDOUT_FILENO) == 1 {
                // By bytes: the node's CSV ends lines with CRLF, which Swift's `String` holds as
                // one character that is not "\n".
                for line in Array(csv).split(separator: 0x0A, omittingEmptySubsequences: false) {
                    print(String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self))
                }
            } else {
                FileHandle.standardOutput.write(csv)
            }
            return
        }
        if let priority {
            let answer = try await client.viewPriority(priority)
            if format == .json { return printJSON(answer) }
            print("\(answer.id) \(answer.title)")
            for (log, c) in answer.nations.sorted(by: { $0.key < $1.key }) where c.actions > 0 {
                let oldest: String = c.oldestAsOf.map { ", oldest update \($0)" } ?? ""
                let stale: String = ViewQueries.staleText(c).map { " (stale: \($0))" } ?? ""
                print("  \(pad(ViewQueries.displayName(log), 17)) \(percent(c.progress))% on track or done, \(c.colour)\(oldest)\(stale)")
            }
            printActions(answer.actions)
        } else if let nation {
            let answer = try await client.viewNation(nation)
            if format == .json { return printJSON(answer) }
            print("\(answer.log.name) — \(answer.log.entries) entries, \(answer.log.verified ? "verified" : "NOT VERIFIED")")
            printActions(answer.actions)
        } else if let measure {
            let answer = try await client.viewMeasure(measure, period: period)
            if format == .json { return printJSON(answer) }
            printMeasure(answer)
        } else if let figure {
            let answer = try await client.viewProvenance(figure: figure)
            if format == .json { return printJSON(answer) }
            printProvenance(answer)
        } else if totals {
            let answer = try await client.viewTotals()
            if format == .json { return printJSON(answer) }
            printTotals(answer.totals)
        } else {
            let answer = try await client.view()
            if format == .json { return printJSON(answer) }
            printWhole(answer)
        }
    }

    /// The answer as the API's JSON, indented.
    func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        FileHandle.standardOutput.write(((try? encoder.encode(value)) ?? Data("null".utf8)) + Data("\n".utf8))
    }

    /// A share as a whole percentage, whatever number the node sent (clamped to 0–100).
    func percent(_ share: Double) -> Int { ViewQueries.wholePercent(share) }

    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? String(s.prefix(n)) : s.padding(toLength: n, withPad: " ", startingAt: 0) }

    func printWhole(_ view: CombinedView) {
        print("combined strategy view at \(view.node) (\(view.generatedAt))")
        print("logs:")
        for log in view.logs {
            let age = log.checkpoint?.ageSeconds.map { "checkpoint \(Int(exactly: $0.rounded(.down)).map(String.init) ?? "?") s old" } ?? "no checkpoint"
            let verified = log.verified ? "verified" : "NOT VERIFIED"
            let alerts = log.alerts.count
            print("  \(pad(log.name, 17)) \(pad("\(log.entries) entries", 14)) \(pad(age, 26)) \(verified)\(alerts > 0 ? ", \(alerts) alerts" : "")")
        }
        let names = view.logs.map(\.log)
        print("priorities × nations (share of actions on track or done; colour; stale: the oldest update two quarters or more behind the matrix's newest):")
        print("  " + pad("", 38) + names.map { pad(ViewQueries.displayName($0), 17) }.joined())
        for p in view.priorities {
            let row = names.map { n -> String in
                guard let c = p.nations[n], c.actions > 0 else { return pad("-", 17) }
                return pad("\(percent(c.progress))% \(c.colour)\(c.stale == true ? " stale" : "")", 17)
            }
            print("  " + pad("\(p.id) \(p.title)", 38) + row.joined())
        }
        printTotals(view.totals)
    }

    func printActions(_ actions: [ViewAction]) {
        for a in actions {
            let withdrawn = a.withdrawn != nil ? " (withdrawn)" : ""
            print("  \(pad("\(a.log) \(a.id)", 24)) \(pad(a.status ?? "no status", 12)) \(pad(a.asOf ?? "", 11)) \(String(a.title.prefix(70)))\(withdrawn)")
            for m in a.measures ?? [] {
                guard let latest = m.latest else { continue }
                let value = latest.value.map(ViewQueries.number) ?? latest.achieved.map { $0 ? "achieved" : "not achieved" } ?? "reported"
                print("      \(pad(m.id, 12)) \(pad(latest.period, 8)) \(value)")
            }
        }
    }

    func printTotals(_ totals: [ViewTotal]) {
        print("UK totals:")
        if totals.isEmpty { print("  (none yet)") }
        for t in totals {
            let target = t.target.map { " of target \(ViewQueries.number($0))" } ?? ""
            let parts = t.contributions.sorted { $0.key < $1.key }.map { "\($0.key) \(ViewQueries.number($0.value))" }
            print("  \(pad("\(t.measure) \(t.period)", 19)) \(ViewQueries.number(t.value))\(target)  (\(parts.joined(separator: ", ")))  [\(t.figure)]")
        }
    }

    func printMeasure(_ answer: MeasureView) {
        for s in answer.series {
            print("\(s.log) \(s.id) (\(s.kind)): \(s.text)")
            for r in s.readings ?? [] {
                var value = ""
                if let v = r.value { value = ViewQueries.number(v) }
                else if let a = r.achieved { value = a ? "achieved" : "not achieved" }
                else if let t = r.text { value = t }
                else if let c = r.categories { value = ViewQueries.categories(c) }
                print("  \(pad(r.period, 8)) \(value)  [\(r.figure)]")
            }
        }
        printTotals(answer.totals)
    }

    /// The entries behind a figure, each with its inclusion proof, and the checkpoints — as the
    /// node says: nothing here is checked (the figure page's script checks it in the browser;
    /// `quartet verify-checkpoint --policy` checks a checkpoint with nothing but a policy).
    func printProvenance(_ answer: ViewProvenance) {
        print("figure \(answer.figure) rests on (as the node says, not checked here; check with `--format json` and `quartet verify-checkpoint`, or the figure's page):")
        for item in answer.entries {
            let e = item.entry, proof = item.inclusion
            print("  \(e.log)/\(e.index) \(e.type) leaf \(e.leafHash) — the node gives a proof of it in tree size \(proof.size) (\(proof.proof.count) hashes)")
        }
        for (log, note) in answer.checkpoints.sorted(by: { $0.key < $1.key }) {
            let w = answer.witnessed?[log]
            print("checkpoint of \(log)" + (w.map { ", the node says witnessed by \($0.witnesses.count) of \($0.of)\($0.witnesses.isEmpty ? "" : " (" + $0.witnesses.joined(separator: ", ") + ")")\($0.quorum ? "" : ": NOT a quorum")" } ?? "") + ":")
            for line in note.split(separator: "\n") { print("  " + line) }
        }
    }
}

/// Each line this file prints comes from the node's answer: escaped (`TerminalText`).
private func print(_ line: String) { Swift.print(TerminalText.escaped(line)) }
