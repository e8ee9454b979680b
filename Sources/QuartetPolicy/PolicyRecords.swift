import QuartetLedger

/// The entry types of data-sharing agreements.
public enum PolicyEntryType: String, Sendable, CaseIterable {
    case established = "agreement.established"
    case revoked = "agreement.revoked"
    /// A sender's record that it disclosed restricted payloads: `{"log", "ranges": [[from, to]],
    /// "count", "recipient", "agreement", "access", "time"}` — the entries of the log at exactly
    /// those indices went to the recipient in full under the agreement (records made before
    /// 2026-12-03 named whole batch spans: every entry within them classified under the
    /// agreement's labels, for `aggregate` access every published aggregate) — appended to the
    /// sender's own log.
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
    /// Its id was also used by another holder: in force nowhere.
    public var contested = false
    /// Why its owner's signature no longer counts (a key rotated away from, the owner retired,
    /// a label moved: `Policy.judge`): in force nowhere, ended.
    public var withdrawn: String?

    public init(agreement: Agreement, note: String, ref: (log: String, index: UInt64), revoked: (timeMillis: UInt64, reason: String, index: UInt64)?,
                contested: Bool = false, withdrawn: String? = nil) {
        self.agreement = agreement
        self.note = note
        self.ref = ref
        self.revoked = revoked
        self.contested = contested
        self.withdrawn = withdrawn
    }

    public static func == (a: AgreementState, b: AgreementState) -> Bool {
        a.agreement == b.agreement && a.note == b.note && a.ref == b.ref && a.revoked?.index == b.revoked?.index && a.contested == b.contested && a.withdrawn == b.withdrawn
    }

    /// Whether it was in force at some moment up to `time`: not contested, its validity begun,
    /// and no revocation before that beginning.
    public func wasInForce(by time: UInt64) -> Bool {
        !contested && mayHavePublished(by: time)
    }

    /// Whether tables made under it may have been shown by `time`, whatever became of it since
    /// (contested by a second holder, withdrawn by a key change or a retired owner): its
    /// validity begun, and no revocation before that beginning. What a reader may have kept.
    public func mayHavePublished(by time: UInt64) -> Bool {
        agreement.validFrom <= time && agreement.validFrom < agreement.validUntil
            && (revoked.map { $0.timeMillis > agreement.validFrom } ?? true)
    }

    /// In force at `time`: within its validity, not revoked by then, not contested.
    public func inForce(at time: UInt64) -> Bool {
        !contested && withdrawn == nil && agreement.isValid(at: time) && (revoked.map { time < $0.timeMillis } ?? true)
    }

    /// Why it has ended by `time` (POSIX ms), or nil while it has not: contested; revoked at or
    /// before `time` (the revocation entry's time, as the fold and the data flow judge it: a
    /// revocation folded before its time has not ended it yet); past its validity. What a
    /// holder's purge acts on: it decides at the same time, so a purge run before the end would
    /// keep everything.
    public func ended(by time: UInt64) -> String? {
        if contested { return "contested" }
        if withdrawn != nil { return "withdrawn" }
        if let revoked { return time >= revoked.timeMillis ? "revoked" : nil }
        return time >= agreement.validUntil ? "expired" : nil
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
