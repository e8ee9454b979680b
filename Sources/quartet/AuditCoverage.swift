import Foundation
import QuartetAPI
import QuartetLedger
import QuartetNode
import QuartetPolicy

/// `quartet audit --policy FILE`: a data owner's check, with the policy file they hold, that
/// the records a node lists are in the ledger under a checkpoint the policy's witnesses
/// cosigned — not the node's own summary of it.
///
/// Per log holding records: the node's checkpoint covering them (`GET
/// /v1/logs/{log}/checkpoint?covering=N`) must verify against the policy (the log's key, the
/// quorum of witness cosignatures), name that log, and reach the records; then each record's
/// entry is fetched, its header and payload checked against each other, its inclusion proved to
/// that checkpoint's root, and its payload must say what the node listed. What it cannot show:
/// that the node listed every record (a record left out of the listing is not missed); reading
/// the log whole up to the checkpoint does.
struct AuditCoverage {
    let client: APIClient
    let policy: WitnessPolicy

    /// A record's entry signed malformed by its writer (`checkRecord`).
    struct Malformed: Error { let message: String }

    /// What one log's check found.
    struct Result {
        var size: UInt64?
        var witnesses: [String] = []
        var checked = 0
        var problem: String?
        /// Whether the problem is a record the node listed that its answers do not bear out (its
        /// entry not served, not in the checkpoint, or saying something else): evidence against
        /// the listing, not a checkpoint not yet cosigned.
        var contradicted = false
    }

    /// A listed record and what its entry's payload must say.
    struct Expected {
        var index: UInt64
        var agreement: String
        var disclosure: DisclosuresResponse.Disclosure?
        var purge: DisclosuresResponse.Purge?
    }

    func check(log: String, upTo: UInt64, records: [Expected]) async -> Result {
        var result = Result()
        do {
            let text = try await client.checkpoint(log: log, covering: upTo)
            let verified: WitnessPolicy.Verified
            do { verified = try policy.verify(try SignedNote(parsing: text)) } catch {
                throw CLIError("the checkpoint the node serves for \(log) does not meet your policy: \(error.message)")
            }
            if let refusal = Self.namesAnotherLog(policy, origin: verified.checkpoint.origin, log: log) { throw CLIError(refusal) }
            result.size = verified.checkpoint.size
            result.witnesses = verified.witnesses.keys.sorted()
            guard verified.checkpoint.size >= upTo else {
                throw CLIError("the newest checkpoint of \(log) that meets your policy has size \(verified.checkpoint.size), short of the records (up to index \(upTo - 1))")
            }
            for record in records {
                // Not borne out: the node refused or garbled what it lists (its answer, an
                // `APIClientError`), or the ledger says otherwise (a `CLIError` of the check) —
                // not a record its writer signed malformed (`Malformed`: the node lists it as it
                // reads it, leniently), nor the network failing.
                do { try await checkRecord(record, log: log, size: verified.checkpoint.size, root: verified.checkpoint.root) } catch let error as CLIError {
                    result.contradicted = true
                    throw error
                } catch let error as APIClientError {
                    result.contradicted = true
                    throw CLIError("record \(log)/\(record.index): the node did not serve what it lists: \(error)")
                }
                result.checked += 1
            }
        } catch let error as CLIError {
            result.problem = error.description
        } catch let error as Malformed {
            result.problem = error.message
        } catch {
            result.problem = "\(error)"
        }
        return result
    }

    /// Why the policy's line for `origin` does not name `log`, or nil: by its URL when it has
    /// one (`quartet policy` writes `https://<node>/v1/logs/<log>`; a URL of another form names
    /// no log), else by an origin ending in `/<log>` — the rule the figure page applies
    /// (docs/web.md). Each member chooses its origin, so a URL, when given, decides alone. A
    /// policy in which two lines name `log` names it for neither.
    static func namesAnotherLog(_ policy: WitnessPolicy, origin: String, log: String) -> String? {
        guard let i = policy.logs.firstIndex(where: { Array($0.name.utf8) == Array(origin.utf8) }) else {
            return "your policy file has no key for the log \(origin)"
        }
        func names(_ j: Int) -> String? {
            if let url = policy.logURLs[j] { return namedLog(url) }
            return policy.logs[j].name.utf8.reversed().starts(with: Array(("/" + log).utf8).reversed()) ? log : nil
        }
        if policy.logs.indices.filter({ names($0).map { Array($0.utf8) == Array(log.utf8) } ?? false }).count > 1 {
            return "your policy file names the log \(log) on more than one line: write the file again with quartet policy"
        }
        if let url = policy.logURLs[i] {
            guard let named = namedLog(url) else {
                return "your policy file's line for \(origin) has a URL that names no log (https://HOST[:PORT]/v1/logs/<log>, no query or fragment): write the file again with quartet policy"
            }
            return Array(named.utf8) == Array(log.utf8) ? nil : "your policy file's line for \(origin) names the log \(named), not \(log), whose records these are"
        }
        return names(i) != nil ? nil : "your policy file's line for \(origin) has no URL and its origin does not end in /\(log), whose records these are"
    }

