import Foundation
import Logging
@testable import QuartetNode
import QuartetReplication
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
}
