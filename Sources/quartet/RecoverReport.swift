import Foundation
import Logging
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// What `quartet recover` prints: per log, the entries held and which peers sent them; for the
/// own log also whose payloads came back from a second peer and which are lost. The lost
/// indices are read from the store once the node has stopped (every own-log entry held as a
/// stub), so the report says what is on disk, not what the engine believed.
struct RecoverReport: Encodable {
    struct Log: Encodable {
        var log: String
        var own: Bool
        var entries: UInt64
        /// Entries stored per peer that sent them.
        var from: [String: UInt64]
        /// Own log: payloads of stubs filled, per peer that held them in full.
        var payloadsFrom: [String: Int]?
        /// Own log: indices held as stubs (no peer that answered held the payload).
        var lost: [UInt64]?
        /// Another member's log held short of the largest checkpoint of it seen signed, which
        /// no peer sent entries towards in the whole wait (fetched after the node starts).
        var seen: UInt64?
    }

    var node: String
    var data: String
    var logs: [Log]
    var entries: UInt64
    var seconds: Double
    var entriesPerSecond: Double
    /// This process's peak resident set (getrusage).
    var peakRssMb: Double

    init(configuration: NodeConfiguration, plan: Recovery.Plan, status: RecoveryStatus, seconds: Double) throws {
        let store = try LedgerStore.open(DataDirectory(path: configuration.dataDirectory))
        defer { try? store.close() }
        var logs: [Log] = []
        let short = Set(status.short.map(\.name))
        for held in status.logs {
            var log = Log(log: held.name, own: held.own, entries: held.held, from: held.from)
            if short.contains(held.name) { log.seen = held.seen }
            if held.own {
                log.lost = try store.stubIndices(try store.log(named: held.name))
                log.payloadsFrom = status.filledFrom
            }
            logs.append(log)
        }
        self.logs = logs.sorted { ($0.own ? 0 : 1, $0.log) < ($1.own ? 0 : 1, $1.log) }
        node = configuration.node
        data = configuration.dataDirectory
        entries = status.held
        self.seconds = threeDecimals(seconds)
        entriesPerSecond = seconds > 0 ? (Double(status.held) / seconds).rounded() : 0
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        peakRssMb = (Double(usage.ru_maxrss) / 1024 * 10).rounded() / 10
    }

    func print(format: OutputFormat) {
        switch format {
        case .json:
            printJSON(self, snakeCaseKeys: true)
        case .text:
            Swift.print("recovered \(data) for node \(node): \(entries) entries in \(seconds) s (\(Int(entriesPerSecond)) entries/s, peak RSS \(peakRssMb) MB)")
            for log in logs {
                let from = log.from.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                Swift.print("  \(log.log)\(log.own ? " (own)" : ""): \(log.entries) entries" + (from.isEmpty ? "" : " from \(from)"))
                if let seen = log.seen {
                    Swift.print("    short of a checkpoint of \(seen) its writer signed, which no peer sent entries towards; fetched after the node starts")
                }
                if let payloads = log.payloadsFrom, !payloads.isEmpty {
                    Swift.print("    payloads of stubs from: " + payloads.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                }
                if let lost = log.lost {
                    Swift.print(lost.isEmpty ? "    no payload lost"
                                : "    \(lost.count) payload\(lost.count == 1 ? "" : "s") lost (no peer held them in full; stubs kept, the log verifies): "
                                    + lost.prefix(50).map(String.init).joined(separator: ", ") + (lost.count > 50 ? " and \(lost.count - 50) more" : ""))
                }
            }
            Swift.print("start the node with `quartet serve --config FILE`; it appends after the federation's latest checkpoint of its log")
        }
    }
}

/// `quartet recover --dry-run`: what each peer holds of each log, so what would come back and
/// from where. Writes nothing.
struct RecoverDryRun {
    let configuration: NodeConfiguration
    let plan: Recovery.Plan
    let format: OutputFormat

    struct Output: Encodable {
        struct Peer: Encodable {
            var peer: String
            var answered: Bool
            var logs: [String: UInt64]?
            var problems: [String]
        }
        var node: String
        var data: String
        /// Whether the data directory could be recovered into (it must not hold anything).
        var dataDirectoryUsable: Bool
        var dataDirectoryProblem: String?
        var peers: [Peer]
        /// Per log, the most any peer holds: what would come back.
        var wouldRecover: [String: UInt64]
    }

    func run(timeout: Int, logger: Logger) async throws {
        var problem: String?
        do { try Recovery.checkEmpty(configuration) } catch { problem = "\(error)" }
        let answers = try await RecoveryProbe.ask(configuration, plan: plan, timeout: .seconds(timeout), logger: logger)
        var best: [String: UInt64] = [:]
        for answer in answers { for (log, size) in answer.sizes ?? [:] { best[log] = max(best[log] ?? 0, size) } }
        let output = Output(node: configuration.node, data: configuration.dataDirectory, dataDirectoryUsable: problem == nil, dataDirectoryProblem: problem,
                            peers: answers.map { Output.Peer(peer: $0.peer, answered: $0.sizes != nil, logs: $0.sizes, problems: $0.problems) },
                            wouldRecover: best)
        switch format {
        case .json:
            printJSON(output, snakeCaseKeys: true)
        case .text:
            print("dry run for node \(configuration.node) (nothing written)")
            print(problem.map { "data directory: \($0)" } ?? "data directory: \(configuration.dataDirectory) is empty or new; recover may write it")
            for peer in output.peers {
                guard let logs = peer.logs else {
                    print("  \(peer.peer): no answer (\(peer.problems.joined(separator: "; ")))")
                    continue
                }
                print("  \(peer.peer): " + logs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                      + (peer.problems.isEmpty ? "" : " (\(peer.problems.joined(separator: "; ")))"))
            }
            let own = plan.member.log
            print("would recover: " + best.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            let holders = output.peers.filter { ($0.logs?[own] ?? 0) == (best[own] ?? 0) && $0.logs != nil }.map(\.peer)
            print("own log \(own): \(best[own] ?? 0) entries, held in full length by \(holders.isEmpty ? "no peer" : holders.joined(separator: ", "))"
                  + " (payloads only some peers hold come back from those; the rest would be reported as lost)")
        }
        guard answers.contains(where: { $0.sizes != nil }) else {
            throw CLIError("no peer answered within \(timeout) s")
        }
    }
}
