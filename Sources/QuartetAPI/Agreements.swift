/// Data-sharing agreements and their audit (docs/openapi.yaml: `/v1/agreements...`).

/// Where on the ledger something was recorded: a log and an index.
public struct LedgerRef: Codable, Sendable, Equatable {
    public var log: String
    public var index: UInt64
    public init(log: String, index: UInt64) {
        self.log = log
        self.index = index
    }
}

/// An agreement as the node's policy has it (`GET /v1/agreements/{id}`).
public struct AgreementBody: Codable, Sendable, Equatable {
    /// A revocation: when (UTC), why, and the index of the revoking entry in the holder's log.
    public struct Revocation: Codable, Sendable, Equatable {
        public var time: String
        public var reason: String
        public var index: UInt64
        public init(time: String, reason: String, index: UInt64) {
            self.time = time
            self.reason = reason
            self.index = index
        }
    }

    public var id: String
    public var owner: String
    public var holder: String
    public var labels: [String]
    /// Node → `full`, `aggregate` or `none`.
    public var recipients: [String: String]
    public var purpose: String
    public var validFrom: String
    public var validUntil: String
    public var rounding: Int
    public var minCellSize: Int
    /// `pending`, `in-force`, `expired`, `revoked`, `contested` or `withdrawn`.
    public var status: String
    /// Why a `withdrawn` agreement no longer counts (its owner's key changed, the owner retired,
    /// a label moved to another owner).
    public var withdrawn: String?
    /// The entry that put it on the ledger.
    public var entry: LedgerRef
    /// The agreement as the signed note appended.
    public var note: String
    public var revoked: Revocation?

    public init(id: String, owner: String, holder: String, labels: [String], recipients: [String: String], purpose: String,
                validFrom: String, validUntil: String, rounding: Int, minCellSize: Int, status: String, entry: LedgerRef,
                note: String, revoked: Revocation? = nil, withdrawn: String? = nil) {
        self.withdrawn = withdrawn
        self.id = id
        self.owner = owner
        self.holder = holder
        self.labels = labels
        self.recipients = recipients
        self.purpose = purpose
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.rounding = rounding
        self.minCellSize = minCellSize
        self.status = status
        self.entry = entry
        self.note = note
        self.revoked = revoked
    }

    enum CodingKeys: String, CodingKey {
        case id, owner, holder, labels, recipients, purpose, rounding, status, entry, note, revoked, withdrawn
        case validFrom = "valid_from", validUntil = "valid_until", minCellSize = "min_cell_size"
    }
}

/// `GET /v1/agreements`: the agreements honoured, agreement entries ignored and why, and the
/// pinned owner keys.
public struct AgreementsResponse: Codable, Sendable, Equatable {
    /// An agreement entry the node did not honour.
    public struct Ignored: Codable, Sendable, Equatable {
        public var log: String
        public var index: UInt64
        public var reason: String
        public init(log: String, index: UInt64, reason: String) {
            self.log = log
            self.index = index
            self.reason = reason
        }
    }

    /// A data owner's pinned key.
    public struct Owner: Codable, Sendable, Equatable {
        public var id: String
        public var vkey: String
        public init(id: String, vkey: String) {
            self.id = id
            self.vkey = vkey
        }
    }

    public var node: String
    public var agreements: [AgreementBody]
    public var ignored: [Ignored]
    public var owners: [Owner]

    public init(node: String, agreements: [AgreementBody], ignored: [Ignored], owners: [Owner]) {
        self.node = node
        self.agreements = agreements
        self.ignored = ignored
        self.owners = owners
    }
}

/// `GET /v1/agreements/{id}/disclosures`: where an agreement's data went, and what recipients
/// purged.
public struct DisclosuresResponse: Codable, Sendable, Equatable {
    /// Every entry in `ranges` under the agreement's labels went to `recipient`.
    public struct Disclosure: Codable, Sendable, Equatable {
        public var log: String
        /// `[from, to]` index ranges, inclusive.
        public var ranges: [[UInt64]]
        public var count: Int
        /// `full` or `aggregate`.
        public var access: String
        public var recipient: String
        public var time: String
        public var record: LedgerRef

        public init(log: String, ranges: [[UInt64]], count: Int, access: String, recipient: String, time: String, record: LedgerRef) {
            self.log = log
            self.ranges = ranges
            self.count = count
            self.access = access
            self.recipient = recipient
            self.time = time
            self.record = record
        }
    }

    /// Payloads a recipient dropped when the agreement ended (the purging node's record).
    public struct Purge: Codable, Sendable, Equatable {
        public var log: String
        public var entries: [UInt64]
        public var reason: String
        public var time: String
        public var record: LedgerRef

        public init(log: String, entries: [UInt64], reason: String, time: String, record: LedgerRef) {
            self.log = log
            self.entries = entries
            self.reason = reason
            self.time = time
            self.record = record
        }
    }

    public var agreement: String
    public var owner: String
    public var holder: String
    public var disclosures: [Disclosure]
    public var purges: [Purge]
    /// `LOG:INDEX` of the page's last record when more follow (ask again with `?after=` it).
    public var next: String?
    /// The agreement's records on every page together (absent from nodes before 2026-12-05).
    public var total: Int?

    public init(agreement: String, owner: String, holder: String, disclosures: [Disclosure], purges: [Purge], next: String? = nil, total: Int? = nil) {
        self.agreement = agreement
        self.owner = owner
        self.holder = holder
        self.disclosures = disclosures
        self.purges = purges
        self.next = next
        self.total = total
    }
}
