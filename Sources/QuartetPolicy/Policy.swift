import Foundation
import QuartetLedger

/// The entry types of data-sharing agreements.
public enum PolicyEntryType: String, Sendable, CaseIterable {
    case established = "agreement.established"
    case revoked = "agreement.revoked"
    /// A sender's record that it disclosed restricted payloads: `{"log", "ranges": [[from, to]],
    /// "count", "recipient", "agreement", "access", "time"}` — every entry of the log within the
    /// ranges classified under the agreement's labels (for `aggregate` access, every published
    /// aggregate) went to the recipient in full — appended to the sender's own log.
    case disclosed = "disclosure.recorded"
    /// A recipient's record that it dropped payloads it held under an agreement that ended:
    /// `{"log", "entries", "agreement", "reason", "time"}`, appended to its own log.
    case purged = "purge.recorded"
}

/// One purge record.
public struct Purge: Sendable, Equatable {
    public var log: String
    public var entries: [UInt64]
    public var agreement: String
    public var reason: String
    public var time: String
    public var recordLog: String
    public var recordIndex: UInt64
}

/// One disclosure record: which entries of which log went to whom (every entry within the
/// ranges classified under the agreement's labels), under which agreement, when, and the entry
/// that records it.
public struct Disclosure: Sendable, Equatable {
    public var log: String
    public var ranges: [ClosedRange<UInt64>]
    public var count: Int
    /// `full`: every entry under the labels in the ranges; `aggregate`: the published aggregates.
    public var access: String
    public func covers(_ index: UInt64) -> Bool { ranges.contains { $0.contains(index) } }
    public var recipient: String
    public var agreement: String
    public var time: String
    /// The disclosure record itself: the sender's log and index.
    public var recordLog: String
    public var recordIndex: UInt64
}

/// An agreement as the ledger has it: where it was appended, whether the owner's
/// countersignature held, whether and when it was revoked.
public struct AgreementState: Sendable, Equatable {
    public var agreement: Agreement
    /// The signed note exactly as appended.
    public var note: String
    public var ref: (log: String, index: UInt64)
    public var revoked: (timeMillis: UInt64, reason: String, index: UInt64)?

    public static func == (a: AgreementState, b: AgreementState) -> Bool {
        a.agreement == b.agreement && a.note == b.note && a.ref == b.ref && a.revoked?.index == b.revoked?.index
    }

    /// In force at `time`: within its validity and not revoked by then.
    public func inForce(at time: UInt64) -> Bool {
        agreement.isValid(at: time) && (revoked.map { time < $0.timeMillis } ?? true)
    }
}

/// What the fold made of an agreement entry.
public enum PolicyOutcome: Sendable, Equatable {
    case accepted(String)
    case revoked(String)
    /// Left out of the policy: the reason says why (no countersignature, wrong holder, ...).
    case ignored(String)
    /// Not an agreement entry.
    case notPolicy
}

/// Every node's view of the agreements on the ledger: folded from the holders' logs in order,
/// so every node evaluates the same policy. Only agreements countersigned by the data owner's
/// key pinned in the federation file count.
public struct Policy: Sendable {
    /// Data owners' note verifier keys, by owner id (the key name must be the owner id).
    public let owners: [String: NoteVerifier]
    public private(set) var agreements: [String: AgreementState] = [:]
    /// Agreement entries left out, with why (newest last, at most 100).
    public private(set) var ignored: [(log: String, index: UInt64, reason: String)] = []
    /// Disclosure records, by agreement id, oldest first.
    public private(set) var disclosures: [String: [Disclosure]] = [:]
    /// Purge records, by agreement id, oldest first.
    public private(set) var purges: [String: [Purge]] = [:]

    public init(owners: [String: NoteVerifier]) { self.owners = owners }

