import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Which aggregates are published, and the one method per label their tables are made under.
extension Policy {
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

    /// Why `agreement`, a copy of an id signed again (after its owner's key change withdrew the
    /// copies before), does not count: its method differs from theirs. An aggregate names only
    /// the id whose suppression made it, and is judged by that id's terms wherever it goes or is
    /// shown (`aggregateMaker`; a view remembers the verdict per entry): a copy signed again with
    /// a larger minimum cell size would let every table made under the smaller one travel, in
    /// full, to a recipient the new copy names, and be shown as meeting terms it does not meet.
    /// New terms are a new id.
    public func methodChange(_ agreement: Agreement) -> String? {
        // Against the newest withdrawn copy of the holder's (its log's order).
        guard let before = withdrawn[agreement.id]?.last(where: { $0.agreement.holder == agreement.holder })?.agreement,
              before.minCellSize != agreement.minCellSize || before.rounding != agreement.rounding else { return nil }
        return "signed again with min-cell-size \(agreement.minCellSize), rounding \(agreement.rounding), where the copy of this id before it had min-cell-size "
            + "\(before.minCellSize), rounding \(before.rounding): the tables made under the id would be judged by terms they were not made with; "
            + "sign it again with the same method, or sign the new terms under a new id"
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
}
