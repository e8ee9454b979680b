import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Every node's view of the agreements on the ledger: folded from the holders' logs in order,
/// so every node evaluates the same policy. Only agreements countersigned by the data owner's
/// key pinned in the federation file count.
public struct Policy: Sendable {
    /// Data owners' note verifier keys, by owner id (the key name must be the owner id).
    public let owners: [String: NoteVerifier]
    /// Which data owner each label belongs to (the federation file pins it): an agreement opens
    /// only labels of its own owner. Nil only where no federation file is involved (unit
    /// tests of other rules); a node always passes the federation's map.
    public let labels: LabelOwnership?
    /// Owners' statements, past keys and retirement (`OwnerHistory`), by owner id; owners
    /// absent have no past keys and are not retired.
    public let history: [String: OwnerHistory]
    public private(set) var agreements: [String: AgreementState] = [:]
    /// Agreement ids appended by two different holders: neither is in force, on every node,
    /// whatever order the logs were folded in (the state first folded stays in `agreements`,
    /// marked contested; the others are here, so recipients purge what either let them hold).
    public private(set) var contested: Set<String> = []
    public private(set) var shadowed: [AgreementState] = []
    /// Agreements their owner signed that the federation file no longer lets count (`judge`),
    /// by id, sorted by holder and index: ended, never in force, apart from
    /// `agreements` so they take no id from an agreement that counts.
    public private(set) var withdrawn: [String: [AgreementState]] = [:]
    private var withdrawnPerHolder: [String: Int] = [:]

    /// The agreement `id` as its records are found: the one on the ledger that counts, else its
    /// first withdrawn copy (by holder and index).
    public func state(_ id: String) -> AgreementState? { agreements[id] ?? withdrawn[id]?.first }

    /// Every agreement listed: those that count and the withdrawn, by id, holder and entry.
    public var listed: [AgreementState] {
        (Array(agreements.values) + withdrawn.values.flatMap { $0 }).sorted {
            ($0.agreement.id, $0.agreement.holder, $0.withdrawn == nil ? 0 : 1, $0.ref.index) < ($1.agreement.id, $1.agreement.holder, $1.withdrawn == nil ? 0 : 1, $1.ref.index)
        }
    }

    /// How many of the agreements' boundaries — a validity's start or end, a revocation's time —
    /// have passed by `time` (POSIX ms). It moves whenever what the agreements allow as of now may
    /// change with no new entry folded (an agreement expiring, a revocation's time arriving): a
    /// page cached per view version keys on it too.
    /// (Every overview request asks: no arrays made per agreement.)
    public func boundariesPassed(by time: UInt64) -> Int {
        func passed(_ state: AgreementState) -> Int {
            (state.agreement.validFrom <= time ? 1 : 0) + (state.agreement.validUntil <= time ? 1 : 0)
                + (state.revoked.map { $0.timeMillis <= time ? 1 : 0 } ?? 0)
        }
        // Over every record publication reads (`methodRecords`): a withdrawn agreement's start
        // can stop a label's tables (a method that does not protect jointly), with no entry folded.
        return agreements.values.reduce(0) { $0 + passed($1) } + shadowed.reduce(0) { $0 + passed($1) }
            + withdrawn.values.reduce(0) { $0 + $1.reduce(0) { $0 + passed($1) } }
    }
    /// Agreement entries left out, with why (oldest first; at most 100 per log, so one log's
    /// flood of bad entries cannot push out what another log's show).
    public private(set) var ignored: [(log: String, index: UInt64, reason: String)] = []
    /// Disclosure records, by agreement id, oldest first.
    public private(set) var disclosures: [String: [Disclosure]] = [:]
    /// Purge records, by agreement id, oldest first.
    public private(set) var purges: [String: [Purge]] = [:]

    public init(owners: [String: NoteVerifier], labels: LabelOwnership? = nil, history: [String: OwnerHistory] = [:]) {
        self.owners = owners
        self.labels = labels
        self.history = history
    }

