/// What `quartet audit --owner` holds each disclosure record against: the agreement's own
/// signed terms (finding 233). A record is a sender's statement that entries went somewhere;
/// the audit listed them all alike, so a disclosure to a node the agreement gives nothing, in
/// full to one it gives aggregates only, of another log's entries, or after the agreement ended
/// read the same as one it allowed.
public enum AuditJudgement {
    /// An agreement's terms as the audit reads them.
    public struct Terms: Sendable, Equatable {
        public var holder: String
        /// Node → `full`, `aggregate` or `none`.
        public var recipients: [String: String]
        public var validFrom: String
        public var validUntil: String
        /// When it was revoked, if it was.
        public var revoked: String?

        public init(holder: String, recipients: [String: String], validFrom: String, validUntil: String, revoked: String?) {
            self.holder = holder
            self.recipients = recipients
            self.validFrom = validFrom
            self.validUntil = validUntil
            self.revoked = revoked
        }
    }

    /// One disclosure record as listed: the entries' log, who recorded it (the sender), to
    /// whom, at which access, when.
    public struct Record: Sendable, Equatable {
        public var log: String
        public var sender: String
        public var recipient: String
        public var access: String
        public var time: String

        public init(log: String, sender: String, recipient: String, access: String, time: String) {
            self.log = log
            self.sender = sender
            self.recipient = recipient
            self.access = access
            self.time = time
        }
    }

    /// Why `record` is outside `terms` (empty: within them). A record's time is to the
    /// millisecond; an agreement's start and end are to the second, as signed; its revocation is
    /// listed to the second (rounded down). Late means `lateGraceMillis` or more after the end
    /// (or the revocation's second).
    public static func problems(_ record: Record, under terms: Terms) -> [String] {
        var out: [String] = []
        if record.log != terms.holder {
            out.append("it records entries of \(record.log), not of the agreement's holder \(terms.holder)")
        }
        // Who sent them held them: the holder, or a relay the agreement lets hold what it sent
        // (full payloads need full access; aggregates, either). The sender is the record's log;
        // the agreement names nodes: a sender it does not name (a member whose node id is not
        // its log's name) is not judged here.
        if record.sender != terms.holder, let given = terms.recipients[record.sender] {
            switch (given, record.access) {
            case ("full", _), ("aggregate", "aggregate"): break
            default: out.append("recorded by \(record.sender), which the agreement does not let hold \(record.access == "aggregate" ? "its aggregates" : "the entries in full")")
            }
        }
        switch (terms.recipients[record.recipient], record.access) {
        case (nil, _):
            out.append("\(record.recipient) is not a recipient of the agreement")
        case ("none"?, _):
            out.append("the agreement gives \(record.recipient) nothing (none)")
        case ("aggregate"?, let access) where access != "aggregate":
            out.append("sent \(access) to \(record.recipient), which the agreement gives aggregates only")
        case (let given?, let access) where given != "full" && given != "aggregate":
            out.append("the agreement gives \(record.recipient) \(given), which is no access this audit knows (sent \(access))")
        default:
            break
        }
        guard let time = millis(record.time) else {
            out.append("its time \(record.time) is not a UTC time (YYYY-MM-DDTHH:MM:SS[.sss]Z)")
            return out
        }
        if let from = millis(terms.validFrom), time < from {
            out.append("recorded at \(record.time), before the agreement's start \(terms.validFrom)")
        }
        if let until = millis(terms.validUntil), time >= until + lateGraceMillis {
            out.append("recorded at \(record.time), after the agreement's end \(terms.validUntil)")
        }
        if let revoked = terms.revoked.flatMap(millis), time >= revoked + 1000 + lateGraceMillis {
            out.append("recorded at \(record.time), after the agreement's revocation at \(terms.revoked!)")
        }
        return out
    }

    /// A record this little after the end or the revocation is not called late: the record is
    /// dated after the send was decided, by the sender's clock, and a relay may send in the
    /// moments before it has folded a revocation (docs/agreements.md, Known limits).
    public static let lateGraceMillis: UInt64 = 5_000

    /// Why `record` is outside every one of `copies` (an agreement re-signed under its id by
    /// its owner is listed once per signed copy): empty when some copy's terms allow it; else
    /// the first copy's reasons.
    public static func problems(_ record: Record, underAnyOf copies: [Terms]) -> [String] {
        var first: [String]?
        for terms in copies {
            let p = problems(record, under: terms)
            if p.isEmpty { return [] }
            if first == nil { first = p }
        }
        return first ?? []
    }

    /// Unix milliseconds of `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC).
    static func millis(_ text: String) -> UInt64? {
        let u = Array(text.utf8)
        if u.count == 24, u[19] == UInt8(ascii: "."), u[23] == UInt8(ascii: "Z"), u[20..<23].allSatisfy({ $0 >= 48 && $0 <= 57 }),
           let seconds = Timestamp.parse(String(decoding: u[0..<19], as: UTF8.self) + "Z") {
            return seconds + u[20..<23].reduce(0) { $0 * 10 + UInt64($1 - 48) }
        }
        return Timestamp.parse(text)
    }
}
