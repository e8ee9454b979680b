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
    }

    func peers() -> [PeerStatus] {
        queue.sync {
            let versions = replicator.peerVersions
            return federation.members.filter { $0.id != me }.map { member in
                let connected = channels[member.id] != nil && replicator.connectedPeers.contains(member.id)
                return PeerStatus(id: member.id, role: member.role.rawValue, address: "\(member.peer)", connected: connected,
                                  since: connectedSince[member.id], protocolVersion: connected ? versions[member.id] : nil)
            }
        }
    }

    func logStatus() -> [LogStatus] {
        queue.sync {
            logs.values.sorted { $0.name < $1.name }.map { log in
                LogStatus(log: log, head: replicator.heads[log.name], seenSize: replicator.seen[log.name]?.size,
                          quarantined: replicator.quarantined[log.name] != nil, unbacked: replicator.unbacked[log.name] != nil)
            }
        }
    }

    /// Replication lag per peer and log: how many entries of each log this node holds beyond
    /// what the peer last said it holds.
    func peerLag() -> [(peer: String, log: String, behind: UInt64)] {
        queue.sync {
            let sizes = replicator.peerSizes
            return sizes.keys.sorted().flatMap { peer in
                logs.keys.sorted().map { log in
                    let mine = replicator.heads[log]?.size ?? 0
                    let theirs = sizes[peer]?[log] ?? 0
                    return (peer, log, mine > theirs ? mine - theirs : 0)
                }
            }
        }
    }

    func alertList() -> [(time: Date, alert: ReplicationAlert)] {
        queue.sync { alerts.list }
    }
    func evidenceList() -> [Evidence] { queue.sync { Array(replicator.quarantined.values) } }
}