    /// Folds one entry of `log`.
    @discardableResult
    public mutating func apply(log: String, index: UInt64, timeMillis: UInt64, type: String, payload: [UInt8]?) -> PolicyOutcome {
        guard let kind = PolicyEntryType(rawValue: type) else { return .notPolicy }
        guard let payload else { return ignore(log, index, "a stub: the agreement's text is not held here") }
        do {
            switch kind {
            case .established:
                let (agreement, note) = try Self.verify(payload: payload, owners: owners)
                guard agreement.holder == log else { return ignore(log, index, "agreement \(agreement.id) names holder \(agreement.holder), but it is in the \(log) log") }
                guard agreements[agreement.id] == nil else { return ignore(log, index, "agreement \(agreement.id) is already on the ledger") }
                agreements[agreement.id] = AgreementState(agreement: agreement, note: note, ref: (log, index), revoked: nil)
                return .accepted(agreement.id)
            case .disclosed:
                guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                      let source = o["log"] as? String, let rawRanges = o["ranges"] as? [[Any]], let recipient = o["recipient"] as? String,
                      let agreement = o["agreement"] as? String, let time = o["time"] as? String else {
                    return ignore(log, index, "disclosure record: expected {log, ranges, count, recipient, agreement, time}")
                }
                let ranges = rawRanges.compactMap { pair -> ClosedRange<UInt64>? in
                    guard pair.count == 2, let a = (pair[0] as? NSNumber)?.uint64Value, let b = (pair[1] as? NSNumber)?.uint64Value, a <= b else { return nil }
                    return a...b
                }
                disclosures[agreement, default: []].append(Disclosure(log: source, ranges: ranges, count: (o["count"] as? NSNumber)?.intValue ?? 0,
                                                                      access: o["access"] as? String ?? "full",
                                                                      recipient: recipient, agreement: agreement, time: time, recordLog: log, recordIndex: index))
                return .accepted(agreement)
            case .purged:
                guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                      let source = o["log"] as? String, let entries = o["entries"] as? [Any], let agreement = o["agreement"] as? String,
                      let reason = o["reason"] as? String, let time = o["time"] as? String else {
                    return ignore(log, index, "purge record: expected {log, entries, agreement, reason, time}")
                }
                purges[agreement, default: []].append(Purge(log: source, entries: entries.compactMap { ($0 as? NSNumber)?.uint64Value },
                                                            agreement: agreement, reason: reason, time: time, recordLog: log, recordIndex: index))
                return .accepted(agreement)
            case .revoked:
                let r = try Self.revocation(payload)
                guard var state = agreements[r.id] else { return ignore(log, index, "revokes unknown agreement \(r.id)") }
                guard state.agreement.holder == log else { return ignore(log, index, "only the holder \(state.agreement.holder) revokes \(r.id)") }
                guard state.revoked == nil else { return ignore(log, index, "agreement \(r.id) is already revoked") }
                state.revoked = (timeMillis, r.reason, index)
                agreements[r.id] = state
                return .revoked(r.id)
            }
        } catch {
            return ignore(log, index, error.message)
        }
    }

    private mutating func ignore(_ log: String, _ index: UInt64, _ reason: String) -> PolicyOutcome {
        ignored.append((log, index, reason))
        if ignored.count > 100 { ignored.removeFirst() }
        return .ignored(reason)
    }

    /// What `recipient` may receive of an entry of `holder` classified `label` at `time`, and
    /// under which agreement. Public data goes to everyone; the holder holds its own data.
    public func access(label: String, holder: String, recipient: String, at time: UInt64) -> (access: Access, agreement: String?) {
        if label == "public" || recipient == holder { return (.full, nil) }
        // The widest access; among equals the agreement with the smallest id (no sorting: this
        // runs for every restricted entry replicated).
        var best: (Access, String?) = (.none, nil)
        for state in agreements.values
        where state.agreement.holder == holder && state.agreement.labels.contains(label) && state.inForce(at: time) {
            let access = state.agreement.recipients[recipient] ?? .none
            if access > best.0 || (access == best.0 && access != .none && state.agreement.id < (best.1 ?? "")) {
                best = (access, state.agreement.id)
            }
        }
        return best
    }

    /// The type of the derived aggregate entries a holder publishes of restricted rows.
    public static let aggregateType = "dataset.aggregate"

    /// The agreements in force for `holder` covering `label` at `time`.
    public func inForce(label: String, holder: String, at time: UInt64) -> [AgreementState] {
        agreements.values.filter { $0.agreement.holder == holder && $0.agreement.labels.contains(label) && $0.inForce(at: time) }
            .sorted { $0.agreement.id < $1.agreement.id }
    }

