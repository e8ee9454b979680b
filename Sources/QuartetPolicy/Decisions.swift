import QuartetLedger

extension Access {
    /// Whether this access lets an entry of `type` through in full: full access every entry of
    /// the label, aggregate access only the published aggregates, never the rows.
    public func admits(type: String) -> Bool {
        self == .full || (self == .aggregate && type == Policy.aggregateType)
    }
}

/// The agreements' decisions for the entries of one holder's log and one recipient at one
/// moment, each label's candidate agreements found once: egress, ingress and purges ask for
/// every restricted entry of a batch.
public struct Decisions {
    public let policy: Policy
    public let holder: String
    public let recipient: String
    public let time: UInt64
    /// Per label: the agreements in force giving the recipient some access, widest first (then
    /// by id), with the first entry time each covers.
    private var byLabel: [String: [(access: Access, agreement: String, validFrom: UInt64)]] = [:]

    public init(policy: Policy, holder: String, recipient: String, at time: UInt64) {
        self.policy = policy
        self.holder = holder
        self.recipient = recipient
        self.time = time
    }

    /// Whether the recipient may have the payload of an entry classified `label` of `type`
    /// recorded at `recorded`, its access, and under which agreement (nil for public data and
    /// the holder's own).
    public mutating func admits(label: String, type: String, recorded: UInt64) -> (admitted: Bool, access: Access, agreement: String?) {
        let (access, agreement) = self.access(label: label, recorded: recorded)
        return (access.admits(type: type), access, agreement)
    }

    /// The widest access the recipient has to an entry classified `label` recorded at
    /// `recorded`, and under which agreement (among equals, the smallest id; nil for public data
    /// and the holder's own).
    public mutating func access(label: String, recorded: UInt64) -> (access: Access, agreement: String?) {
        if label == EntryHeader.publicClassification || recipient == holder { return (.full, nil) }
        let candidates: [(access: Access, agreement: String, validFrom: UInt64)]
        if let known = byLabel[label] {
            candidates = known
        } else {
            candidates = policy.agreements.values
                .filter { $0.agreement.holder == holder && $0.agreement.labels.contains(label) && $0.inForce(at: time) }
                .compactMap { state in
                    let access = state.agreement.recipients[recipient] ?? .none
                    return access == .none ? nil : (access, state.agreement.id, state.agreement.validFrom)
                }
                .sorted { $0.access != $1.access ? $0.access > $1.access : $0.agreement < $1.agreement }
            byLabel[label] = candidates
        }
        guard let best = candidates.first(where: { recorded >= $0.validFrom }) else { return (.none, nil) }
        return (best.access, best.agreement)
    }

    /// Whether the recipient may have a published aggregate of `label` recorded at `recorded`
    /// that names the agreement `named` (its payload's `agreement`, whose suppression made it):
    /// under an agreement in force that covers the recording time, gives the recipient access,
    /// and asks no more suppression than the named one applied (`Policy.suppresses`). So an
    /// aggregate of a revoked agreement does not travel under a stricter one in force (nor under
    /// one that does not cover its time), while one made under the strictest of several
    /// agreements (as the holder makes them, `Agreement.governing`) goes under each of them.
    public mutating func admitsAggregate(label: String, recorded: UInt64, named: String?) -> (admitted: Bool, access: Access, agreement: String?) {
        if label == EntryHeader.publicClassification || recipient == holder { return (true, .full, nil) }
        guard let made = policy.aggregateMaker(named, label: label, holder: holder) else { return (false, .none, nil) }
        _ = access(label: label, recorded: recorded)
        for candidate in byLabel[label] ?? [] where recorded >= candidate.validFrom && candidate.access.admits(type: Policy.aggregateType) {
            guard let under = policy.agreements[candidate.agreement]?.agreement, Policy.suppresses(made, asStrictlyAs: under) else { continue }
            return (true, candidate.access, candidate.agreement)
        }
        return (false, .none, nil)
    }

    /// `admits`, with a published aggregate's payload judged by the agreement it names
    /// (`admitsAggregate`); a stub, or any other type, by its label.
    public mutating func admits(_ header: EntryHeader, payload: [UInt8]?) -> (admitted: Bool, access: Access, agreement: String?) {
        if header.type == Policy.aggregateType, let payload {
            return admitsAggregate(label: header.classification, recorded: header.timeMillis, named: DataFlow.namedAgreement(payload))
        }
        return admits(label: header.classification, type: header.type, recorded: header.timeMillis)
    }
}
