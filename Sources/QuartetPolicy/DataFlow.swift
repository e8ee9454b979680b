import Foundation
import QuartetLedger

/// The data-flow rules of replication, decided without IO: what a node sends each peer of a
/// batch (egress) and what it keeps of a batch it receives (ingress). The NIO shell only carries
/// the decisions out. Both sides decide by the same agreements, each entry by its own label,
/// type and recording time (an agreement discloses only entries recorded from its
/// `valid-from` on).
public enum DataFlow {
    /// Clocks differ and agreements end while batches travel: a payload that no agreement lets
    /// a node hold now, but one did this long ago, is dropped without blaming the sender.
    public static let clockToleranceMillis: UInt64 = 30_000

    /// One entry of a batch as the rules see it.
    public struct Item: Sendable {
        public var header: EntryHeader
        /// The payload, if the batch carries it (agreement entries in it are folded).
        public var payload: [UInt8]?

        public init(header: EntryHeader, payload: [UInt8]?) {
            self.header = header
            self.payload = payload
        }
    }

    // MARK: Ingress

    /// What a node does with a batch of `holder`'s log it received.
    public enum IngressDecision: Sendable, Equatable {
        /// Store it, dropping the payloads at `strip` (positions in the batch) first;
        /// `violations` are the log indices of those the sender should never have sent;
        /// `forged` those of published aggregates the holder's method could not have made
        /// (kept as stubs, reported against the log's holder and the sender).
        case keep(strip: [Int], violations: [UInt64], forged: [UInt64] = [])
        /// Store nothing of it: it carries stubs (or payloads) this node may not take from
        /// anyone in that form. The node fetches the batch from the log's writer instead, and
        /// the sender is reported.
        case refuse(reason: String)
    }

