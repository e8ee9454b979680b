import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetStore
import QuartetTLS
import Synchronization

/// Keeps the node's combined strategy view (QuartetPlan's `StrategyView`) up to date: folded
/// from the data directory once at start, then entry by entry as batches become durable. The
/// node's own commits are folded before their appends are acknowledged (an operator who just
/// added an action can record its status at once); replicated batches are folded on the
/// view's own queue, off the replication path, in passes up to 20 ms after they are stored
/// (`absorbReplica`), with at most `maxBacklog` entries waiting (beyond that, ingest waits for
/// the view). Queries read a snapshot (the view is a value;
/// taking one is a copy-on-write reference) and the whole view's JSON is rendered once per
/// view version and second.
///
/// (Over ~350 lines: the folds and the answers rendered from the folded view share one state
/// and its version.)
public final class ViewMaintainer: Sendable {
    private struct State {
        var view: StrategyView
        var rendered: (version: UInt64, second: UInt64, health: String, bytes: Data)?
        var maxUpdateSeconds: Double = 0
        /// Purges so far: a refold that saw one start during it folds again.
        var purges = 0
    }

    private let state: Mutex<State>
    /// The data-sharing agreements, folded from the same entries, under a lock of their own:
    /// egress and ingress read them for every batch, and must not wait for a long fold.
    private let policyState: Mutex<Policy>
    private let queue = DispatchQueue(label: "quartet.view")
    private let backlog = Atomic<Int>(0)
    /// Replicated entries that may wait to be folded.
    static let maxBacklog = 50_000
    /// The most recent folds, numbered from 1, newest last (benchmarks read them).
    private let recent = Mutex<(sequence: Int, folds: [(sequence: Int, log: String, entries: Int, seconds: Double)])>((0, []))
    let logger: Logger
    private let metrics: NodeMetrics
    /// The logs in display order (UK log first, then the federation's order).
    public let order: [String]

    /// Where missing entries are read from if a batch ever arrives ahead of the view.
    private let store: LedgerStore
    /// Whether entries are folded into the view at all (not while `quartet recover` runs: only
    /// the agreements are folded then, and the serving node folds its view at start).
    let foldsView: Bool
    /// Told when an agreement is revoked (after the fold; the purge runs elsewhere).
    let onAgreementEnded = LateHook<String, Void>()

    init(ukLog: String, order: [String], owners: [String: NoteVerifier], labels: LabelOwnership, history: [String: OwnerHistory] = [:],
         store: LedgerStore, metrics: NodeMetrics, foldsView: Bool = true, logger: Logger) {
        self.metrics = metrics
        self.foldsView = foldsView
        self.order = order
        self.store = store
        self.logger = logger
        // Only the members' logs count in UK figures (`StrategyView.counted`; a reload changes it).
        state = Mutex(State(view: StrategyView(ukLog: ukLog, logs: order, counted: Set(order))))
        policyState = Mutex(Policy(owners: owners, labels: labels, history: history))
    }

    /// Counts only `logs` (the members the federation file lists now) in UK figures: a reload
    /// that removed a member takes its readings out of every UK total at once, and one that
    /// added a member puts its readings in.
    func countOnly(_ logs: Set<String>) {
        queue.sync { state.withLock { $0.view.countOnly(logs) } }
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
        logger.info("view loaded", metadata: ["entries": "\(total)", "seconds": "\(elapsed.seconds)"])
    }

    /// Folds the view again from the store, soon, off the paths that wait for it: for entries
    /// whose payloads arrived after they were folded as stubs (own-log stubs filled by peers,
    /// OwnLogBackfill.swift). The fold depends on order (a reading replaces the one before it,
    /// a status the last), so a payload cannot be patched in: a new view is folded from the
    /// store on a queue of its own, then brought up to what the live view folded meanwhile and
    /// swapped in on the view's queue, so appends wait only for that last step. Requests made
    /// while one runs are served by one more refold after it.
    func refold(reason: String) {
        guard foldsView, !refoldWanted.exchange(true, ordering: .acquiringAndReleasing) else { return }
        refolding.async {
            self.refoldWanted.store(false, ordering: .releasing)
            let started = ContinuousClock.now
            do {
                // A purge during the fold may have left payloads in the new view: fold again.
                var swapped = false
                for _ in 0..<3 where !swapped { swapped = try self.refoldOnce() }
                if swapped {
                    self.logger.notice("view folded again from the store", metadata: ["reason": "\(reason)", "seconds": "\(started.duration(to: .now).seconds)"])
                } else {
                    self.logger.warning("view: purges kept interrupting the fold from the store; the view lacks those payloads until the next start", metadata: ["reason": "\(reason)"])
                }
            } catch {
                self.logger.error("view: cannot fold again from the store; the view lacks those payloads until the next start", metadata: ["reason": "\(reason)", "error": "\(error)"])
            }
        }
    }

