import Foundation
import Hummingbird
import QuartetAPI
import QuartetCrypto
import QuartetPolicy
import QuartetStore

/// The data-sharing agreements on the ledger, as this node's policy has them.
extension API {
    func addAgreementRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        routes.get("/v1/agreements", .reader) { request, context, caller -> Response in
            let policy = view.policy
            let now = wallClockMillis()
            let agreements = policy.listed.map { AgreementBody(policy, $0, now: now) }
            let ignored = policy.ignored.map { AgreementsResponse.Ignored(log: $0.log, index: $0.index, reason: $0.reason) }
            let owners = federation.owners.keys.sorted().map { AgreementsResponse.Owner(id: $0, vkey: federation.owners[$0]!.vkey) }
            return Self.json(AgreementsResponse(node: node, agreements: agreements, ignored: ignored, owners: owners))
        }
        routes.get("/v1/agreements/{id}/disclosures", .auditor) { request, context, caller -> Response in
            let id = try context.parameters.segment("id")
            // Grows with every disclosure record: off the event loops (`ReadWork`).
            return try await reads.run(caller) {
                let policy = view.policy
                guard let state = policy.state(id) else {
                    throw HTTPError(.notFound, message: "no agreement \(id) on the ledger at this node")
                }
                let identity = caller.identity
                guard AuditRule.mayReadRecords(ofID: id, policy: policy, identity) else {
                    throw HTTPError(.forbidden, message: "the disclosures of \(id) are for \(state.agreement.owner)'s auditors (quartet://auditor/\(state.agreement.owner.lowercased()) or an auditor token of that name) and the operator of \(state.agreement.holder); this is \(identity.uri)")
                }
                // In pages, in the order of the entries holding the records (`RecordRef`); a
                // caller that asks for no page gets them all, or a 400 when they are more than
                // one page holds (never a silent first page).
                let after = try request.uri.queryParameters.get("after").map { text in
                    guard let ref = RecordRef(parsing: text) else {
                        throw HTTPError(.badRequest, message: "after must be LOG:INDEX (a record's log and index, as `next` gives it), got \"\(text.prefix(80))\"")
                    }
                    return ref
                }
                let limit = try Self.number(request, "limit")
                if let limit, !(1...UInt64(Policy.recordsPerPage)).contains(limit) {
                    throw HTTPError(.badRequest, message: "limit must be 1–\(Policy.recordsPerPage), got \(limit)")
                }
                let paged = after != nil || limit != nil
                let page = policy.records(of: id, after: after, limit: limit.map { Int($0) } ?? (paged ? Policy.recordsPerPage : Int.max))
                if !paged, page.next != nil {
                    throw HTTPError(.badRequest, message: "\(id) has \(page.total) records, more than one answer holds: ask in pages (?limit=\(Policy.recordsPerPage), then ?after= each answer's next)")
                }
                let items = page.disclosures.map { d in
                    DisclosuresResponse.Disclosure(log: d.log, ranges: d.ranges.map { [$0.lowerBound, $0.upperBound] }, count: d.count, access: d.access,
                                                   recipient: d.recipient, time: d.time, record: LedgerRef(log: d.recordLog, index: d.recordIndex))
                }
                let purges = page.purges.map { p in
                    DisclosuresResponse.Purge(log: p.log, entries: p.entries, reason: p.reason, time: p.time, record: LedgerRef(log: p.recordLog, index: p.recordIndex))
                }
                return Self.json(DisclosuresResponse(agreement: id, owner: state.agreement.owner, holder: state.agreement.holder,
                                                     disclosures: items, purges: purges, next: page.next?.description, total: page.total))
            }
        }
        routes.get("/v1/agreements/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.segment("id")
            let policy = view.policy
            guard let state = policy.state(id) else { throw HTTPError(.notFound, message: "no agreement \(id) on the ledger at this node") }
            return Self.json(AgreementBody(policy, state, now: wallClockMillis()))
        }
    }
}

extension AgreementBody {
    /// `state`, one of `policy`'s, at `now`.
    init(_ policy: Policy, _ state: AgreementState, now: UInt64) {
        let a = state.agreement
        self.init(id: a.id, owner: a.owner, holder: a.holder, labels: a.labels.sorted(), recipients: a.recipients.mapValues(\.rawValue),
                  purpose: a.purpose, validFrom: Timestamp.format(a.validFrom), validUntil: Timestamp.format(a.validUntil),
                  rounding: a.rounding, minCellSize: a.minCellSize, status: policy.status(of: state, at: now),
                  entry: LedgerRef(log: state.ref.log, index: state.ref.index), note: state.note,
                  revoked: state.revoked.map { AgreementBody.Revocation(time: Timestamp.format($0.timeMillis), reason: $0.reason, index: $0.index) },
                  withdrawn: state.withdrawn)
    }
}

/// Who may read the records of where an agreement's data went (disclosures and purges, filed
/// by agreement id), the one rule for every route that reaches them: the data owner's auditors
/// (an auditor named by the owner's id, in any case: quartet://auditor/heiw for HEIW) and the
/// operator of the log that holds the data as `Policy.recordHolders` names it (withdrawn copies
/// held by two holders: neither operator).
enum AuditRule {
    static func mayReadRecords(ofID id: String, policy: Policy, _ identity: FederationIdentity) -> Bool {
        guard let state = policy.state(id) else { return false }
        switch identity {
        case .auditor(let name): return name.lowercased() == state.agreement.owner.lowercased()
        case .operator(let log): return policy.recordHolders(of: id).contains(log)
        case .node, .reader: return false
        }
    }
}
