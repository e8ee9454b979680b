import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetPolicy

/// The federation file every node loads: the members, their addresses and roles, and each log's
/// pinned note verifier key (see docs/operations.md).
public struct Federation: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable, CaseIterable {
        /// Builds the combined UK-wide view.
        case aggregator
        /// Holds a nation's action-plan ledger.
        case nation
    }

    public struct Member: Sendable, Equatable {
        public var id: String
        public var role: Role
        /// The peer port other nodes connect to.
        public var peer: HostPort
        /// The HTTPS API's base URL.
        public var api: String
        /// The API's host and port as dialled: the URL's host (without an IPv6 address's
        /// brackets) and its port, 443 when none is written (`https://HOST`, which the file
        /// takes: read as no port, the witness paths skipped such a member for good).
        public var apiAddress: HostPort? {
            guard let url = URL(string: api), let host = url.host.map(Federation.unbracketed), !host.isEmpty else { return nil }
            return HostPort(host: host, port: url.port ?? 443)
        }
        /// The log this node writes, and its pinned note verifier key.
        public var log: String
        public var verifier: NoteVerifier
        /// Keys of the log the federation revoked (`quartet key revoke`): checkpoints beyond the
        /// size given signed by the key, and rotations it signs from there on, are refused.
        public var revoked: [Ed25519PublicKey: UInt64] = [:]
        /// The node's witness key (C2SP tlog-cosignature), if it witnesses the other members'
        /// logs; never its log key.
        public var witness: CosignatureVerifier? = nil
        /// The key the member's log signs with now, when it has rotated away from the pinned
        /// one (`current_vkey`, written by `quartet key current`). Peers follow the log's own
        /// rotation entries from the pinned key whatever this says; it names the key whose
        /// signature on a federation file is the member's, and the log key `quartet policy`
        /// writes. A change to it is a new file, signed by a quorum of the members trusted before.
        public var current: NoteVerifier? = nil

        /// The key whose signature on a federation file counts as this member's.
        public var signingVerifier: NoteVerifier { current ?? verifier }

        /// Whether the federation revoked the key whose signature counts as this member's (a
        /// member with a revoked key and no `current_vkey` signs nothing).
        public var signingKeyRevoked: Bool { revoked[signingVerifier.publicKey] != nil }

        /// The keys the federation names for this member's log that may sign a checkpoint of
        /// `size`: the pinned key and the current key, each unless revoked at or below `size`.
        public func logKeys(forSize size: UInt64) -> [NoteVerifier] {
            [verifier, current].compactMap { $0 }.filter { key in revoked[key.publicKey].map { size <= $0 } ?? true }
        }

        /// Every key the member is listed with.
        var keys: [Ed25519PublicKey] { [verifier.publicKey] + [current?.publicKey, witness?.publicKey].compactMap { $0 } }
    }

    public var name: String
    /// Raised by one for every change; a node never goes back to a lower one
    /// (`FederationTrust`).
    public var version: UInt64
    public var members: [Member]
    /// Data owners' note verifier keys (they countersign data-sharing agreements), by owner id.
    public var owners: [String: NoteVerifier] = [:]
    /// The labels each data owner's agreements may open (`labels` of each owner: exact labels
    /// or `prefix.*`); a label belongs to one owner. An owner listing none opens nothing.
    public var labels = try! LabelOwnership([:])
    /// Owners' signed statements, past keys and retirement (`owners[].statements`,
    /// `owners[].retired`), by owner id: only owners with either are here.
    public var ownerHistory: [String: OwnerHistory] = [:]

    public func member(_ id: String) -> Member? { members.first { $0.id == id } }

    /// Whether a connection presenting `identity`'s certificate keeps a port's reserve slot
    /// (`ConnectionSlots`): a member node's, or an operator's of one of the members' logs;
    /// not a reader's or an auditor's, nor a removed member's.
    func keepsConnectionReserve(_ identity: FederationIdentity) -> Bool {
        switch identity {
        case .node(let id): return member(id) != nil
        case .operator(let log): return members.contains { $0.log == log }
        case .reader, .auditor: return false
        }
    }

    /// `accepted`: as `parse(_:file:accepted:)`.
    public static func load(path: String, accepted: Bool = false) throws(ConfigurationError) -> Federation {
        try parse(try ConfigObject.read(path, what: "federation file"), file: path, accepted: accepted)
    }

    /// Parses a federation file. `accepted`: a file a node accepted before these rules came in
    /// (its data directory's accepted copy, or the same bytes again), read without the rules
    /// added since for new versions — an `api` of scheme, host and port only, key names without
    /// invisible marks (finding 215) — so an upgraded node still starts on it and a corrected
    /// version can be compared with it; a new version must follow them.
    public static func parse(_ data: Data, file: String, accepted: Bool = false) throws(ConfigurationError) -> Federation {
        let root = try ConfigObject(file: file, data: data)
        try root.refuseUnknownKeys(["federation", "version", "nodes", "owners"])
        let name = try root.string("federation")
        // Shown to every member who reviews a change before signing it (`federation show`):
        // nothing in it may move the cursor or rewrite a line.
        guard !name.isEmpty, name.utf8.count <= 255, !name.unicodeScalars.contains(where: { ShownText.isControl($0) || ShownText.isInvisible($0) }) else {
            throw root.error("federation", "expected a name of at most 255 bytes without control characters or invisible marks (zero-width, direction marks)")
        }
        let version = try root.positiveInteger("version")
        var members: [Member] = []
        let nodes = try root.objects("nodes")
        guard !nodes.isEmpty else { throw root.error("nodes", "expected at least one node") }
        for node in nodes {
            try node.refuseUnknownKeys(["id", "role", "peer", "api", "log", "vkey", "current_vkey", "revoked", "witness"])
            let id = try node.string("id")
            guard FederationPKI.isValidNodeID(id) else { throw node.error("id", "expected a node id (lower-case letters, digits and '-'), found \(ConfigObject.shown(id))") }
            guard !members.contains(where: { $0.id == id }) else { throw node.error("id", "node \"\(id)\" is listed twice") }
            let roleText = try node.string("role")
            guard let role = Role(rawValue: roleText) else {
                throw node.error("role", "expected one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), found \(ConfigObject.shown(roleText))")
            }
            let api = try node.string("api")
            // Printable ASCII only (an escape sequence in it could hide another member's line
            // from the members who review the file before signing it).
            guard api.utf8.count <= 2048, api.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let url = URL(string: api), url.scheme == "https", url.host != nil else {
                throw node.error("api", "expected an https:// base URL of printable ASCII, found \"\(api.prefix(200))\"")
            }
            // Scheme, host and port only: the policy file names each log by `api` + /v1/logs/LOG,
            // and readers take the log from that URL's last segment — a path, query or fragment
            // in `api` (`…/v1/logs/wales?`) made another member's log line name wales's log.
            guard accepted || (url.query == nil && url.fragment == nil && (url.path.isEmpty || url.path == "/") && !api.contains("?") && !api.contains("#")) else {
                throw node.error("api", "node \"\(id)\": expected https://HOST[:PORT] with no path, query or fragment, found \"\(Self.shown(api.prefix(200)))\"")
            }
            // The host as written, and as dialled: a percent-encoded host decodes to other
            // letters (lookalikes) than the reviewer reads, and user info before an `@` puts a
            // trusted-looking name in front of another host.
            guard let apiHost = apiHost(of: api), isASCIIHost(apiHost), url.host.map(unbracketed)?.lowercased() == apiHost.lowercased() else {
                throw node.error("api", "node \"\(id)\": the api URL's host must be written as an ASCII host name (letters, digits, '-' and '.') or an IP address, without user info or percent-encoding, found \"\(Self.shown(api.prefix(200)))\"")
            }
            let log = try node.optionalString("log") ?? id
            // As a node configuration requires: the name becomes file names (evidence/<log>.json)
            // and terminal output.
            guard FederationPKI.isValidNodeID(log) else { throw node.error("log", "expected a log name (lower-case letters, digits and '-'), found \(log.debugDescription)") }
            guard !members.contains(where: { $0.log == log }) else { throw node.error("log", "log \"\(log)\" is written by two nodes") }
            let vkey = try node.string("vkey")
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(vkey: vkey) } catch {
                throw node.error("vkey", "expected a note verifier key as `quartet key vkey` prints it: \(error)")
            }
            // One key per member: the quorum that signs this file counts members by their keys.
            if let other = members.first(where: { $0.keys.contains(verifier.publicKey) }) {
                let whose = other.verifier.publicKey == verifier.publicKey ? "\(other.id)'s log" : "one of \(other.id)'s"
                throw node.error("vkey", "the same key as \(whose); every member's log has its own key")
            }
            // Shown to people as the log's identity (`verify-checkpoint`, policy files, pages):
            // printable ASCII only (a member's origin of `…/wales` plus U+200B, or with a Cyrillic
            // `а`, read as wales's).
            if !accepted, let bad = verifier.name.unicodeScalars.first(where: { !(0x21...0x7E).contains($0.value) }) {
                throw node.error("vkey", "node \"\(id)\": the key name holds U+\(String(bad.value, radix: 16, uppercase: true)); key names are shown as a log's identity and must be printable ASCII (a look-alike letter or an invisible mark would pass for another log's)")
            }
            // One origin per log: the key name is the checkpoint origin, a log's identity.
            if let other = members.first(where: { $0.verifier.name == verifier.name || $0.witness?.name == verifier.name }) {
                throw node.error("vkey", "names the origin \(verifier.name), which is \(other.id)'s \(other.verifier.name == verifier.name ? "log's" : "witness key's"); every log has its own")
            }
            let peer = try node.address("peer")
            // Lookalike letters (Cyrillic `а` for `a`) and invisible marks would show a reviewer
            // one host while members dial another: ASCII host names and address literals only.
            guard isASCIIHost(peer.host) else {
                throw node.error("peer", "node \"\(id)\": the peer host must be an ASCII host name (letters, digits, '-' and '.') or an IP address, found \"\(Self.shown(peer.host))\"")
            }
            var member = Member(id: id, role: role, peer: peer, api: api, log: log, verifier: verifier)
            if let text = try node.optionalString("witness") {
                let witness: CosignatureVerifier
                do { witness = try CosignatureVerifier(vkey: text) } catch {
                    throw node.error("witness", "expected a witness verifier key as `quartet key witness-vkey` prints it: \(error)")
                }
                guard witness.publicKey != verifier.publicKey else { throw node.error("witness", "the witness key must not be the log's own key") }
                if !accepted, let bad = witness.name.unicodeScalars.first(where: { !(0x21...0x7E).contains($0.value) }) {
                    throw node.error("witness", "node \"\(id)\": the witness key name holds U+\(String(bad.value, radix: 16, uppercase: true)); witness key names must be printable ASCII")
                }
                if let other = members.first(where: { $0.keys.contains(witness.publicKey) }) {
                    throw node.error("witness", "the same key as one of \(other.id)'s; every witness has its own key")
                }
                // Verifiers take the first signature line whose name and key id match: a second
                // key under a name already used (its id ground to match) would mask the other's
                // lines, so names are unique across the file's log and witness keys.
                if witness.name == verifier.name {
                    throw node.error("witness", "names \(witness.name), the name of this member's log key; a witness key has a name of its own")
                }
                if let other = members.first(where: { $0.witness?.name == witness.name || $0.verifier.name == witness.name }) {
                    throw node.error("witness", "names \(witness.name), a key name \(other.id) uses already; every key in the file has its own name")
                }
                member.witness = witness
            }
            if node.values["revoked"] != nil {
                for revocation in try node.objects("revoked") {
                    try revocation.refuseUnknownKeys(["vkey", "after"])
                    let revokedKey: NoteVerifier
                    do { revokedKey = try NoteVerifier(vkey: try revocation.string("vkey")) } catch let error as ConfigurationError { throw error } catch {
                        throw revocation.error("vkey", "expected a note verifier key of log \(log): \(error)")
                    }
                    guard revokedKey.name == verifier.name else {
                        throw revocation.error("vkey", "names \(revokedKey.name), but log \(log)'s keys sign as \(verifier.name)")
                    }
                    member.revoked[revokedKey.publicKey] = try revocation.positiveInteger("after")
                }
            }
            if let text = try node.optionalString("current_vkey") {
                let current: NoteVerifier
                do { current = try NoteVerifier(vkey: text) } catch {
                    throw node.error("current_vkey", "expected a note verifier key as `quartet key vkey` prints it: \(error)")
                }
                guard current.name == verifier.name else {
                    throw node.error("current_vkey", "names \(current.name), but log \(log)'s keys sign as \(verifier.name)")
                }
                guard current.publicKey != verifier.publicKey else {
                    throw node.error("current_vkey", "is the pinned key itself; leave current_vkey out until the log rotates")
                }
                guard member.revoked[current.publicKey] == nil else {
                    throw node.error("current_vkey", "is a key the file revokes for log \(log)")
                }
                if current.publicKey == member.witness?.publicKey || members.contains(where: { $0.keys.contains(current.publicKey) }) {
                    throw node.error("current_vkey", "is a key already listed; every member's log has its own key")
                }
                member.current = current
            }
            members.append(member)
        }
        guard members.filter({ $0.role == .aggregator }).count <= 1 else {
            throw root.error("nodes", "more than one node has the role aggregator")
        }
        var owners: [String: NoteVerifier] = [:]
        var ownerLabels: [String: [String]] = [:]
        var ownerHistory: [String: OwnerHistory] = [:]
        if root.values["owners"] != nil {
            for owner in try root.objects("owners") {
                try owner.refuseUnknownKeys(["id", "name", "vkey", "labels", "statements", "retired"])
                let id = try owner.string("id")
                guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) else {
                    throw owner.error("id", "expected a data owner id of A-Z, 0-9 and '-' (e.g. HEIW), found \(ConfigObject.shown(id))")
                }
                _ = try owner.optionalString("name")
                guard owners[id] == nil else { throw owner.error("id", "data owner \(id) is listed twice") }
                let vkey = try owner.string("vkey")
                let verifier: NoteVerifier
                do { verifier = try NoteVerifier(vkey: vkey) } catch {
                    throw owner.error("vkey", "expected a note verifier key as `quartet agreement keygen` prints it: \(error)")
                }
                guard verifier.name == id else { throw owner.error("vkey", "the key is named \(verifier.name); a data owner's key must be named by its id (\(id))") }
                owners[id] = verifier
                if owner.values["labels"] != nil {
                    guard let list = owner.values["labels"] as? [Any], let names = list as? [String] else {
                        throw owner.error("labels", "expected an array of labels or label prefixes (\"heiw.*\")")
                    }
                    guard names.count <= 1000 else { throw owner.error("labels", "at most 1000 labels per data owner") }
                    ownerLabels[id] = names
                }
                let retired = try owner.optionalBool("retired") ?? false
                var statements: [String] = []
                if owner.values["statements"] != nil {
                    guard let list = owner.values["statements"] as? [Any], let notes = list as? [String] else {
                        throw owner.error("statements", "expected an array of signed notes (`quartet agreement owner-change` prints one)")
                    }
                    statements = notes
                }
                if retired || !statements.isEmpty {
                    do {
                        ownerHistory[id] = try OwnerHistory.verify(federation: name, owner: id, key: verifier, labels: ownerLabels[id] ?? [], notes: statements, retired: retired)
                    } catch {
                        throw owner.error("statements", error.message)
                    }
                }
            }
        }
        // A node id that names another member's log would count as that log's holder.
        for member in members {
            if let other = members.first(where: { $0.log == member.id && $0.id != member.id }) {
                throw root.error("nodes", "node id \"\(member.id)\" is the name of \(other.id)'s log; node ids and other members' log names must differ")
            }
        }
        var federation = Federation(name: name, version: version, members: members)
        federation.owners = owners
        federation.ownerHistory = ownerHistory
        do { federation.labels = try LabelOwnership(ownerLabels) } catch { throw root.error("owners", error.message) }
        return federation
    }
}