    private let refolding = DispatchQueue(label: "quartet.view.refold")
    /// Lines for agreement entries the fold ignores: at most 20 a minute per log (the logs
    /// are the federation's), so one member's flood hides no other log's.
    private let ignoredLines = Mutex<[String: LogBudget]>([:])
    private let refoldWanted = Atomic<Bool>(false)

    /// One refold; false (nothing swapped) when a purge ran during it.
    private func refoldOnce() throws -> Bool {
        let (ukLog, purges, counted) = state.withLock { ($0.view.ukLog, $0.purges, $0.view.counted) }
        var fresh = StrategyView(ukLog: ukLog, logs: order, counted: counted)
        let logs = try store.logs()
        for log in logs {
            try Self.fold(store, log: log, upTo: try store.size(log), into: &fresh)
        }
        return try queue.sync {
            try state.withLock { state in
                guard state.purges == purges else { return false }
                // Logs added meanwhile (a federation reload) are folded from the start.
                for log in try store.logs() {
                    // Entries the live view folded after the store was read are durable: read them.
                    try Self.fold(store, log: log, upTo: state.view.logs[log.name]?.size ?? 0, into: &fresh)
                    if let checkpoint = state.view.logs[log.name]?.checkpoint { fresh.setCheckpoint(checkpoint, log: log.name) }
                }
                fresh.succeed(state.view)
                // The members counted now (a reload may have changed them meanwhile).
                fresh.countOnly(state.view.counted)
                state.view = fresh
                state.rendered = nil
                return true
            }
        }
    }

    /// Folds `log`'s stored entries from what `view` holds of it up to `end`.
    private static func fold(_ store: LedgerStore, log: LogInfo, upTo end: UInt64, into view: inout StrategyView) throws {
        var from = view.logs[log.name]?.size ?? 0
        while from < end {
            let entries = try store.entries(log, from: from, limit: Int(min(4096, end - from)))
            guard !entries.isEmpty else { break }
            try view.apply(contentsOf: viewEntries(log: log.name, entries))
            from += UInt64(entries.count)
        }
    }

    /// What the view is given of `entries`.
    public static func viewEntries(log: String, _ entries: [Entry], admitted: Bool = false) -> [ViewEntry] {
        entries.map { entry in
            var viewEntry = ViewEntry(log: log, index: entry.header.index, timeMillis: entry.header.timeMillis, type: entry.header.type, payload: entry.payload?.bytes,
                                      isPublic: entry.header.classification == EntryHeader.publicClassification, classification: entry.header.classification)
            viewEntry.admitted = admitted
            return viewEntry
        }
    }

    /// Folds a durable batch of the node's own log before returning. `admitted`: the batch is a
    /// commit of this node's writer, every plan entry of it checked by its admission against
    /// the state the fold reaches it in (`AppendAdmission`), so the fold does not check them
    /// again (the own log's tail taken from peers is checked).
    func absorbOwn(log: String, entries: [Entry], checkpoint: Checkpoint, admitted: Bool = false) {
        queue.sync { absorb(log: log, entries: entries, checkpoint: checkpoint, admitted: admitted) }
    }