    /// Judges a received batch.
    ///
    /// - A stub is acceptable only where the policy says this node may not hold that payload:
    ///   a public entry (a plan entry, an agreement, its revocation, a disclosure record) or a
    ///   restricted one this node is entitled to, sent without its payload, refuses the batch.
    /// - A payload this node may not hold is dropped (the stub is kept, so the log verifies);
    ///   unless an agreement let it through within `clockToleranceMillis`, the sender is named.
    /// - A published aggregate must be one the holder's method could have produced under the
    ///   agreement it names (an agreement of the holder covering its label), and where the
    ///   batch also carries its rows in full, exactly the table derived from them; otherwise
    ///   its payload is dropped and reported (refusing the batch would stall the log: the
    ///   writer would send the same entry again). A true one is held only under an agreement
    ///   in force whose terms its suppression meets (`Decisions.admitsAggregate`).
    /// - The batch's agreement entries count for all of it: a node catching up "agreement, then
    ///   rows" keeps the rows it is entitled to, and rows before a revocation in the same batch
    ///   are judged with the revocation, as the sender judged them.
    /// - Parameters:
    ///   - fromWriter: the sender is the log's writer. The writer judges its own data by all its
    ///     agreements, including ones later in its log than this batch (a revocation this node
    ///     has not reached yet): its stubs of restricted entries are taken as they are. A relay's
    ///     stub of a restricted entry this node may hold refuses the batch (it is fetched from
    ///     the writer instead).
    ///   - current: this batch brings the node to the largest checkpoint it has seen of the log,
    ///     so its policy for the holder is as current as it can know. Only then is a payload it
    ///     may not hold blamed on the sender (otherwise an agreement later in the log, e.g. one
    ///     dated back by its owner, may cover it); the payload is dropped either way.
    public static func ingress(_ items: [Item], holder: String, recipient: String, policy: Policy, at now: UInt64,
                               fromWriter: Bool = false, current: Bool = true) -> IngressDecision {
        // The batch's own agreement entries first (as the node's view folds them): its
        // agreements and revocations count for every entry of it. The sender decided by its
        // policy now, which has them all; judging a row before a revocation in the same batch by
        // the policy before it would refuse what an honest holder sends, for ever.
        let policy = including(items, of: holder, in: policy, at: now)
        var decisions = Decisions(policy: policy, holder: holder, recipient: recipient, at: now)
        var earlier = Decisions(policy: policy, holder: holder, recipient: recipient, at: now >= clockToleranceMillis ? now - clockToleranceMillis : 0)
        // And at an agreement's start: a holder whose clock is a little ahead of this one sends
        // rows recorded after `valid-from` a moment before it comes here. They are kept (this
        // node holds them within the tolerance, as the agreement lets it once it starts), not
        // dropped for good — stubs of another member's log are never fetched again — with the
        // honest sender blamed (finding 289).
        var starting = Decisions(policy: policy, holder: holder, recipient: recipient, at: now <= UInt64.max - clockToleranceMillis ? now + clockToleranceMillis : UInt64.max)
        var strip: [Int] = []
        var violations: [UInt64] = []
        var forged: [UInt64] = []
        for (i, item) in items.enumerated() {
            let header = item.header
            let isPublic = header.classification == EntryHeader.publicClassification
            var decision = decisions.admits(label: header.classification, type: header.type, recorded: header.timeMillis)
            guard let payload = item.payload else {
                if isPublic {
                    return .refuse(reason: "entry \(header.index) (\(header.type)) is public but came as a stub")
                }
                if decision.admitted && !fromWriter {
                    return .refuse(reason: "entry \(header.index) (\(header.type), \(header.classification)) came as a stub from a relay, but agreement \(decision.agreement ?? "-") lets \(recipient) hold it")
                }
                continue
            }
            var byStart = false
            if !decision.admitted {
                let soon = starting.admits(label: header.classification, type: header.type, recorded: header.timeMillis)
                // In force a little later and not now: only an agreement whose start is near
                // (time ends no agreement that is not in force now, and revives none).
                if soon.admitted {
                    decision = soon
                    byStart = true
                }
            }
            if !decision.admitted {
                strip.append(i)
                if current && !earlier.admits(label: header.classification, type: header.type, recorded: header.timeMillis).admitted {
                    violations.append(header.index)
                }
                continue
            }
            if header.type == Policy.aggregateType {
                let rows = i > 0 && items[i - 1].header.type == "dataset.rows" && items[i - 1].header.classification == header.classification
                    ? items[i - 1].payload : nil
                if !aggregateConforms(payload, label: header.classification, holder: holder, rows: rows, policy: policy) {
                    strip.append(i)
                    forged.append(header.index)
                    continue
                }
                // A true aggregate is held only under an agreement its suppression meets. A
                // sender that judged it by its label alone (an older node) is not blamed for it.
                if !(byStart ? starting.admits(header, payload: payload) : decisions.admits(header, payload: payload)).admitted {
                    strip.append(i)
                    continue
                }
            }
        }
        return .keep(strip: strip, violations: violations, forged: forged)
    }

