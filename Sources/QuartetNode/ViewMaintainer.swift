import Foundation
import Logging
import QuartetLedger
import QuartetPlan
import QuartetStore
import Synchronization

/// Keeps the node's combined strategy view (QuartetPlan's `StrategyView`) up to date: folded
/// from the data directory once at start, then entry by entry as batches become durable (the
/// node's own commits and replicated batches), before the append is acknowledged or the batch
/// passed on. Queries read a snapshot (the view is a value; taking one is a copy-on-write
/// reference) and the whole view's JSON is rendered once per view version.
public final class ViewMaintainer: Sendable {
    private struct State {
        var view: StrategyView
        var rendered: (version: UInt64, second: UInt64, health: String, bytes: Data)?
        var updates: UInt64 = 0
        var updateSeconds: Double = 0
        var maxUpdateSeconds: Double = 0
        var entriesFolded: UInt64 = 0
    }

    private let state: Mutex<State>
    let logger: Logger
    /// The logs in display order (UK log first, then the federation's order).
    public let order: [String]

    init(ukLog: String, order: [String], logger: Logger) {
        self.order = order
        self.logger = logger
        state = Mutex(State(view: StrategyView(ukLog: ukLog, logs: order)))
    }

    /// Folds every stored entry of every log (at start).
    func load(from store: LedgerStore) throws {
        let started = ContinuousClock.now
        var total: UInt64 = 0
        for log in try store.logs() {
            let size = try store.size(log)
            var from: UInt64 = 0
            while from < size {
                let entries = try store.entries(log, from: from, limit: 4096)
                guard !entries.isEmpty else { break }
                absorb(log: log.name, entries: entries, checkpoint: nil)
                from += UInt64(entries.count)
                total += UInt64(entries.count)
            }
            if let head = try store.latestCheckpoint(log) {
                state.withLock { $0.view.setCheckpoint(Self.viewCheckpoint(head.checkpoint), log: log.name) }
            }
        }
        let elapsed = started.duration(to: .now)
        logger.info("view loaded", metadata: ["entries": "\(total)", "seconds": "\(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)"])
    }

    /// Folds a durable batch of `log` and records the checkpoint it stands on.
    func absorb(log: String, entries: [Entry], checkpoint: Checkpoint?) {
        let started = ContinuousClock.now
        state.withLock { state in
            for entry in entries {
                let h = entry.header
                do {
                    try state.view.apply(ViewEntry(log: log, index: h.index, timeMillis: h.timeMillis, type: h.type, payload: entry.payload?.bytes))
                } catch {
                    logger.error("view: cannot fold an entry", metadata: ["log": "\(log)", "index": "\(h.index)", "error": "\(error)"])
                }
            }
            if let checkpoint {
                state.view.setCheckpoint(Self.viewCheckpoint(checkpoint), log: log)
            }
            let elapsed = started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.updates += 1
            state.updateSeconds += seconds
            state.maxUpdateSeconds = max(state.maxUpdateSeconds, seconds)
            state.entriesFolded += UInt64(entries.count)
        }
    }

    static func viewCheckpoint(_ c: Checkpoint) -> ViewCheckpoint {
        ViewCheckpoint(size: c.size, rootBase64: c.root.base64, timeMillis: c.timeMillis)
    }

    /// The view as it stands.
    public var snapshot: StrategyView { state.withLock { $0.view } }

    /// (updates, total seconds, slowest seconds, entries folded) since start.
    var updateStatistics: (count: UInt64, seconds: Double, max: Double, entries: UInt64) {
        state.withLock { ($0.updates, $0.updateSeconds, $0.maxUpdateSeconds, $0.entriesFolded) }
    }

    /// The whole view's JSON, rendered at most once per view version, log health and second
    /// (`generated_at` says when; checkpoint ages are as of then).
    func wholeJSON(node: String, health: [String: LogHealth]) -> Data {
        let now = wallClockMillis()
        let second = now / 1000
        let healthKey = health.keys.sorted().map { "\($0)=\(health[$0]!.verified)/\(health[$0]!.alerts.count)" }.joined(separator: ",")
        let (view, cached) = state.withLock { ($0.view, $0.rendered) }
        if let cached, cached.version == view.version, cached.second == second, cached.health == healthKey { return cached.bytes }
        var object = ViewQueries(view: view, health: health, nowMillis: now, order: order).whole()
        object["node"] = node
        object["generated_at"] = ViewQueries.iso(now)
        let bytes = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        state.withLock { state in
            if (state.rendered?.version ?? 0) <= view.version { state.rendered = (view.version, second, healthKey, bytes) }
        }
        return bytes
    }
}