// MARK: Hosts

extension Federation {
    /// Whether `host` is a host name of ASCII letters, digits and '-' in dot-separated labels
    /// (each 1–63 characters, not starting or ending with '-'; at most 253 bytes), an IPv4
    /// address, or an IPv6 address (without brackets or a zone). Nothing else: no other
    /// letters (lookalikes of ASCII ones), no invisible or bidi marks, no percent-encoding. A
    /// name whose last label is all digits must be an IPv4 address (no top-level domain is
    /// numeric; `1.2.3` or `999.1.1.1` would be read by resolvers in other ways).
    public static func isASCIIHost(_ host: String) -> Bool {
        let bytes = Array(host.utf8)
        guard !bytes.isEmpty, bytes.count <= 253, bytes.allSatisfy({ $0 < 0x80 }) else { return false }
        func isHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102) }
        if bytes.contains(UInt8(ascii: ":")) {
            guard bytes.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return false }
            var address = in6_addr()
            return inet_pton(AF_INET6, host, &address) == 1
        }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                  label.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        if let last = labels.last, last.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            var address = in_addr()
            return inet_pton(AF_INET, host, &address) == 1
        }
        return true
    }

    /// The host of an `https://` URL as written (between `://` and the port, path, query or
    /// fragment; an IPv6 literal without its brackets); nil when the authority carries user
    /// info (`trusted.example@other.example`) or is not of that form.
    public static func apiHost(of url: String) -> String? {
        guard let start = url.range(of: "://") else { return nil }
        let authority = url[start.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.contains("@") else { return nil }
        let host: Substring, rest: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            rest = authority[authority.index(after: close)...]
        } else {
            host = authority.prefix { $0 != ":" }
            rest = authority[host.endIndex...]
        }
        guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber })) else { return nil }
        return String(host)
    }

    static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// `text` for an error message: printable ASCII as it is, anything else as `\u{XXXX}` (a
    /// lookalike letter or an invisible mark is seen for what it is); its first `limit` scalars.
    static func shown<S: StringProtocol>(_ text: S, limit: Int = .max) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            if scalar.value >= 0x20 && scalar.value < 0x7F { out.unicodeScalars.append(scalar) } else {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }
}
