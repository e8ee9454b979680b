import Foundation
import QuartetLedger
import QuartetStore

extension WitnessCollector {
    /// A log's witnessing, for the view and /metrics: the newest checkpoint a quorum (a majority
    /// of the log's witnesses) cosigned, or else the newest any cosigned.
    struct Summary: Sendable, Equatable {
        var size: UInt64
        var witnesses: [String]
        /// The witnesses the log has (members with a witness key, not its own node).
        var of: Int
        var quorum: Bool
        /// The newest cosignature's time (POSIX seconds).
        var time: UInt64
    }

    func summary(log: String) -> Summary? {
        let federation = live.federation
        let listed = federation.members.filter { $0.log != log && $0.witness != nil }
        let of = listed.count
        // The log's own node's cosignature is kept and served, but is not one of its witnesses.
        guard of > 0, let rows = try? store.witnessed(log: log, excluding: Self.owners(of: log, federation)), !rows.isEmpty else { return nil }
        let quorum = WitnessPolicy.majority(of: of)
        // Only witnesses listed now count, by the key listed now: kept lines of a member a
        // reload removed, or under a witness key since replaced, say nothing today. A row's
        // lines are read only where its ids alone could make it the answer.
        let keys = Dictionary(listed.map { ($0.id, $0.witness!) }, uniquingKeysWith: { a, _ in a })
        var newest: Summary?
        for row in rows {
            let named = row.witnesses.filter { keys[$0] != nil }
            guard !named.isEmpty, named.count >= quorum || newest == nil else { continue }
            let lines = (try? store.cosignatures(log: log, size: row.size)) ?? [:]
            let counted = Self.underListedKeys(named, lines: lines, keys: keys)
            guard !counted.isEmpty, let time = counted.compactMap({ lines[$0]?.time }).max() else { continue }
            let summary = Summary(size: row.size, witnesses: counted, of: of, quorum: counted.count >= quorum, time: time)
            if summary.quorum { return summary }
            if newest == nil { newest = summary }
        }
        return newest
    }

    /// Of the witnesses `ids`, those whose kept line (`lines`) is under the key listed for them
    /// now (`keys`): the key name and id the line names (its signature is checked where it is
    /// served or verified).
    static func underListedKeys(_ ids: [String], lines: [String: (line: String, time: UInt64)], keys: [String: CosignatureVerifier]) -> [String] {
        ids.filter { id in
            guard let line = lines[id]?.line, let key = keys[id],
                  let signature = try? SignedNote(parsing: "x\n\n" + line + "\n").signatures.first else { return false }
            return key.owns(signature)
        }
    }

    /// The members whose node writes `log`: their witnesses' cosignatures of it are kept and
    /// served, and are not counted among its witnesses.
    static func owners(of log: String, _ federation: Federation) -> [String] {
        federation.members.filter { $0.log == log }.map(\.id)
    }
}