    /// Folds a durable replicated batch on the view's queue, in the next fold pass: one runs
    /// `replicaFoldMillis` after the first batch that waits for it and folds every batch that
    /// came meanwhile, in the order they were stored. So the view's work leaves the moment a
    /// commit's replication and witnessing run (a witness's answer would wait for the CPU the
    /// fold takes), and a stream of batches costs one pass per interval. A batch with policy
    /// entries (agreements, disclosure and purge records) is folded at once (with those before
    /// it), and one with a few agreements before this returns: egress and ingress judge the next
    /// batches by the agreements. Waits only when the
    /// backlog is full. After a purge, batches are read again from the store (`afterPurges`).
    func absorbReplica(log: String, entries: [Entry], checkpoint: Checkpoint) {
        let waiting = backlog.add(entries.count, ordering: .relaxed).newValue
        let policyEntries = entries.indices.contains { PolicyEntryType(rawValue: entries[$0].header.type) != nil }
        // Agreements, established or revoked, are what ingress and egress read; a few of them
        // (an honest batch carries one or two) are folded before this returns. Disclosure and
        // purge records, which every holder sending restricted rows writes about once a second,
        // and a batch of many agreement entries (each an owner-signature check, which a member
        // could push by the thousand), are folded at once but not waited for.
        let agreementEntries = entries.lazy.filter { [PolicyEntryType.established.rawValue, PolicyEntryType.revoked.rawValue].contains($0.header.type) }.prefix(Self.agreementsFoldedInLine + 1).count
        let schedule = waitingBatches.withLock { waiting in
            waiting.batches.append((log, entries, checkpoint))
            defer { waiting.scheduled = true }
            return !waiting.scheduled
        }
        if waiting > Self.maxBacklog {
            queue.sync { foldWaiting() }
        } else if agreementEntries > 0, agreementEntries <= Self.agreementsFoldedInLine {
            // Before this returns (the engine's queue waits): the next batch, often waiting
            // already, is judged at ingress the moment this one's completion goes on — folded
            // later, an agreement ending one batch left the rows it covers in the next stripped
            // for good and their honest holder blamed, and a revocation's rows sent after it in
            // full unreported (a review of races).
            queue.sync { foldWaiting() }
        } else if policyEntries {
            queue.async { self.foldWaiting() }
        } else if schedule {
            queue.asyncAfter(deadline: .now() + .milliseconds(Self.replicaFoldMillis)) { self.foldWaiting() }
        }
    }

    /// A replicated batch is folded at most this long after it was stored (`absorbReplica`).
    static let replicaFoldMillis = 20
    /// A batch with at most this many agreement entries is folded before the engine goes on
    /// (`absorbReplica`).
    static let agreementsFoldedInLine = 8
    /// Replicated batches waiting for the next fold pass, in the order they were stored.
    private let waitingBatches = Mutex<(batches: [(log: String, entries: [Entry], checkpoint: Checkpoint)], scheduled: Bool)>(([], false))

    /// Folds the replicated batches waiting (on `queue`).
    private func foldWaiting() {
        dispatchPrecondition(condition: .onQueue(queue))
        let batches = waitingBatches.withLock { waiting in
            defer { waiting = ([], false) }
            return waiting.batches
        }
        for batch in batches {
            // A purge between the read below and the fold is seen under the view's lock.
            let purges = state.withLock { $0.purges }
            absorb(log: batch.log, entries: afterPurges(batch.log, batch.entries), checkpoint: batch.checkpoint, purgesSeen: purges)
            backlog.subtract(batch.entries.count, ordering: .relaxed)
        }
    }

    /// A batch's entries as the store holds them now, if a purge of its log ran in the last
    /// `purgeRereadSeconds`: a batch stored before the purge and folded after it (waiting for
    /// its pass, or still between the store and `absorbReplica`) would bring what the purge
    /// removed back into the view from its copy in memory. Read again, the purged payloads are
    /// gone; if the read fails, the batch is folded as stubs. (A batch folds within a pass, or
    /// within the backlog's 50,000 entries: well inside the window.)
    private func afterPurges(_ log: String, _ entries: [Entry]) -> [Entry] {
        guard let purged = purgedAt.withLock({ $0[log] }),
              purged.duration(to: .now) < .seconds(Self.purgeRereadSeconds) else { return entries }
        return readAgain(log, entries)
    }

    /// `entries` as the store holds them now (stubs if the read fails).
    private func readAgain(_ log: String, _ entries: [Entry]) -> [Entry] {
        guard let first = entries.first else { return entries }
        do {
            let stored = try store.entries(try store.log(named: log), from: first.header.index, limit: entries.count)
            if stored.count == entries.count { return stored }
            throw PlanError("the store gave \(stored.count) of the batch's \(entries.count) entries")
        } catch {
            logger.warning("view: cannot read a batch again after a purge; folded without its payloads", metadata: ["log": "\(log)", "error": "\(error)"])
            return entries.map(\.stub)
        }
    }

    /// For how long after a purge of a log its replicated batches are read from the store.
    static let purgeRereadSeconds: Int64 = 60
    /// When each log was last purged.
    private let purgedAt = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Replicated entries stored and not yet folded.
    var unfolded: Int { backlog.load(ordering: .relaxed) }

    /// Entries folded per log (`view_size` in the log listing; `Node.viewSizes`).
    var foldedSizes: [String: UInt64] { snapshot.logs.mapValues(\.size) }