    /// The log a policy line's URL names: the last segment of a path ending `/logs/<log>`,
    /// decoded; nil for a URL with a query or fragment (which could hide the real tail: a
    /// member's `…/v1/logs/wales?/v1/logs/england`) or dot segments, percent-encoded ones and
    /// backslashes too (`…/logs/wales/%2e%2e/logs/england`: a URL parser resolves them as dot
    /// segments and slashes; the page refuses them, finding 245, and so does this: finding 283).
    static func namedLog(_ url: String) -> String? {
        guard !url.contains("?"), !url.contains("#"), !url.contains("\\"), url.range(of: "%2e", options: .caseInsensitive) == nil,
              let components = URLComponents(string: url),
              components.query == nil, components.fragment == nil else { return nil }
        let parts = components.percentEncodedPath.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "logs", !parts.contains(where: { $0 == "." || $0 == ".." }),
              let named = String(parts[parts.count - 1]).removingPercentEncoding, !named.isEmpty else { return nil }
        return named
    }

    private func checkRecord(_ record: Expected, log: String, size: UInt64, root: Hash) async throws {
        let at = "record \(log)/\(record.index)"
        guard let body = try await client.entries(log: log, from: record.index, limit: 1).entries.first, body.index == record.index else {
            throw CLIError("\(at): the node does not serve the entry")
        }
        guard let header = Base64.decode(body.header), let payloadText = body.payloadBase64, let saltText = body.salt,
              let bytes = Base64.decode(payloadText), let salt = Base64.decode(saltText) else {
            throw CLIError("\(at): the node serves the entry without its header, payload and salt")
        }
        let entry: Entry
        do { entry = try Entry(headerBytes: header, payload: try EntryPayload(salt: salt, bytes: bytes)) } catch {
            throw CLIError("\(at): \(error.message)")
        }
        guard Array(entry.header.log.utf8) == Array(log.utf8), entry.header.index == record.index else {
            throw CLIError("\(at): the entry's header names \(entry.header.log)/\(entry.header.index)")
        }
        let proof = try await client.inclusionProof(log: log, index: record.index, size: size)
        do {
            try Merkle.verifyInclusion(index: record.index, size: size, leaf: entry.leafHash, proof: try proof.proof.map { try Hash(base64: $0) }, root: root)
        } catch {
            throw CLIError("\(at): not in the checkpoint of size \(size) that meets your policy: \(error)")
        }
        guard let payload = entry.payload?.bytes else { throw CLIError("\(at): no payload") }
        let decoder = JSONDecoder()
        // A payload its writer signed malformed is not the listing node's misstatement (nodes
        // list records as they read them, leniently: finding 188(b)): said, not counted as one.
        func decoded<T: Decodable>(_ type: T.Type) throws -> T {
            do { return try decoder.decode(type, from: Data(payload)) } catch {
                throw Malformed(message: "\(at): the signed entry's record is malformed (as its writer signed it), so this audit cannot read it")
            }
        }
        if let listed = record.disclosure {
            guard entry.header.type == PolicyEntryType.disclosed.rawValue else { throw CLIError("\(at): the signed entry is not a disclosure record") }
            let said = try decoded(DisclosurePayload.self)
            guard said.agreement == record.agreement, said.log == listed.log, said.ranges == listed.ranges, said.count ?? 0 == listed.count,
                  said.access ?? "full" == listed.access, said.recipient == listed.recipient, said.time == listed.time else {
                throw CLIError("\(at): the signed entry does not say what the node lists for it")
            }
        } else if let listed = record.purge {
            guard entry.header.type == PolicyEntryType.purged.rawValue else { throw CLIError("\(at): the signed entry is not a purge record") }
            let said = try decoded(PurgePayload.self)
            guard said.agreement == record.agreement, said.log == listed.log, said.entries == listed.entries,
                  said.reason == listed.reason, said.time == listed.time else {
                throw CLIError("\(at): the signed entry does not say what the node lists for it")
            }
        }
    }

    /// `disclosure.recorded`, as docs/agreements.md lays it out.
    private struct DisclosurePayload: Decodable {
        var log: String
        var ranges: [[UInt64]]
        var count: Int?
        var recipient: String
        var agreement: String
        var access: String?
        var time: String
    }

    /// `purge.recorded`.
    private struct PurgePayload: Decodable {
        var log: String
        var entries: [UInt64]
        var agreement: String
        var reason: String
        var time: String
    }
}