    /// The agreement a published aggregate's payload names (`agreement`), if it is one.
    public static func namedAgreement(_ payload: [UInt8]) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])?["agreement"] as? String
    }

    /// Whether `payload` is a published aggregate of `label` that the method of the agreement it
    /// names (held by `holder`, covering `label`) produces — and, given the rows it follows,
    /// exactly the table derived from them.
    public static func aggregateConforms(_ payload: [UInt8], label: String, holder: String, rows: [UInt8]?, policy: Policy) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let id = object["agreement"] as? String, object["label"] as? String == label,
              let state = policy.agreements[id], state.agreement.holder == holder, state.agreement.labels.contains(label) else { return false }
        let a = state.agreement
        do {
            try DatasetAggregate.check(aggregate: object, minCellSize: a.minCellSize, rounding: a.rounding)
            if let rows, let table = try? JSONSerialization.jsonObject(with: Data(rows)) as? [String: Any] {
                try DatasetAggregate.checkDerived(aggregate: object, rows: table, label: label, minCellSize: a.minCellSize, rounding: a.rounding, agreement: id)
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: Egress

    /// What a node sends a peer of a batch of `holder`'s log.
    public enum EgressDecision: Sendable, Equatable {
        /// Send it with the payloads at `strip` (positions) removed; `disclosed` names the
        /// restricted payloads that go in full (positions), by agreement, with the recipient's access.
        case send(strip: [Int], disclosed: [Disclosed])
        /// Do not send it: it holds only the stub of an entry the peer may have in full (the
        /// peer would have to refuse it). A request is answered `unavailable` instead.
        case withhold
    }

    /// Restricted payloads disclosed under one agreement: their positions in the batch.
    public struct Disclosed: Sendable, Equatable {
        public var agreement: String
        public var access: Access
        public var positions: [Int]
        public var count: Int { positions.count }

        public init(agreement: String, access: Access, positions: [Int]) {
            self.agreement = agreement
            self.access = access
            self.positions = positions
        }
    }

    /// `policy` with the agreements and revocations among `items` (public entries of `holder`'s
    /// log) applied, as the view will fold them: what a batch's receiver judges it by, so what a
    /// relay sends it by too. A revocation takes effect when its entry says or when this node
    /// learns of it, whichever is sooner (`Policy.effectiveTime`).
    public static func including(_ items: [Item], of holder: String, in policy: Policy, at now: UInt64) -> Policy {
        var policy = policy
        for item in items where item.header.classification == EntryHeader.publicClassification {
            guard let payload = item.payload, let kind = PolicyEntryType(rawValue: item.header.type), kind == .established || kind == .revoked else { continue }
            policy.apply(log: holder, index: item.header.index, timeMillis: Policy.effectiveTime(item.header.timeMillis, now: now),
                         type: item.header.type, payload: payload)
        }
        return policy
    }

    /// Decides a batch for one recipient. Items are the batch's restricted entries only
    /// (public ones always go as they are), with their positions; `hasPayload` whether this
    /// node holds the payload.
    /// `aggregateAgreements`: the agreement each published aggregate held in full names (its
    /// payload's `agreement`), by position: it goes only under an agreement its suppression
    /// meets (`Decisions.admitsAggregate`). Where its label alone would let the recipient have it
    /// and that rule does not, the log's writer (`isWriter`) sends the stub, which the recipient
    /// takes from it; a relay withholds the batch instead (the recipient, judging the stub by its
    /// label, would refuse it from a relay), so it comes from the writer.
    /// `current`: whether the policy judging the batch has folded the holder's log as far as
    /// the newest verified checkpoint of it this node has seen. A copy that is behind may lack
    /// a revocation or an end the holder has since recorded: it discloses nothing in full
    /// (withholds, so the recipient asks elsewhere or again), as ingress keeps no payload a
    /// lagging relay sends (`ingress`'s `current`). The writer too: restored from a backup
    /// taken before its revocation, it sees its peers' longer copies of its own log.
    /// `membershipCurrent`: false when members run a newer federation file than the one this
    /// node judges recipients by (a node restored with its host runs the members of then: one
    /// removed since is still a recipient here). Nothing is disclosed, by the writer either,
    /// until the node runs the current file.
    public static func egress(_ items: [(position: Int, header: EntryHeader?, hasPayload: Bool)], holder: String, recipient: String,
                              policy: Policy, at now: UInt64, aggregateAgreements: [Int: String] = [:], isWriter: Bool = false,
                              current: Bool = true, membershipCurrent: Bool = true) -> EgressDecision {
        var decisions = Decisions(policy: policy, holder: holder, recipient: recipient, at: now)
        var strip: [Int] = []
        var disclosed: [String: Disclosed] = [:]
        for item in items {
            guard let header = item.header else {
                strip.append(item.position)
                continue
            }
            let byLabel = decisions.admits(label: header.classification, type: header.type, recorded: header.timeMillis)
            var decision = byLabel
            if header.type == Policy.aggregateType && item.hasPayload {
                decision = decisions.admitsAggregate(label: header.classification, recorded: header.timeMillis, named: aggregateAgreements[item.position])
                if !decision.admitted && byLabel.admitted && !isWriter { return .withhold }
            }
            if !item.hasPayload {
                if decision.admitted { return .withhold }
            } else if decision.admitted, let agreement = decision.agreement {
                if !current || !membershipCurrent { return .withhold }
                disclosed[agreement, default: Disclosed(agreement: agreement, access: decision.access, positions: [])].positions.append(item.position)
            } else if !decision.admitted {
                strip.append(item.position)
            }
        }
        return .send(strip: strip, disclosed: disclosed.values.sorted { $0.agreement < $1.agreement })
    }
}