    /// Checks an agreement entry before the holder appends it to its own log `log`: an
    /// agreement must be countersigned by its owner's pinned key, name `log` as its holder and be
    /// new; a revocation must name an agreement of `log` not yet revoked. Other types pass.
    public func check(type: String, payload: [UInt8], log: String) throws(PolicyError) {
        switch PolicyEntryType(rawValue: type) {
        case .established:
            let (agreement, _) = try Self.verify(payload: payload, owners: owners)
            guard agreement.holder == log else {
                throw PolicyError("agreement \(agreement.id): names holder \(agreement.holder); it can only be appended to the \(agreement.holder) log")
            }
            guard agreements[agreement.id] == nil else { throw PolicyError("agreement \(agreement.id) is already on the ledger") }
        case .revoked:
            let r = try Self.revocation(payload)
            guard let state = agreements[r.id] else { throw PolicyError("payload.id: no agreement \(r.id) on the ledger") }
            guard state.agreement.holder == log else { throw PolicyError("payload.id: agreement \(r.id) is held by \(state.agreement.holder); only it may revoke it") }
            guard state.revoked == nil else { throw PolicyError("payload.id: agreement \(r.id) is already revoked") }
        case .disclosed, .purged:
            throw PolicyError("type: disclosure and purge records are written by the node itself")
        case nil:
            return
        }
    }

    /// Where an agreement stands at `time`.
    public func status(_ id: String, at time: UInt64) -> String? {
        guard let state = agreements[id] else { return nil }
        if let revoked = state.revoked, revoked.timeMillis <= time { return "revoked" }
        if time < state.agreement.validFrom { return "pending" }
        if time >= state.agreement.validUntil { return "expired" }
        return "in-force"
    }

    // MARK: Payloads

    /// Checks an `agreement.established` payload, `{"note": "<signed note>"}`: the note parses,
    /// its text is an agreement, and the data owner's pinned key signed it.
    public static func verify(payload: [UInt8], owners: [String: NoteVerifier]) throws(PolicyError) -> (Agreement, String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any], object.count == 1,
              let noteText = object["note"] as? String else {
            throw PolicyError("payload: expected {\"note\": \"<the agreement as a signed note>\"}")
        }
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw PolicyError("payload.note: \(error.message)") }
        let agreement = try Agreement(text: note.text)
        guard let verifier = owners[agreement.owner] else {
            throw PolicyError("agreement \(agreement.id): the federation file pins no key for data owner \(agreement.owner)")
        }
        do { try verifier.verify(note) } catch {
            throw PolicyError("agreement \(agreement.id): not countersigned by data owner \(agreement.owner) (\(error.message))")
        }
        return (agreement, noteText)
    }

    /// An `agreement.revoked` payload: `{"id", "reason"}`.
    public static func revocation(_ payload: [UInt8]) throws(PolicyError) -> (id: String, reason: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let id = object["id"] as? String, let reason = object["reason"] as? String, !reason.isEmpty,
              Set(object.keys).isSubset(of: ["id", "reason"]) else {
            throw PolicyError("payload: expected {\"id\": \"<agreement id>\", \"reason\": \"...\"}")
        }
        return (id, reason)
    }
}

extension Access {
    /// Whether this access lets an entry of `type` through in full: full access every entry of
    /// the label, aggregate access only the published aggregates, never the rows.
    public func admits(type: String) -> Bool {
        self == .full || (self == .aggregate && type == Policy.aggregateType)
    }
}

/// The agreements' decisions for the entries of one holder's log and one recipient at one
/// moment, each label decided once: egress, ingress and purges ask for every restricted entry
/// of a batch.
public struct Decisions {
    public let policy: Policy
    public let holder: String
    public let recipient: String
    public let time: UInt64
    private var byLabel: [String: (access: Access, agreement: String?)] = [:]

    public init(policy: Policy, holder: String, recipient: String, at time: UInt64) {
        self.policy = policy
        self.holder = holder
        self.recipient = recipient
        self.time = time
    }

    /// Whether the recipient may have the payload of an entry classified `label` of `type`, its
    /// access to the label, and under which agreement (nil for public data and the holder's own).
    public mutating func admits(label: String, type: String) -> (admitted: Bool, access: Access, agreement: String?) {
        let decision = byLabel[label] ?? policy.access(label: label, holder: holder, recipient: recipient, at: time)
        byLabel[label] = decision
        return (decision.access.admits(type: type), decision.access, decision.agreement)
    }
}