    /// The time to fold an agreement entry stamped `entryMillis` at, learnt at `now`: the
    /// earlier of the two. A log whose time runs ahead of the wall clock (its clock was ahead
    /// once, and entry times never go back) stamps its revocations in the future; taken at
    /// their word, the agreement stayed in force everywhere until then. A revocation stamped in
    /// the past takes effect at its time, as before (a node whose clock is behind purges once
    /// its clock passes it: `AgreementState.ended(by:)`).
    public static func effectiveTime(_ entryMillis: UInt64, now: UInt64) -> UInt64 { min(entryMillis, now) }

    /// Folds one entry of `log`.
    @discardableResult
    public mutating func apply(log: String, index: UInt64, timeMillis: UInt64, type: String, payload: [UInt8]?) -> PolicyOutcome {
        guard let kind = PolicyEntryType(rawValue: type) else { return .notPolicy }
        guard let payload else { return ignore(log, index, "a stub: the agreement's text is not held here") }
        do throws(PolicyError) {
            switch kind {
            case .established:
                let agreement: Agreement, note: String
                switch Self.judge(payload: payload, owners: owners, labels: labels, history: history) {
                case .counts(let a, let n): (agreement, note) = (a, n)
                case .withdrawn(let a, let n, let reason): return withdraw(a, note: n, reason: reason, log: log, index: index)
                case .refused(let error): throw error
                }
                guard agreement.holder == log else { return ignore(log, index, "agreement \(agreement.id) names holder \(agreement.holder), but it is in the \(log) log") }
                // Before the id is taken or contested: it reads only the holder's own earlier
                // entries, so every node decides it alike whatever order it folds the logs in.
                if let change = methodChange(agreement) { return ignore(log, index, "agreement \(agreement.id): \(change)") }
                if let held = agreements[agreement.id] {
                    guard held.agreement.holder != log else { return ignore(log, index, "agreement \(agreement.id) is already on the ledger") }
                    // The same id in two holders' logs (its owner signed both: ids begin with
                    // the owner's id): which came first depends on the order this node folded
                    // the logs in, so neither counts, anywhere.
                    contested.insert(agreement.id)
                    agreements[agreement.id]!.contested = true
                    // One copy of each signed agreement per holder, and a few per id and holder:
                    // a holder appending the same contested agreement again and again (64 KiB
                    // each) grew every node's memory, and the purge scanned its log once a copy.
                    let copies = shadowed.filter { $0.agreement.id == agreement.id && $0.agreement.holder == log }
                    if !copies.contains(where: { $0.agreement == agreement }) && copies.count < Self.maxContestedCopiesPerHolder {
                        shadowed.append(AgreementState(agreement: agreement, note: note, ref: (log, index), revoked: nil, contested: true))
                    }
                    return ignore(log, index, "agreement id \(agreement.id) is also used by \(held.agreement.holder); neither is in force")
                }
                agreements[agreement.id] = AgreementState(agreement: agreement, note: note, ref: (log, index), revoked: nil)
                return .accepted(agreement.id)
            case .disclosed:
                guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                      let source = o["log"] as? String, let rawRanges = o["ranges"] as? [[Any]], let recipient = o["recipient"] as? String,
                      let agreement = o["agreement"] as? String, let time = o["time"] as? String else {
                    return ignore(log, index, "disclosure record: expected {log, ranges, count, recipient, agreement, time}")
                }
                // No larger than a writer makes them (each node keeps every record in memory).
                guard rawRanges.count <= Self.maxRangesPerDisclosureRecord else {
                    return ignore(log, index, "disclosure record: \(rawRanges.count) ranges, over the \(Self.maxRangesPerDisclosureRecord) a record holds")
                }
                let ranges = rawRanges.compactMap { pair -> ClosedRange<UInt64>? in
                    // Bridged exactly (nil for a negative, fractional or too large number; an
                    // NSNumber's accessors truncate, and trapped on some Foundations).
                    guard pair.count == 2, let a = pair[0] as? UInt64, let b = pair[1] as? UInt64, a <= b else { return nil }
                    return a...b
                }
                disclosures[agreement, default: []].append(Disclosure(log: source, ranges: ranges, count: o["count"] as? Int ?? 0,
                                                                      access: o["access"] as? String ?? "full",
                                                                      recipient: recipient, agreement: agreement, time: time, recordLog: log, recordIndex: index))
                return .accepted(agreement)
            case .purged:
                guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                      let source = o["log"] as? String, let entries = o["entries"] as? [Any], let agreement = o["agreement"] as? String,
                      let reason = o["reason"] as? String, let time = o["time"] as? String else {
                    return ignore(log, index, "purge record: expected {log, entries, agreement, reason, time}")
                }
                guard entries.count <= Self.maxEntriesPerPurgeRecord else {
                    return ignore(log, index, "purge record: \(entries.count) entries, over the \(Self.maxEntriesPerPurgeRecord) a record holds")
                }
                purges[agreement, default: []].append(Purge(log: source, entries: entries.compactMap { $0 as? UInt64 },
                                                            agreement: agreement, reason: reason, time: time, recordLog: log, recordIndex: index))
                return .accepted(agreement)
            case .revoked:
                let r = try Self.revocation(payload)
                guard !contested.contains(r.id) else { return ignore(log, index, "agreement id \(r.id) is contested; nothing to revoke") }
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

    /// The most ranges a disclosure record holds, and entries a purge record: what a writer puts
    /// in one (`OwnLogRecorder` splits larger ones). A record over them is not folded (every
    /// node keeps every record in memory; a member could otherwise fill it with one entry).
    public static let maxRangesPerDisclosureRecord = 10_000
    public static let maxEntriesPerPurgeRecord = 40_000

    /// At most this many withdrawn agreements are kept per holder's log and owner: an owner's
    /// past key, compromised, could otherwise have a holder it controls append agreements
    /// without bound, each kept by every node. Only a holder's own log appends to it, and an
    /// honest holder appends none a past key signed (`check` refuses them), so the bound is
    /// reached only by the log that mints them; an honest holder's withdrawn agreements are
    /// the handful its owners signed for it.
    public static let maxWithdrawnPerHolder = 256

    /// At most this many copies of one contested agreement id are kept per holder (distinct
    /// agreements its owner signed under that id; the same one appended again is kept once).
    public static let maxContestedCopiesPerHolder = 16

    /// Keeps an agreement its owner signed that the federation file no longer lets count (a key
    /// rotated away from, a retired owner, a label moved): in force nowhere, ended at once, so
    /// recipients purge what it let them hold and record it, and its records stay readable by
    /// its id. Kept apart from the agreements that count (`withdrawn`): it neither takes an id
    /// from one nor contests one, whatever order the logs are folded in (a compromised past key
    /// could otherwise copy a live agreement's id into another holder's log and contest it).
    /// Every such entry is kept, each purged for (an agreement signed again under its id and
    /// withdrawn at the next key change is a second entry, with its own purge).
    private mutating func withdraw(_ agreement: Agreement, note: String, reason: String, log: String, index: UInt64) -> PolicyOutcome {
        guard agreement.holder == log else { return ignore(log, index, "agreement \(agreement.id) names holder \(agreement.holder), but it is in the \(log) log") }
        let bound = "\(log)\n\(agreement.owner)"
        guard withdrawnPerHolder[bound, default: 0] < Self.maxWithdrawnPerHolder else {
            return ignore(log, index, "agreement \(agreement.id) (withdrawn: \(reason)): this log already holds \(Self.maxWithdrawnPerHolder) withdrawn agreements of \(agreement.owner)")
        }
        // A withdrawn copy keeps the method of the holder's copies before it too: else a copy
        // signed by the key before the change with another method, kept as withdrawn, would be
        // the newest one a copy of the new key is held to (`methodChange`), and launder it.
        if let change = methodChange(agreement) { return ignore(log, index, "agreement \(agreement.id) (withdrawn: \(reason)): \(change)") }
        withdrawnPerHolder[bound, default: 0] += 1
        withdrawn[agreement.id, default: []].append(AgreementState(agreement: agreement, note: note, ref: (log, index), revoked: nil, withdrawn: reason))
        withdrawn[agreement.id]!.sort { ($0.ref.log, $0.ref.index) < ($1.ref.log, $1.ref.index) }
        return .accepted(agreement.id)
    }

    /// The holders whose operators may read the records of agreement `id`: the holder of the
    /// one that counts; else, of its withdrawn copies, the holder only when all are one holder's
    /// (a copy a compromised past key signed for another holder must not open the records of
    /// the honest one's).
    public func recordHolders(of id: String) -> Set<String> {
        if let live = agreements[id] { return [live.agreement.holder] }
        let holders = Set((withdrawn[id] ?? []).map(\.agreement.holder))
        return holders.count == 1 ? holders : []
    }

    private mutating func ignore(_ log: String, _ index: UInt64, _ raw: String) -> PolicyOutcome {
        // Reasons can quote unsigned text from the entry: control characters out, 300 bytes at most.
        var reason = String(String.UnicodeScalarView(raw.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0 }))
        if reason.utf8.count > 300 { reason = String(decoding: reason.utf8.prefix(300), as: UTF8.self) + "…" }
        ignored.append((log, index, reason))
        let fromLog = ignored.lazy.filter { $0.log == log }.count
        if fromLog > 100, let i = ignored.lastIndex(where: { $0.log == log && $0.index != index }) { ignored.remove(at: i) }
        return .ignored(reason)
    }

    /// What `recipient` may receive of an entry of `holder` classified `label` at `time`, and
    /// under which agreement. Public data goes to everyone; the holder holds its own data.
    /// - Parameter recorded: the entry's own time: an agreement discloses only entries recorded
    ///   from its `valid-from` on, never data recorded before the owner agreed (nil: any).
    public func access(label: String, holder: String, recipient: String, at time: UInt64, recorded: UInt64? = nil) -> (access: Access, agreement: String?) {
        var decisions = Decisions(policy: self, holder: holder, recipient: recipient, at: time)
        return decisions.access(label: label, recorded: recorded ?? .max)
    }

    /// The agreements in force at any holder covering `label` at `time`.
    public func inForce(label: String, at time: UInt64) -> [AgreementState] {
        agreements.values.filter { $0.agreement.labels.contains(label) && $0.inForce(at: time) }.sorted { $0.agreement.id < $1.agreement.id }
    }

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
            let (agreement, _) = try Self.verify(payload: payload, owners: owners, labels: labels, history: history)
            guard !contested.contains(agreement.id) else { throw PolicyError("agreement \(agreement.id): the id is used by more than one holder") }
            guard agreement.holder == log else {
                throw PolicyError("agreement \(agreement.id): names holder \(agreement.holder); it can only be appended to the \(agreement.holder) log")
            }
            guard agreements[agreement.id] == nil else { throw PolicyError("agreement \(agreement.id) is already on the ledger") }
            if let change = methodChange(agreement) { throw PolicyError("agreement \(agreement.id): \(change)") }
            if let conflict = methodConflict(agreement) { throw PolicyError("agreement \(agreement.id): \(conflict)") }
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

    /// Where an agreement stands at `time` (the one `state(id)` finds).
    public func status(_ id: String, at time: UInt64) -> String? {
        state(id).map { status(of: $0, at: time) }
    }

    /// Where `state` stands at `time`.
    public func status(of state: AgreementState, at time: UInt64) -> String {
        if state.contested { return "contested" }
        if state.withdrawn != nil { return "withdrawn" }
        if let revoked = state.revoked, revoked.timeMillis <= time { return "revoked" }
        if time < state.agreement.validFrom { return "pending" }
        if time >= state.agreement.validUntil { return "expired" }
        return "in-force"
    }
}
