import Foundation
import Logging
import QuartetCrypto
@testable import QuartetNode
import QuartetPlan
import QuartetReplication
import Synchronization
import Testing

/// The engine's alert log: bounded per kind and peer, keeping the first alerts (the evidence)
/// and the newest, counted in the metrics.
@Suite struct AlertLogTests {
    @Test func eachKindAndPeerKeepsItsFirstAndNewestAlertsAndNoOneCrowdsOutAnother() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let metrics = NodeMetrics(ownLog: "wales")
        var log = AlertLog(logger: logger, metrics: metrics)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        log.record(ReplicationAlert(kind: .rejected, log: "uk", peer: "uk", message: "uk: first"), at: start)
        let flood = AlertLog.perKindAndPeer * 3
        for i in 0..<flood {
            log.record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: "england", message: "england \(i)\u{1b}[31m"),
                       at: start + Double(i + 1))
        }
        let list = log.list
        let england = list.filter { $0.alert.peer == "england" }.map(\.alert.message)
        #expect(england.count == AlertLog.perKindAndPeer)
        // The first half as they came, then the newest.
        #expect(Array(england.prefix(AlertLog.perKindAndPeer / 2)) == (0..<(AlertLog.perKindAndPeer / 2)).map { "england \($0)\\u{1b}[31m" })
        #expect(england.last == "england \(flood - 1)\\u{1b}[31m")
        // Another peer's alert is still there, first in time order.
        #expect(list.first?.alert.message == "uk: first")
        #expect(list.map(\.time) == list.map(\.time).sorted())
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("quartet_alerts_total{kind=\"protocol\"} \(flood)"))
        #expect(text.contains("quartet_alerts_total{kind=\"rejected\"} 1"))
    }

    /// The list is kept in time order as alerts come (no sort per read: finding 271), an alert
    /// dated before the last (a clock stepped back) in its place after those of its time, and
    /// the generation moves with every alert.
    @Test func theListIsKeptInTimeOrderAsAlertsComeAndTheGenerationMoves() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var log = AlertLog(logger: logger, metrics: NodeMetrics(ownLog: "wales"))
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var expected: [String] = []
        for (i, offset) in [10.0, 20, 30, 15, 20, 5, 40].enumerated() {
            log.record(ReplicationAlert(kind: .rejected, log: "uk", peer: "p\(i % 2)", message: "a\(i)"), at: start + offset)
            #expect(log.generation == UInt64(i + 1))
        }
        expected = ["a5", "a0", "a3", "a1", "a4", "a2", "a6"]
        #expect(log.list.map(\.alert.message) == expected)
        // Dropping the middle of a full (kind, peer) keeps the others in order.
        for i in 0..<AlertLog.perKindAndPeer {
            log.record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: "q", message: "q\(i)"), at: start + 100 + Double(i))
        }
        log.record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: "q", message: "last"), at: start + 50)
        let list = log.list
        #expect(list.count == expected.count + AlertLog.perKindAndPeer)
        #expect(!list.contains { $0.alert.message == "q\(AlertLog.perKindAndPeer / 2)" })
        #expect(list.map(\.time) == list.map(\.time).sorted())
        #expect(list[expected.count].alert.message == "last")
        #expect(log.generation == UInt64(expected.count + AlertLog.perKindAndPeer + 1))
    }

    /// TLS refusals counted from the log budgets' totals at each scrape, as counters.
    @Test func tlsRefusalsAreCountedAtEachScrape() {
        let metrics = NodeMetrics(ownLog: "wales")
        metrics.countTLSRefusals(api: 3, peer: 0)
        metrics.countTLSRefusals(api: 5, peer: 2)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("quartet_tls_refusals_total{port=\"api\"} 5"), "\(text)")
        #expect(text.contains("quartet_tls_refusals_total{port=\"peer\"} 2"), "\(text)")
    }

    /// A log name a peer made up (a log the federation does not have) is kept cleaned and
    /// short, not as sent.
    @Test func aPeersLogNameIsKeptCleanedAndShort() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var log = AlertLog(logger: logger, metrics: NodeMetrics(ownLog: "wales"))
        log.record(ReplicationAlert(kind: .protocolViolation, log: String(repeating: "x", count: 65_536) + "\u{1b}[31m", peer: "england", message: "m"))
        let kept = try? #require(log.list.first?.alert.log)
        #expect((kept?.utf8.count ?? .max) <= 256, "kept \(kept?.utf8.count ?? 0) bytes of the peer's log name")
        #expect(kept?.contains("\u{1b}") == false)
    }

    /// Text from a peer or a client, as the logs and the status page get it: C0 and C1 controls
    /// (U+009B starts a terminal's escape sequence), line separators and bidirectional controls
    /// (U+202E shows a line reordered) escaped, everything else as it was.
    @Test func peerTextEscapesControlsAndBidirectionalOverrides() {
        for hidden: Unicode.Scalar in ["\u{1b}", "\n", "\u{9b}", "\u{2028}", "\u{202e}", "\u{202a}", "\u{2066}", "\u{2069}", "\u{200f}", "\u{61c}"] {
            let cleaned = PeerText.clean("/v1/\(hidden)x")
            #expect(!cleaned.unicodeScalars.contains(hidden) && cleaned.contains("\\u{\(String(hidden.value, radix: 16))}"), "\(cleaned)")
        }
        #expect(PeerText.clean("/v1/logs/wales — café ✓") == "/v1/logs/wales — café ✓")
        // Everything the one rule for text people read refuses (controls, bidirectional
        // overrides and isolates) is escaped here too: the two cannot drift apart.
        for value in UInt32(0)...0x3000 {
            guard let scalar = Unicode.Scalar(value), ShownText.isControl(scalar) else { continue }
            #expect(PeerText.isHidden(scalar), "U+\(String(value, radix: 16)) is refused in text people read but logged raw")
        }
        #expect(PeerText.clean(String(repeating: "a", count: 300), limit: 256).utf8.count <= 256 + 3)
    }

    /// A member raising alerts as fast as it sends bad batches gets a few log lines a minute per
    /// kind, the rest counted in the next line; the evidence of a second history is always logged.
    @Test func alertsAreLoggedWithinABudgetPerKindAndPeerButEvidenceAlways() {
        let collected = Lines()
        var logger = Logger(label: "test") { _ in CollectingLogHandler { text in collected.box.withLock { $0.append(text) } } }
        logger.logLevel = .debug
        let now = Mutex(ContinuousClock.now)
        var log = AlertLog(logger: logger, metrics: NodeMetrics(ownLog: "wales"), clock: { now.withLock { $0 } })
        for i in 0..<500 { log.record(ReplicationAlert(kind: .rejected, log: "england", peer: "england", message: "bad batch \(i)")) }
        log.record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: "scotland", message: "scotland broke the protocol"))
        for i in 0..<30 { log.record(ReplicationAlert(kind: .equivocation, log: "england", peer: "uk", message: "two histories \(i)")) }
        var written = collected.box.withLock { $0 }
        #expect(written.filter { $0.contains("bad batch") }.count == AlertLog.linesPerMinute)
        #expect(written.filter { $0.contains("two histories") }.count == 30, "evidence is never dropped")
        #expect(written.contains { $0.contains("scotland broke the protocol") }, "another peer's budget is its own")
        // A minute on, the next line says how many were not logged.
        now.withLock { $0 += .seconds(61) }
        log.record(ReplicationAlert(kind: .rejected, log: "england", peer: "england", message: "bad batch again"))
        written = collected.box.withLock { $0 }
        #expect(written.last?.contains("alerts_not_logged=\(500 - AlertLog.linesPerMinute)") == true, "\(written.last ?? "")")
        #expect(log.list.count == AlertLog.perKindAndPeer + 1 + 30, "every alert is still kept and counted")
    }

    /// The status page lists one line per kind and peer, evidence first: hundreds of one
    /// member's alerts do not push an equivocation about another log off the page.
    @Test func theSummaryKeepsEvidenceFirstWhateverFloodsAfterIt() {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var list: [(time: Date, alert: ReplicationAlert)] = [(start, ReplicationAlert(kind: .equivocation, log: "scotland", peer: "uk", message: "two histories"))]
        for i in 0..<500 { list.append((start + Double(i + 1), ReplicationAlert(kind: .rejected, log: "england", peer: "england", message: "bad \(i)"))) }
        list.append((start + 600, ReplicationAlert(kind: .protocolViolation, log: nil, peer: "england", message: "protocol")))
        // Evidence about a second log relayed by the same peer is a line of its own.
        list.append((start + 2, ReplicationAlert(kind: .equivocation, log: "wales", peer: "uk", message: "two histories of wales")))
        let withSecondLog = AlertLog.summary(list)
        #expect(withSecondLog.count == 4 && withSecondLog.prefix(2).allSatisfy { $0.alert.kind == .equivocation })
        list.removeLast()
        let summary = AlertLog.summary(list)
        #expect(summary.count == 3)
        #expect(summary.first?.alert.message == "two histories")
        #expect(summary[1].alert.message == "bad 499" && summary[1].count == 500, "the newest of the kind, with the count")
        #expect(summary[2].alert.kind == .protocolViolation)
    }
}

private final class Lines: Sendable {
    let box = Mutex<[String]>([])

    /// Finding 287: an own log's tail taken back after a restore names the peer and which entries
    /// came back in full, which says who held which restricted rows: this node's operator reads it,
    /// anyone else (a reader, an auditor, another log's operator, the view's log health) its kind
    /// and log only.
    @Test func aRecoveredTailNamesItsPeerToTheOperatorOnly() {
        let alert = ReplicationAlert(kind: .ownLogRecovered, log: "wales", peer: "england",
                                     message: "took entries [50, 1050) of this node's own log wales from england: ...; 3 came back without their payload, lost here: 60, 61, 62")
        #expect(alert.shown(to: .operator("wales"), ownLog: "wales") == alert)
        for viewer: FederationIdentity? in [.reader("analyst"), .auditor("heiw"), .operator("england"), .node("england"), nil] {
            let shown = alert.shown(to: viewer, ownLog: "wales")
            #expect(shown.peer == nil && !shown.message.contains("england") && !shown.message.contains("60"), "\(String(describing: viewer)): \(shown.message)")
            #expect(shown.kind == .ownLogRecovered && shown.log == "wales")
        }
    }
}
