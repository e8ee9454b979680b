import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetStore
import QuartetTLS
import Synchronization

/// Entries as the API shows and admits them: the size limits, what a caller may see of a
/// payload, appends through admission, a log by name.
extension API {
    static let maxBody = 16 << 20
    /// Payload bytes in one page of entries (besides the count limit): 4 MiB.
    static let maxResponsePayloadBytes = 4 << 20

    /// Restricted payloads are shown through the API only to the operator of the log that holds
    /// them (their own data); everyone else sees the stub. Published aggregates (suppressed
    /// counts, meant for publication) are shown to any reader of a node that holds them.
    func disclosable(_ entry: Entry, to identity: FederationIdentity, policy: Policy) -> Entry {
        guard let payload = entry.payload else { return entry }
        if let kind = PolicyEntryType(rawValue: entry.header.type), kind == .disclosed || kind == .purged {
            // Disclosure and purge records: the same rule as GET /v1/agreements/{id}/disclosures.
            let agreement = PayloadValue.parseIfValid(payload.bytes)?["agreement"]?.string
            return agreement.map { AuditRule.mayReadRecords(ofID: $0, policy: policy, identity) } == true ? entry : entry.stub
        }
        guard entry.header.classification != EntryHeader.publicClassification else { return entry }
        // The holder's own data, to its operator.
        if identity == .operator(entry.header.log) && entry.header.log == ownLog { return entry }
        if entry.header.type == Policy.aggregateType {
            // A published aggregate goes to readers only while an agreement in force covers its
            // recording time, grants some node access and asks no more suppression than the
            // agreement that made it (its payload names it) applied, that agreement's method is
            // the label's now, and the table is one that method makes; otherwise it is the
            // holder's alone (`Policy.publishes`).
            if policy.publishes(aggregatePayload: payload.bytes, label: entry.header.classification, holder: entry.header.log,
                                recorded: entry.header.timeMillis, at: wallClockMillis(),
                                to: recipient(of: identity)?.node(for: entry.header.log)) { return entry }
        }
        return entry.stub
    }

    /// Appends through admission; a refusal is a 400 naming what was wrong and where, and a
    /// log that takes no appends yet (its node is catching up on it, docs/operations.md) a 503.
    func admit(_ items: [(prefix: String, value: JSONValue)], caller: Caller) async throws -> [AppendReceipt] {
        do { return try await admission.append(items, author: caller.author, stillAdmitted: caller.stillAdmitted) } catch let error as AdmissionError {
            throw HTTPError(.badRequest, message: error.message)
        } catch let error as CredentialWithdrawn {
            // As a read that waited is answered (`ReadWork`).
            throw HTTPError(.unauthorized, message: error.description)
        } catch let error as StoreError where error.code == .unavailable {
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "2"], message: error.message)
        }
    }

    /// Whether an error `admit` threw means nothing was appended: admission refused the entries
    /// (400), the caller's credential was withdrawn while it waited (401), or the log took no
    /// appends (503) — each before anything was queued. Anything else may have been appended.
    static func appendedNothing(_ error: any Error) -> Bool {
        guard let error = error as? HTTPError else { return false }
        return error.status == .badRequest || error.status == .unauthorized || error.status == .serviceUnavailable
    }

    func findLog(_ name: String) throws -> LogInfo {
        guard let log = try store.logs().first(where: { $0.name == name }) else {
            throw HTTPError(.notFound, message: "no log named \(name) on this node")
        }
        return log
    }
}
