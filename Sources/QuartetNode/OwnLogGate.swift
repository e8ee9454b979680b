import Logging
import QuartetLedger
import QuartetReplication
import QuartetStore
import Synchronization

/// Holds the own log's writer until the node has learnt from peers that none holds more of its
/// log than it does (`OwnLogSync` in QuartetReplication decides; the replication engine tells
/// this gate where the node stands). While held, appends wait a little and then answer 503 with
/// the reason; once synced the writer reads the log's tree again (entries taken from peers) and
/// takes appends.
final class OwnLogGate: Sendable {
    /// How long an append waits for the node to catch up before it is refused.
    static let wait = Duration.seconds(5)

    let node: String
    let log: String
    private let writer = Mutex<LogWriter?>(nil)
    private let logger: Logger
    /// Why the log may not open even though synced (nil: it may): the federation names a
    /// current key that the log's rotations here have not reached — a restored or recovered
    /// copy whose peers lacked the rotation would otherwise append under a key no longer in force.
    private let keyCheck: @Sendable () -> String?
    /// The last reason the log could not open, logged once until it changes.
    private let lastRefusal = Mutex<String?>(nil)
    /// Told when the log opens: the node knows its own log's end (`CopyMarkers.confirm`).
    private let confirmed: @Sendable () -> Void

    init(node: String, log: String, logger: Logger, keyCheck: @escaping @Sendable () -> String? = { nil }, confirmed: @escaping @Sendable () -> Void = {}) {
        self.node = node
        self.log = log
        self.logger = logger
        self.keyCheck = keyCheck
        self.confirmed = confirmed
    }

    /// The writer's availability at start: held while the node learns from peers; refused at
    /// once when evidence kept from an earlier run says two histories of the own log are
    /// signed (`quarantined`), also with nothing to learn (`--i-am-the-only-copy`: was open until
    /// the engine's first pass).
    func initial(syncing: Bool, quarantined: Bool = false) -> LogWriter.Availability {
        if quarantined {
            return .held(reason: "node \(node) takes no appends: its own log \(log) is quarantined (evidence kept: two signed checkpoints of it cannot both be true); see docs/operations.md", until: .now)
        }
        return syncing ? .held(reason: Self.reason(node: node, log: log, status: nil), until: .now + Self.wait) : .open
    }

    /// Whether another process was seen signing the own log (`OwnLogStatus.superseded`): what
    /// the writer still commits (a transaction under way) is published to nobody.
    var isSuperseded: Bool { superseded.load(ordering: .acquiring) }
    private let superseded = Atomic<Bool>(false)

    func attach(_ writer: LogWriter) { self.writer.withLock { $0 = writer } }

    /// Whether the own log takes appends now.
    var isOpen: Bool {
        guard let writer = writer.withLock({ $0 }) else { return false }
        return writer.unavailableReason == nil
    }

    /// The engine's news (on its queue).
    func update(_ status: OwnLogStatus) {
        guard let writer = writer.withLock({ $0 }) else { return }
        // Another process signs the own log: held for good this run (`OwnLogSync.superseded`).
        if let superseded = status.superseded {
            self.superseded.store(true, ordering: .releasing)
            let reason = "node \(node) takes no appends: \(superseded); restart it once the other copy is stopped or the key rotated and revoked (docs/operations.md)"
            if lastRefusal.withLock({ last in defer { last = reason }; return last != reason }) {
                logger.critical("the own log takes no more appends: another process signs it", metadata: ["log": "\(log)", "reason": "\(superseded)"])
            }
            writer.refuse(reason: reason)
            return
        }
        guard status.synced else {
            writer.hold(reason: Self.reason(node: node, log: log, status: status), until: .now + Self.wait)
            return
        }
        do {
            if let reason = keyCheck() { throw StoreError(.key, reason) }
            try writer.release()
            confirmed()
        } catch {
            // The tree could not be read, or the key file is not the key in force after the
            // tail taken from peers: appends stay refused, with the reason (logged once).
            let reason = "log \(log) cannot take appends: \(error)"
            if lastRefusal.withLock({ last in defer { last = reason }; return last != reason }) {
                logger.error("cannot open the own log for appends", metadata: ["log": "\(log)", "error": "\(error)"])
            }
            writer.hold(reason: reason, until: .now)
        }
    }

    /// Why appends wait: nobody has answered yet, or the node is taking its log's tail from peers.
    static func reason(node: String, log: String, status: OwnLogStatus?) -> String {
        if let conflict = status?.conflict {
            return "node \(node) takes no appends: its own log \(log) conflicts with what its peers hold (\(conflict))"
        }
        if status?.heldForFederation == true {
            return "node \(node) takes no appends: other members run a newer federation file than this node, whose list of its log's witnesses (the peers whose answers open its log) may name members removed since; "
                + "put the current federation file and its .sig in place and reload (SIGHUP)"
        }
        guard let status, status.heard > 0 else {
            return "node \(node) has not yet heard from any of its log's witnesses how much of its own log \(log) they hold, and takes no appends until they answer "
                + "(a restored older copy would otherwise sign a second history); if no other node holds this log, restart it with --i-am-the-only-copy (docs/operations.md)"
        }
        if status.seen > status.held {
            return "node \(node) is taking entries of its own log \(log) that peers hold, or that a peer's witness cosigned, and it lacks (it holds \(status.held) of \(status.seen)); "
                + "appends resume once it has them (if no peer holds them they are lost, and appending would sign a second history: docs/operations.md)"
        }
        if status.claimed > status.held {
            return "node \(node) is taking entries of its own log \(log) that a peer claims under a key it has not seen yet (a rotation in the tail it lacks): "
                + "it holds \(status.held), the peer claims \(status.claimed); appends resume once it has them (a peer that gives nothing for \(OwnLogStatus.claimRounds) rounds is no longer waited for)"
        }
        if status.heard < status.needed {
            return "node \(node) has heard from \(status.heard) of the \(status.needed) peers that must say how much of its own log \(log) they hold before it appends "
                + "(so one stale or hostile peer cannot open a restored older copy); appends resume once \(status.needed - status.heard) more answer"
        }
        return "node \(node) is waiting for the other peers to say how much of its own log \(log) they hold (\(status.heard) answered); appends resume within seconds"
    }
}