    /// Entries of `log` folded: `policy` holds every agreement entry before it (a batch's
    /// agreements are folded before its view entries).
    func foldedSize(of log: String) -> UInt64 { snapshot.logs[log]?.size ?? 0 }

    /// The most recent folds (at most 256), numbered from 1, newest last.
    public var recentFolds: [(sequence: Int, log: String, entries: Int, seconds: Double)] { recent.withLock { $0.folds } }
    /// How many folds there have been.
    public var foldCount: Int { recent.withLock { $0.sequence } }

    /// Folds a durable batch of `log` and records the checkpoint it stands on.
    /// `purgesSeen`: the view's purge count when `entries` were read (replicated batches): if a
    /// purge ran since, they are read again under the view's lock, where every purge that ran
    /// is committed (a purge holds the lock through its commit), so none of its payloads comes
    /// back from a copy read before it.
    func absorb(log: String, entries: [Entry], checkpoint: Checkpoint?, admitted: Bool = false, purgesSeen: Int? = nil) {
        let started = ContinuousClock.now
        var ended: [String] = []
        defer { for id in ended { onAgreementEnded(id) } }
        // Agreements first: a batch's data entries are judged by the agreements before them.
        // (By index: a closure over the elements copies each entry, a dozen retains apiece.)
        if entries.indices.contains(where: { PolicyEntryType(rawValue: entries[$0].header.type) != nil }) {
            let now = wallClockMillis()
            policyState.withLock { policy in
                for entry in entries where PolicyEntryType(rawValue: entry.header.type) != nil {
                    let h = entry.header
                    // Agreements are public by nature: a restricted one would be in force only at
                    // the nodes that hold its payload, so no node honours it.
                    let payload = h.classification == EntryHeader.publicClassification ? entry.payload?.bytes : nil
                    switch policy.apply(log: log, index: h.index, timeMillis: Policy.effectiveTime(h.timeMillis, now: now), type: h.type, payload: payload) {
                    case .ignored(let reason):
                        // A member can sign any number of ignorable agreement entries, each
                        // logged at every node and again at every fold from the store: a budget.
                        let budget = ignoredLines.withLock { budgets in
                            if let kept = budgets[log] { return kept }
                            let made = LogBudget(lines: 20, per: .seconds(60))
                            budgets[log] = made
                            return made
                        }.take()
                        guard budget.write else { break }
                        var metadata: Logger.Metadata = ["log": "\(log)", "index": "\(h.index)", "reason": "\(reason)"]
                        if budget.dropped > 0 { metadata["ignored_not_logged"] = "\(budget.dropped)" }
                        logger.warning("agreement entry ignored", metadata: metadata)
                    case .revoked(let id):
                        ended.append(id)
                    default:
                        break
                    }
                }
            }
        }
        guard foldsView else { return }
        let elapsed = state.withLock { state in
            let entries = purgesSeen.map { $0 != state.purges } == true ? readAgain(log, entries) : entries
            do {
                try state.view.apply(contentsOf: Self.viewEntries(log: log, entries, admitted: admitted))
            } catch {
                // Entries reach the view in log order, so this should not happen; if it does,
                // fold what is missing from the store, so the view does not stop for this log.
                logger.error("view: a batch arrived ahead of the view; reading the gap from the store", metadata: ["log": "\(log)", "error": "\(error)"])
                do {
                    guard let info = try store.logs().first(where: { $0.name == log }) else { throw PlanError("no log \(log) in the store") }
                    try Self.fold(store, log: info, upTo: (entries.last?.header.index ?? 0) + 1, into: &state.view)
                } catch {
                    logger.error("view: cannot repair the gap", metadata: ["log": "\(log)", "error": "\(error)"])
                }
            }
            if let checkpoint {
                state.view.setCheckpoint(Self.viewCheckpoint(checkpoint), log: log)
            }
            let elapsed = started.duration(to: .now)
            state.maxUpdateSeconds = max(state.maxUpdateSeconds, elapsed.seconds)
            return elapsed
        }
        recent.withLock { recent in
            recent.sequence += 1
            recent.folds.append((recent.sequence, log, entries.count, elapsed.seconds))
            if recent.folds.count > 256 { recent.folds.removeFirst(recent.folds.count - 256) }
        }
        metrics.viewUpdates.increment()
        metrics.viewEntries.increment(by: entries.count)
        metrics.viewUpdateTime.recordNanoseconds(elapsed.nanoseconds)
    }

