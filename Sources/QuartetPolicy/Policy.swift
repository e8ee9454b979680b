import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

// (Over ~350 lines: the fold of agreement entries and the rules every node evaluates from it (who
// may hold, receive and read what; which aggregates are published) are one state; a rule apart
// from the state it reads would be read alone.)

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

    /// Whether an aggregate of `label` held by `holder`, recorded at `recorded` and made under
    /// the agreement `agreement` (as its payload names it), is published at `time`: an agreement
    /// in force covers it (from its `valid-from`), gives some node access, and asks no more
    /// suppression than the one that made it applied (otherwise the aggregate is the holder's
    /// alone). An aggregate made under an agreement since revoked is not published again by a
    /// later one that does not cover its time or asks for a larger minimum cell size.
    ///
    /// `recipient`: the member node a caller speaks for (its node's certificate, its log's
    /// operator), other than the holder's: published to it only under an agreement that gives
    /// that node access itself. An owner who wrote `recipient england none` did not let England
    /// read the aggregate at another node's API (nil: a reader or auditor, who speaks for no node).
    ///
    /// One method per label at a time, over every holder: an aggregate is published only while
    /// its maker's minimum cell size and rounding base are those of the agreement that governs
    /// the label now at any holder (`Agreement.governing`). Two tables of one label rounded to
    /// different bases (or hidden below different sizes), both shown, pin counts each hides: a
    /// board of 20 is 18 to base 6 (15–20) and 21 to base 3 (20–22). And over time: a method
    /// changes as agreements start and end, and a reader keeps what was shown before, so the
    /// label's aggregates are published only under a method that protects jointly with every
    /// method any agreement of the label (giving access) ever stated
    /// (`Suppression.Method.jointlyProtects`): an owner who agrees base 3 and later base 6 for
    /// one label publishes neither's tables from then on (a review found the change of method
    /// gave 20 exactly).
    public func publishes(aggregate agreement: String?, label: String, holder: String, recorded: UInt64, at time: UInt64,
                          to recipient: String? = nil) -> Bool {
        guard let made = aggregateMaker(agreement, label: label, holder: holder) else { return false }
        let inForceForLabel = inForce(label: label, at: time)
        guard let governing = Self.governing(inForceForLabel),
              made.minCellSize == governing.minCellSize, made.rounding == governing.rounding,
              methodsProtectJointly(label: label, with: made, by: time) else { return false }
        return inForceForLabel.contains { state in
            state.agreement.holder == holder
                && recorded >= state.agreement.validFrom && state.agreement.recipients.values.contains { $0 != .none }
                && Self.suppresses(made, asStrictlyAs: state.agreement)
                && recipient.map { (state.agreement.recipients[$0] ?? .none) != .none } ?? true
        }
    }

    /// The agreement whose method a label's aggregates are made under (and the only method of
    /// theirs published) among `states` in force: `Agreement.governing` of those giving some
    /// node access — one that gives none publishes nothing, and must not make the aggregates
    /// the others publish unpublishable — or of all when none does.
    public static func governing(_ states: [AgreementState]) -> Agreement? {
        let granting = states.filter { $0.agreement.recipients.values.contains { $0 != .none } }
        return Agreement.governing((granting.isEmpty ? states : granting).map(\.agreement))
    }

    /// `publishes` for an aggregate's payload as stored (padding allowed): it names its agreement,
    /// and it must be a table that agreement's method produces (`DatasetAggregate.check`).
    /// Aggregates made before the method existed, or by a node that did not check, carry exact
    /// counts and true totals: they are the holder's alone, however they came to be stored.
    public func publishes(aggregatePayload payload: [UInt8], label: String, holder: String, recorded: UInt64, at time: UInt64,
                          to recipient: String? = nil) -> Bool {
        guard let (object, id) = Self.aggregateObject(payload, label: label),
              publishes(aggregate: id, label: label, holder: holder, recorded: recorded, at: time, to: recipient) else { return false }
        return conforms(object, agreement: id, label: label, holder: holder)
    }

    /// The payload half of `publishes(aggregatePayload:)`: a table of `label` that the method of
    /// the agreement it names (one of `holder`'s covering `label`) makes. It depends only on the
    /// payload and that agreement's fixed terms, so a caller may remember it per entry.
    public func aggregateConforms(_ payload: [UInt8], label: String, holder: String) -> Bool {
        guard let (object, id) = Self.aggregateObject(payload, label: label) else { return false }
        return conforms(object, agreement: id, label: label, holder: holder)
    }

    /// An aggregate payload of `label` parsed, and the agreement it names.
    static func aggregateObject(_ payload: [UInt8], label: String) -> ([String: Any], String)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              object["label"] as? String == label, let id = object["agreement"] as? String else { return nil }
        return (object, id)
    }

    private func conforms(_ object: [String: Any], agreement id: String, label: String, holder: String) -> Bool {
        guard let made = aggregateMaker(id, label: label, holder: holder) else { return false }
        return DatasetAggregate.conforms(aggregate: object, minCellSize: made.minCellSize, rounding: made.rounding)
    }

    /// The agreement an aggregate's payload names, if it is one of `holder`'s covering `label`
    /// and not contested (revoked or expired, it still says how the aggregate was suppressed).
    public func aggregateMaker(_ id: String?, label: String, holder: String) -> Agreement? {
        guard let id, !contested.contains(id), let state = agreements[id], !state.contested,
              state.agreement.holder == holder, state.agreement.labels.contains(label) else { return nil }
        return state.agreement
    }

    /// Whether an aggregate suppressed as `made` says meets `under`'s terms: it hides every
    /// count `under` hides (a minimum cell size at least as large) and rounds at least as
    /// coarsely (a base that is a multiple of `under`'s).
    public static func suppresses(_ made: Agreement, asStrictlyAs under: Agreement) -> Bool {
        made.minCellSize >= under.minCellSize && made.rounding >= under.rounding && made.rounding % under.rounding == 0
    }

    /// The type of the derived aggregate entries a holder publishes of restricted rows.
    public static let aggregateType = "dataset.aggregate"

    /// Whether `made`'s method protects jointly with the method of every agreement of `label`
    /// that gives some node access and was in force at some moment up to `time` (any holder,
    /// in force now or ended; one revoked before it began, or not begun yet, published nothing).
    func methodsProtectJointly(label: String, with made: Agreement, by time: UInt64) -> Bool {
        guard let mine = try? Suppression.Method(minCellSize: made.minCellSize, rounding: made.rounding) else { return false }
        return allMethodRecords { state in
            guard state.mayHavePublished(by: time), state.agreement.labels.contains(label),
                  state.agreement.recipients.values.contains(where: { $0 != .none }) else { return true }
            guard let theirs = try? Suppression.Method(minCellSize: state.agreement.minCellSize, rounding: state.agreement.rounding) else { return false }
            return mine.jointlyProtects(with: theirs)
        }
    }

    /// Every agreement record a reader may have seen tables under, whatever became of it: those
    /// that count, the second holder's copies of a disputed id, and those withdrawn by an
    /// owner's key change or retirement (a re-signed agreement at another base after a key
    /// change pinned counts as a new method does; a review).
    var methodRecords: [AgreementState] {
        Array(agreements.values) + shadowed + withdrawn.values.flatMap { $0 }
    }

    /// Whether `body` holds for every one of `methodRecords`, without collecting them (it runs
    /// for each aggregate a reader's answer lists).
    func allMethodRecords(_ body: (AgreementState) -> Bool) -> Bool {
        agreements.values.allSatisfy(body) && shadowed.allSatisfy(body) && withdrawn.values.allSatisfy { $0.allSatisfy(body) }
    }

    /// Why `agreement`'s method would stop a label's tables being shown (it does not protect
    /// jointly with the method of an agreement of one of its labels already on the ledger that
    /// gives some node access), or nil. The holder's append refuses it: on an append-only
    /// ledger such an agreement cannot be taken back.
    public func methodConflict(_ agreement: Agreement) -> String? {
        guard agreement.recipients.values.contains(where: { $0 != .none }),
              let mine = try? Suppression.Method(minCellSize: agreement.minCellSize, rounding: agreement.rounding) else { return nil }
        // One that can never be in force (revoked before it began, an empty validity) publishes
        // nothing and blocks nothing: an owner's mistake revoked in time can be corrected.
        for other in methodRecords.sorted(by: { $0.agreement.id < $1.agreement.id }) where other.mayHavePublished(by: .max)
            && other.agreement.recipients.values.contains(where: { $0 != .none }) {
            guard let label = agreement.labels.first(where: other.agreement.labels.contains),
                  let theirs = try? Suppression.Method(minCellSize: other.agreement.minCellSize, rounding: other.agreement.rounding),
                  !mine.jointlyProtects(with: theirs) else { continue }
            return "its method (min-cell-size \(agreement.minCellSize), rounding \(agreement.rounding)) and agreement \(other.agreement.id)'s "
                + "(min-cell-size \(other.agreement.minCellSize), rounding \(other.agreement.rounding)) for label \(label) would let a reader who sees tables of both "
                + "pin counts each hides, so no table of \(label) would be shown again; sign it with the same method, or one that protects jointly with it "
                + "(not every larger base or minimum does: base 5 with 10 does, 3 with 6 does not; docs/agreements.md)"
        }
        return nil
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

    // MARK: Payloads

    /// Checks an `agreement.established` payload, `{"note": "<signed note>"}`: the note parses,
    /// its text is an agreement, the data owner's pinned key signed it, the owner is not
    /// retired and the federation file gives it every label the agreement opens.
    public static func verify(payload: [UInt8], owners: [String: NoteVerifier], labels: LabelOwnership? = nil,
                              history: [String: OwnerHistory] = [:]) throws(PolicyError) -> (Agreement, String) {
        switch judge(payload: payload, owners: owners, labels: labels, history: history) {
        case .counts(let agreement, let note): return (agreement, note)
        case .withdrawn(let agreement, _, let reason): throw PolicyError("agreement \(agreement.id): \(reason)")
        case .refused(let error): throw error
        }
    }

    /// What an agreement entry is under the federation file.
    enum Judgement {
        /// Its owner's key in force signed it, the owner is not retired, its labels are the owner's.
        case counts(Agreement, String)
        /// Its owner signed it, but the file no longer lets it count: a key the owner has changed
        /// from (one its statements name), a retired owner, or a label the file gives another
        /// owner or none. Ended, so recipients purge (`withdraw`).
        case withdrawn(Agreement, String, reason: String)
        /// No key of its owner signed it, or it is no agreement: ignored.
        case refused(PolicyError)
    }

    /// Judges an agreement entry with at most one signature check, whatever its note holds: by
    /// the owner's key in force when the note carries its line (an agreement it signed; a line
    /// that fails is a refusal, not a reason to try past keys), else by the first past key
    /// whose line it carries (an honest agreement carries one line of its owner's).
    static func judge(payload: [UInt8], owners: [String: NoteVerifier], labels: LabelOwnership?, history: [String: OwnerHistory]) -> Judgement {
        let agreement: Agreement, note: SignedNote, noteText: String
        do { (agreement, note, noteText) = try parse(payload: payload, owners: owners) } catch { return .refused(error) }
        let owner = agreement.owner
        guard let current = owners[owner] else {
            return .refused(PolicyError("agreement \(agreement.id): the federation file pins no key for data owner \(owner)"))
        }
        func carries(_ key: NoteVerifier) -> Bool { note.signatures.contains { $0.keyName.utf8.elementsEqual(key.name.utf8) && $0.keyID == key.keyID } }
        if carries(current) {
            do { try checkSignature(note, by: current) } catch {
                return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (\(error.message))"))
            }
            if history[owner]?.retired == true {
                return .withdrawn(agreement, noteText, reason: "data owner \(owner) is retired; none of its agreements is in force")
            }
            if let labels, let refusal = labelRefusal(agreement, labels) { return .withdrawn(agreement, noteText, reason: refusal) }
            return .counts(agreement, noteText)
        }
        let past = history[owner]?.pastKeys ?? []
        guard let key = note.signatures.lazy.compactMap({ line in past.first { $0.name.utf8.elementsEqual(line.keyName.utf8) && $0.keyID == line.keyID } }).first else {
            return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (note carries no signature by \(current.name)+\(Hex.encode(current.keyID)))"))
        }
        do { try checkSignature(note, by: key) } catch {
            return .refused(PolicyError("agreement \(agreement.id): not countersigned by data owner \(owner) (\(error.message))"))
        }
        return .withdrawn(agreement, noteText, reason: "signed by \(key.vkey), a key data owner \(owner) has changed from")
    }

    /// An agreement entry's note and agreement, with its id checked against the owners' ids.
    private static func parse(payload: [UInt8], owners: [String: NoteVerifier]) throws(PolicyError) -> (Agreement, SignedNote, String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any], object.count == 1,
              let noteText = object["note"] as? String else {
            throw PolicyError("payload: expected {\"note\": \"<the agreement as a signed note>\"}")
        }
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw PolicyError("payload.note: \(error.message)") }
        let agreement = try Agreement(text: note.text)
        // An id names one agreement everywhere: it begins with its owner's id, so no owner can
        // take (and so contest) another owner's agreement id.
        guard agreement.id.hasPrefix(agreement.owner + "-") else {
            throw PolicyError("agreement \(agreement.id): an agreement id begins with its data owner's id and '-' (e.g. \(agreement.owner)-2025)")
        }
        // Nor one whose id also begins with a longer owner id ("NHS-SCOTLAND-1" is
        // NHS-SCOTLAND's, not NHS's): an owner whose id prefixes another's could otherwise take
        // that owner's ids and contest its agreements out of force.
        if let other = owners.keys.sorted().first(where: { $0 != agreement.owner && $0.count > agreement.owner.count && agreement.id.hasPrefix($0 + "-") }) {
            throw PolicyError("agreement \(agreement.id): the id begins with data owner \(other)'s id; \(agreement.owner)'s agreement ids begin with \(agreement.owner)- and not another owner's")
        }
        return (agreement, note, noteText)
    }

    /// Checks `verifier`'s signature on `note`, remembered once it verifies. Keyed by what the
    /// check decides on: the text and the key's line (other keys' lines, which anyone can add,
    /// would make each copy of one agreement a new entry).
    private static func checkSignature(_ note: SignedNote, by verifier: NoteVerifier) throws(LedgerError) {
        let checked = SHA256.hash(Array("\(verifier.vkey)\n\(verifier.originOnly(note).serialized)".utf8))
        guard !CheckedAgreementSignatures.shared.contains(checked) else { return }
        try verifier.verify(note)
        CheckedAgreementSignatures.shared.insert(checked)
    }

    /// Why the federation file's labels do not let `agreement` open what it names, or nil.
    private static func labelRefusal(_ agreement: Agreement, _ labels: LabelOwnership) -> String? {
        for label in agreement.labels {
            guard let owner = labels.owner(of: label) else { return "label \(label) belongs to no data owner in the federation file" }
            guard owner == agreement.owner else { return "label \(label) belongs to \(owner); only \(owner) may open it, not \(agreement.owner)" }
        }
        return nil
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

/// Owners' signatures on agreements already checked here (by the owner's key and the whole
/// note): an agreement entry folded again — a relay judges every batch it sends with the
/// agreement entries in it, and a member can fill its log with copies of one real agreement —
/// costs a hash and a lookup, not an Ed25519 check. Bounded, oldest first out.
final class CheckedAgreementSignatures: Sendable {
    static let shared = CheckedAgreementSignatures()
    static let capacity = 4096
    private let state = Mutex<(set: Set<[UInt8]>, order: [[UInt8]])>(([], []))

    func contains(_ key: [UInt8]) -> Bool { state.withLock { $0.set.contains(key) } }

    func insert(_ key: [UInt8]) {
        state.withLock { state in
            guard state.set.insert(key).inserted else { return }
            state.order.append(key)
            if state.order.count > Self.capacity { state.set.remove(state.order.removeFirst()) }
        }
    }

    /// How many are held (for tests).
    var count: Int { state.withLock { $0.set.count } }
}