extension ReplicationEngine {
    /// Stores a tail of this node's own log that a peer held and this node had lost (a restored
    /// older copy), before the node's first append (`OwnLogSync`). Verified like a replica
    /// batch (signature by the replicator, leaves against the stored tree here); no agreement
    /// keeps the node's own data from it, and entries that come back as stubs (no peer held
    /// the payload in full) are reported as lost here.
    func storeOwnTail(_ batch: Batch, checkpoint: Checkpoint, log: LogInfo, from peer: String) -> [Directive] {
        let entries: [Entry]
        do { entries = try decodedEntries(of: batch) } catch {
            return replicator.rejected(batch, from: peer, reason: "\(error)")
        }
        // Every member holds the own log's public payloads in full (agreements restrict only
        // restricted ones): a public entry sent as a stub is a payload withheld, not lost.
        if let stub = entries.first(where: { $0.payload == nil && $0.header.classification == EntryHeader.publicClassification }) {
            return replicator.refused(batch, from: peer, reason: "entry \(stub.header.index) of this node's own log is public but came as a stub; every member holds public payloads in full")
        }
        let lost = entries.filter { $0.payload == nil }.map(\.header.index)
        // Recorded once the batch passed every check (indices, leaves against the signed root,
        // the note) and before its stubs are committed, inside the store's transaction: `verify`
        // then knows them for lost, not deleted; a crash between the two leaves a record of
        // stubs not stored, which is harmless; a batch refused records nothing. Indices
        // recorded already are not written again.
        let directory = store.directory, name = batch.log
        // What the record holds is read once a run (it may be large), then kept up to date here.
        if !lost.isEmpty, lostRecorded == nil { lostRecorded = directory.lostPayloads()[name] ?? [] }
        let fresh = lost.filter { lostRecorded?.contains($0) != true }
        let recordLost: (() throws -> Void)? = fresh.isEmpty ? nil : {
            do throws(StoreError) { try directory.recordLostPayloads(log: name, indices: fresh) } catch {
                throw LostPayloadsNotRecorded(cause: error)
            }
        }
        do {
            try store.ingest(log, from: batch.from, entries: entries, note: batch.note, checkpoint: checkpoint, ownTail: true, beforeCommit: recordLost)
            store.writes.succeeded(.ownTail)
            recentRoots[batch.log, default: RecentRoots()].add(size: checkpoint.size, root: checkpoint.root)
            lostRecorded?.formUnion(fresh)
            ownStubs += lost
            storedFrom[batch.log, default: [:]][peer, default: 0] += UInt64(entries.count)
            record(ReplicationAlert(kind: .ownLogRecovered, log: batch.log, peer: peer,
                                    message: "took entries [\(batch.from), \(batch.end)) of this node's own log \(batch.log) from \(peer): it held more than this node's store (a restored older copy)"
                                        + (lost.isEmpty ? "" : "; \(lost.count) came back without their payload (no peer that answered held it in full), lost here: \(Self.list(lost))")))
            onIngest?(batch.log, entries, checkpoint)
            return replicator.stored(batch, checkpoint: checkpoint, from: peer)
        } catch {
            // A record that cannot be written is this node's trouble, not the peer's: nothing
            // is stored, nobody is blamed, and the tail is asked for again.
            if error.cause is LostPayloadsNotRecorded {
                logger.error("cannot record the payloads lost from a tail of the own log; it is not stored", metadata: ["log": "\(batch.log)", "error": "\(error)"])
                store.writes.failed(.ownTail, error, nowMillis: wallClockMillis())
                return replicator.notStored(batch)
            }
            if Self.isLocalFailure(error) {
                logger.error("cannot store a tail of the own log", metadata: ["log": "\(batch.log)", "peer": "\(peer)", "error": "\(error)"])
                if Self.isDiskFailure(error) { store.writes.failed(.ownTail, error, nowMillis: wallClockMillis()) }
                return replicator.notStored(batch)
            }
            return replicator.rejected(batch, from: peer, reason: "\(error)")
        }
    }

}

/// The own tail's lost payloads could not be recorded (`storeOwnTail`): this node's trouble.
struct LostPayloadsNotRecorded: Error, Sendable, CustomStringConvertible {
    let cause: StoreError
    var description: String { "the lost payloads could not be recorded: \(cause)" }
}