    static func viewCheckpoint(_ c: Checkpoint) -> ViewCheckpoint {
        ViewCheckpoint(size: c.size, rootBase64: c.root.base64, timeMillis: c.timeMillis)
    }

    /// The view as it stands.
    public var snapshot: StrategyView { state.withLock { $0.view } }

    /// Runs a purge of `log`'s payloads and drops from the view what it removed, in one step
    /// under the view's lock: no reader sees a purged aggregate after the purge.
    func purge(log: String, _ body: () throws -> [UInt64]) rethrows -> [UInt64] {
        try state.withLock { state in
            let purged = try body()
            if !purged.isEmpty {
                // Batches stored before the purge and not folded yet hold the payloads in memory:
                // they are read again from the store when folded (`afterPurges`).
                purgedAt.withLock { $0[log] = .now }
                state.view.dropPayloads(log: log, indices: purged)
                state.rendered = nil
                state.purges += 1
            }
            return purged
        }
    }

    /// The agreements as they stand.
    public var policy: Policy { policyState.withLock { $0 } }

    /// The view and the agreements. The view is read first: a batch's agreements are folded
    /// before its view entries, so the agreements read after are at least as new as the view.
    var snapshots: (view: StrategyView, policy: Policy) {
        let view = snapshot
        return (view, policy)
    }

    /// Whether each aggregate held (by log and index) is a table its method makes
    /// (`Policy.aggregateConforms`), once checked; at most `conformanceMemoLimit`, then cleared.
    let conformance = Mutex<[String: Bool]>([:])
    static let conformanceMemoLimit = 100_000

    /// The slowest fold since start, in seconds.
    var slowestUpdateSeconds: Double { state.withLock { $0.maxUpdateSeconds } }

    /// Queries over `view` that list only published aggregates (`Policy.publishes`): the
    /// holder's others are not for readers.
    /// - Parameter recipient: the member a caller speaks for (`API.recipient(of:)`): aggregates
    ///   of other holders are listed only under agreements that give its node access.
    func queries(_ view: StrategyView, health: [String: LogHealth], now: UInt64, for recipient: Recipient? = nil) -> ViewQueries {
        var queries = ViewQueries(view: view, health: health, nowMillis: now, order: order)
        let policy = self.policy
        queries.published = { [self] log, label, index, held in
            guard policy.publishes(aggregate: held.agreement, label: label, holder: log, recorded: held.recorded, at: now,
                                   to: recipient?.node(for: log)) else { return false }
            // Whether the table is one its method makes: parsed and checked once per entry (an
            // entry never changes; a purge removes it from the view).
            let key = "\(log)\u{0}\(index)"
            if let known = self.conformance.withLock({ $0[key] }) { return known }
            let conforms = policy.aggregateConforms(held.payload.encoded(), label: label, holder: log)
            self.conformance.withLock { memo in
                if memo.count >= Self.conformanceMemoLimit { memo.removeAll(keepingCapacity: true) }
                memo[key] = conforms
            }
            return conforms
        }
        return queries
    }

    /// A member node a caller speaks for: its id and its log.
    struct Recipient: Sendable, Equatable {
        let node: String
        let log: String

        /// The node to judge an aggregate held by `holder` for: none when it is the holder's own.
        func node(for holder: String) -> String? { holder == log ? nil : node }
    }

    /// What of the logs' health a cached whole view depends on (verified, alert counts).
    static func healthKey(_ health: [String: LogHealth]) -> String {
        health.keys.sorted().map { "\($0)=\(health[$0]!.verified)/\(health[$0]!.alerts.count)" }.joined(separator: ",")
    }

    /// Renders the whole view's JSON without the cache (benchmarks): its size in bytes.
    public func renderUncached(node: String) -> Int {
        let now = wallClockMillis()
        return ViewEncoding.data(queries(snapshot, health: [:], now: now).whole(node: node, generatedAt: ViewQueries.iso(now))).count
    }

    /// Answers that depend on the view alone (not on the clock or log health), rendered once
    /// per view version: `key` names the query and its parameters. Only answers that were
    /// rendered are kept (a query that fails is not), at most `maxCachedAnswers` per version,
    /// the least recently used going first, so requests for made-up or rare parameters neither
    /// grow it nor push out what readers keep asking for.
    func answer(_ key: String, version: UInt64, render: () throws -> Data) rethrows -> Data {
        if let bytes = answers.withLock({ $0.get(key, version: version) }) { return bytes }
        let bytes = try render()
        answers.withLock { $0.put(key, bytes, version: version) }
        return bytes
    }

