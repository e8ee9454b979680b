import Foundation
import QuartetReplication
import QuartetStore

/// What the engine reports to the API and the pages: peers, logs, lag, alerts, evidence (each
/// read on the engine's queue).
extension ReplicationEngine {
    struct PeerStatus {
        var id: String
        var role: String
        var address: String
        var connected: Bool
        var since: Date?
        var protocolVersion: UInt16?
    }

    struct LogStatus {
        var log: LogInfo
        var head: LogHead?
        var seenSize: UInt64?
        var quarantined: Bool
        /// The size seen is a checkpoint no entries came towards (`Replicator.unbacked`).
        var unbacked: Bool = false
        /// This copy holds a checkpoint signed past a revocation and no longer follows the log
        /// (`Replicator.disownedLogs`): it needs recovering.
        var disowned: Bool = false

        /// What `/v1/logs`, the view's log health and the status page call verified: everything
        /// stored was checked before it was stored, and the copy is neither contradicted by its
        /// own origin (quarantined) nor holding a checkpoint signed past a revocation (disowned).
        static func verified(quarantined: Bool, disowned: Bool) -> Bool { !quarantined && !disowned }
        var verified: Bool { Self.verified(quarantined: quarantined, disowned: disowned) }
    }

    /// Everything the status routes and pages read, taken in one turn of the engine's queue
    /// without holding the caller's thread meanwhile (the queue may be busy for a while with an
    /// ingest; a request handler blocked in `queue.sync` holds one of Swift's cooperative
    /// threads, two on two cores).
    struct Status: @unchecked Sendable {
        var peers: [PeerStatus]
        var logs: [LogStatus]
        var lag: [(peer: String, log: String, behind: UInt64)]
        var alerts: [(time: Date, alert: ReplicationAlert)]
        var evidence: [Evidence]
        var federationProblems: [String]
    }

    func status() async -> Status {
        await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Status(peers: self.peersOnQueue(), logs: self.logStatusOnQueue(), lag: self.peerLagOnQueue(),
                                                      alerts: self.alertSnapshotOnQueue().list, evidence: Array(self.replicator.quarantined.values),
                                                      federationProblems: self.federationProblemsOnQueue()))
            }
        }
    }

    func peers() -> [PeerStatus] { queue.sync { peersOnQueue() } }

    private func peersOnQueue() -> [PeerStatus] {
        dispatchPrecondition(condition: .onQueue(queue))
        let versions = replicator.peerVersions
        return federation.members.filter { $0.id != me }.map { member in
            let connected = channels[member.id] != nil && replicator.connectedPeers.contains(member.id)
            return PeerStatus(id: member.id, role: member.role.rawValue, address: "\(member.peer)", connected: connected,
                              since: connectedSince[member.id], protocolVersion: connected ? versions[member.id] : nil)
        }
    }

    func logStatus() -> [LogStatus] { queue.sync { logStatusOnQueue() } }

    private func logStatusOnQueue() -> [LogStatus] {
        dispatchPrecondition(condition: .onQueue(queue))
        return logs.values.sorted { $0.name < $1.name }.map { log in
            LogStatus(log: log, head: replicator.heads[log.name], seenSize: replicator.seen[log.name]?.size,
                      quarantined: replicator.quarantined[log.name] != nil, unbacked: replicator.unbacked[log.name] != nil,
                      disowned: replicator.disownedLogs.contains(log.name))
        }
    }

    /// Replication lag per peer and log: how many entries of each log this node holds beyond
    /// what the peer last said it holds.
    func peerLag() -> [(peer: String, log: String, behind: UInt64)] { queue.sync { peerLagOnQueue() } }

    private func peerLagOnQueue() -> [(peer: String, log: String, behind: UInt64)] {
        dispatchPrecondition(condition: .onQueue(queue))
        let sizes = replicator.peerSizes
        return sizes.keys.sorted().flatMap { peer in
            logs.keys.sorted().map { log in
                let mine = replicator.heads[log]?.size ?? 0
                let theirs = sizes[peer]?[log] ?? 0
                return (peer, log, mine > theirs ? mine - theirs : 0)
            }
        }
    }

    /// The alerts as the routes and pages read them: every alert kept, oldest first, and each
    /// log's newest ten as every reader's view carries them ("kind: message", a violation's
    /// sender left out). Made again only when alerts were raised since (finding 271).
    struct AlertSnapshot: Sendable {
        var generation: UInt64
        var list: [(time: Date, alert: ReplicationAlert)]
        var recent: [String: [String]]
    }

    /// Taken without the engine's queue when no alert was raised since it was last made.
    func alertSnapshot() -> AlertSnapshot {
        if let shown = alertsShown.withLock({ $0 }), shown.generation == alertGeneration.load(ordering: .acquiring) { return shown }
        return queue.sync { alertSnapshotOnQueue() }
    }

    func alertSnapshotOnQueue() -> AlertSnapshot {
        dispatchPrecondition(condition: .onQueue(queue))
        if let shown = alertsShown.withLock({ $0 }), shown.generation == alerts.generation { return shown }
        var recent: [String: [String]] = [:]
        for item in alerts.list.reversed() {
            guard let log = item.alert.log, recent[log, default: []].count < 10 else { continue }
            recent[log, default: []].append("\(item.alert.kind.rawValue): \(item.alert.shown(to: nil, ownLog: "").message)")
        }
        let made = AlertSnapshot(generation: alerts.generation, list: alerts.list, recent: recent.mapValues { Array($0.reversed()) })
        alertsShown.withLock { $0 = made }
        return made
    }
    func evidenceList() -> [Evidence] { queue.sync { Array(replicator.quarantined.values) } }
}