    /// The answer kept under `key` for view `version`, if one is (no render).
    func cachedAnswer(_ key: String, version: UInt64) -> Data? {
        answers.withLock { $0.get(key, version: version) }
    }

    private let answers = Mutex(RenderCache(capacity: ViewMaintainer.maxCachedAnswers))

    /// Rendered web pages that depend on more than the view (the viewer, the clock in coarse
    /// steps, alerts): kept per view version under a key naming all of that, at most
    /// `maxCachedPages`, the least recently used going first (old clock steps are not used
    /// again, so they go; a reader asking for many pages cannot empty the cache of the pages
    /// everyone reads).
    /// `family`: what the key names but for its time step (a caller's overview, a member's
    /// whole view): a new step's answer replaces the older steps', which nobody asks for again
    /// (a member polling its view each second of a quiet day kept 64 copies of it).
    func page(_ key: String, family: (name: String, step: UInt64)? = nil, version: UInt64, render: () throws -> Data) rethrows -> Data {
        if let bytes = pages.withLock({ $0.get(key, version: version) }) { return bytes }
        let bytes = try render()
        pages.withLock { $0.put(key, bytes, version: version, family: family) }
        return bytes
    }

    private let pages = Mutex(RenderCache(capacity: ViewMaintainer.maxCachedPages))

    /// The search's index of `q`'s view, built once per version of its definitions (readings and
    /// statuses, which move the view's version with every batch, change nothing it reads). Two
    /// searches racing to build it both do; one built from an older view never replaces a newer.
    func searchIndex(_ q: ViewQueries) -> SearchIndex {
        let version = q.view.definitionsVersion
        if let kept = search.withLock({ $0 }), kept.version == version { return kept.index }
        let index = SearchIndex(q)
        search.withLock { kept in if (kept?.version ?? 0) <= version { kept = (version, index) } }
        return index
    }

    private let search = Mutex<(version: UInt64, index: SearchIndex)?>(nil)
    static let maxCachedPages = 64
    static let maxCachedAnswers = 256

    /// The whole view's JSON, rendered at most once per view version, log health and second
    /// (`generated_at` says when; checkpoint ages are as of then).
    func wholeJSON(node: String, health: [String: LogHealth]) -> Data {
        let now = wallClockMillis()
        let second = now / 1000
        let healthKey = Self.healthKey(health)
        let (view, cached) = state.withLock { ($0.view, $0.rendered) }
        if let cached, cached.version == view.version, cached.second == second, cached.health == healthKey { return cached.bytes }
        let bytes = ViewEncoding.data(queries(view, health: health, now: now).whole(node: node, generatedAt: ViewQueries.iso(now)))
        state.withLock { state in
            if (state.rendered?.version ?? 0) <= view.version { state.rendered = (view.version, second, healthKey, bytes) }
        }
        return bytes
    }
}

/// Rendered bytes of one view version, at most `capacity`, the least recently used evicted
/// first; a newer version empties it, an older version's render is not kept. Pure.
struct RenderCache: Sendable {
    let capacity: Int
    private(set) var version: UInt64 = 0
    private var entries: [String: (bytes: Data, used: UInt64)] = [:]
    /// Per family, the key and time step of its entry (`put(_:_:version:family:)`).
    private var families: [String: (key: String, step: UInt64)] = [:]
    private var tick: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { entries.count }

    mutating func get(_ key: String, version: UInt64) -> Data? {
        guard version == self.version, let entry = entries[key] else { return nil }
        tick &+= 1
        entries[key] = (entry.bytes, tick)
        return entry.bytes
    }

    mutating func put(_ key: String, _ bytes: Data, version: UInt64, family: (name: String, step: UInt64)? = nil) {
        // A slow render of an older view never replaces newer ones.
        guard version >= self.version else { return }
        if version > self.version {
            self.version = version
            entries = [:]
            families = [:]
        }
        // One entry per family: the older step's goes.
        if let family {
            if let held = families[family.name], held.key != key {
                // A slow render of an older step is not kept over the newer step's.
                guard family.step > held.step else { return }
                entries[held.key] = nil
            }
            families[family.name] = (key, family.step)
            // Families whose entry was pushed out are forgotten, so they are kept no more than entries.
            if families.count > 2 * capacity { families = families.filter { entries[$0.value.key] != nil || $0.value.key == key } }
        }
        if entries[key] == nil, entries.count >= capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries[oldest] = nil
        }
        tick &+= 1
        entries[key] = (bytes, tick)
    }
}
