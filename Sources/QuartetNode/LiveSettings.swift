import Foundation
import QuartetCrypto
import QuartetTLS
import QuartetPolicy
import Synchronization

/// The data directory's record of the certificate revocations in force when the node last ran.
public enum RevocationsInForce {
    public static let fileName = "revocations-in-force"
}

/// The node's TLS contexts: its certificate and key, as a client (dialling peers) and as the
/// server of the peer port (client certificates required) and of the API (optional).
struct TLSContexts: Sendable {
    let client: TLSContext
    let peer: TLSContext
    let api: TLSContext

    /// Loads the configuration's certificate, key and CA, and checks that the certificate
    /// names this node (peers would refuse it otherwise).
    init(_ configuration: NodeConfiguration) throws {
        let certificate: Certificate
        let pem: String, ca: String
        do {
            pem = try ConfigObject.readPEM(configuration.certificate, what: "certificate")
            certificate = try Certificate(pem: pem)
            ca = (try? ConfigObject.readPEM(configuration.caCertificate, what: "certificate")) ?? ""
        } catch {
            throw NodeStartupError("\(configuration.file): tls.certificate: \(error)")
        }
        let (lists, text): ([RevocationList], String?)
        do { (lists, text) = try Self.revocationLists(configuration, ca: ca, leaf: certificate) } catch {
            throw NodeStartupError("\(error)")
        }
        revocations = text
        // Each list's revocations under the CA of tls.ca that signed it (a list without an
        // authority key identifier, as `openssl ca -gencrl` makes by default, still names its CA).
        let roots = (try? Certificate.all(pem: ca)) ?? []
        revokedCertificates = lists.reduce(into: []) { all, list in
            all.formUnion(list.revocations(issuedBy: roots.first { (try? list.verify(issuedBy: $0)) != nil }.map(RevocationList.issuer(of:)) ?? list.issuer))
        }
        caIssuers = Set(roots.map(RevocationList.issuer(of:)))
        // Issued by a CA of tls.ca and not expired: with the wrong CA file, or a certificate
        // past its date, the node started and every handshake then failed, peers' and
        // clients' alike (a helper's review of operator mistakes, finding 291). Refused at a
        // start only: a reload with the certificate in force expired still takes the rest (a
        // federation file, tokens, a revocation list: finding 170). Its start date is not held
        // against it (a clock a little behind the CA's at issue).
        let now = Date()
        var refusal: String?
        if certificate.notAfter < now {
            refusal = "\(configuration.file): tls.certificate: \(configuration.certificate) expired on \(ISO8601DateFormatter().string(from: certificate.notAfter)) (this host's clock reads \(ISO8601DateFormatter().string(from: now))): renew it (docs/operations.md, \"The federation PKI\"), or set the clock right"
        } else if !roots.isEmpty {
            do { try certificate.verify(issuedByAnyOf: roots, at: max(now, certificate.notBefore)) } catch {
                refusal = "\(configuration.file): tls.certificate: \(configuration.certificate) is not issued by the CA in tls.ca (\(configuration.caCertificate)): \(error.message); every peer and client would refuse it"
            }
        }
        startRefusal = refusal
        let crl = text.map { Array($0.utf8) } ?? []
        files = SHA256.hash(Array(pem.utf8) + [0] + Array(ca.utf8))
        // The lists with the CA: lists that change at a reload close what was verified before
        // them, as a new CA does (the certificates they now revoke among them).
        trustRoots = SHA256.hash(Array(ca.utf8) + [0] + crl)
        // As `config check` refuses it (one rule, `openToOthers`).
        if let problem = Self.openToOthers(configuration.privateKey) { throw NodeStartupError("\(configuration.file): tls.key: \(problem)") }
        guard FederationIdentity(certificate: certificate) == .node(configuration.node) else {
            let names = certificate.uriNames.joined(separator: ", ")
            throw NodeStartupError("\(configuration.file): tls.certificate: \(configuration.certificate) names \(names.isEmpty ? "no quartet:// identity" : names), expected quartet://node/\(configuration.node)")
        }
        do {
            client = try TLSContext(role: .client, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                    trustRoots: configuration.caCertificate, revocationLists: lists)
            peer = try TLSContext(role: .server, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                  trustRoots: configuration.caCertificate, clientAuthentication: .required, revocationLists: lists)
            api = try TLSContext(role: .server, certificateChain: configuration.certificate, privateKey: configuration.privateKey,
                                 trustRoots: configuration.caCertificate, clientAuthentication: .optional, revocationLists: lists)
        } catch {
            throw NodeStartupError("\(configuration.file): tls: \(error)")
        }
        notAfter = certificate.notAfter
        caNotAfter = certificate.chainNotAfter(among: roots)
    }

    /// Why a node would not start with these files (a certificate the CA in `tls.ca` did not
    /// issue, or one expired), or nil; a reload does not ask.
    let startRefusal: String?

    /// When the node's certificate expires.
    let notAfter: Date
    /// When the first CA of the node's certificate's chain in `tls.ca` expires (its issuer, and
    /// that one's, up to the root; nil: no CA there signed it): from then peers refuse the
    /// node's chain, whatever its own certificate's date.
    let caNotAfter: Date?
    /// The certificate and CA files these contexts were made from (SHA-256): a reload checks
    /// a certificate's dates and issuer only when they changed (`renewalProblem`), so a node
    /// whose certificate expired can still take a federation file that removes a member.
    let files: [UInt8]
    /// The CA file and the revocation list (SHA-256): when a reload changes either, the
    /// connections verified before are closed (`TLSContext.retire`).
    let trustRoots: [UInt8]
    /// The revocation list's text, if the configuration names one.
    let revocations: String?
    /// The certificates the lists revoke (`RevocationList.revocations(issuedBy:)`: issuer and serial).
    let revokedCertificates: Set<String>
    /// The CAs of `tls.ca`, as a list names its issuer (`RevocationList.issuer(of:)`).
    let caIssuers: Set<String>

    /// The revocations in `earlier` (those in force before a reload, or when the node last ran)
    /// that these contexts take back (a list taken out, an older list put back, a serial left out
    /// of a new one), of CAs still in `tls.ca` (a CA rolled out of the bundle verifies nothing,
    /// so its certificates need no list): the serials, to be said — a certificate revoked after
    /// a theft must not come back without a word.
    func revocationsTakenBack(since earlier: Set<String>) -> [String] {
        Self.takenBack(since: earlier, revoked: revokedCertificates, caIssuers: caIssuers)
    }

    /// `revocationsTakenBack`, pure.
    static func takenBack(since earlier: Set<String>, revoked: Set<String>, caIssuers: Set<String>) -> [String] {
        earlier.subtracting(revoked).filter { caIssuers.contains(issuer(ofEntry: $0)) }.map(serial(ofEntry:)).sorted()
    }

    /// The CA an `ISSUER/SERIAL` entry names.
    static func issuer(ofEntry entry: String) -> String { entry.split(separator: "/").first.map(String.init) ?? "" }
    /// The serial an `ISSUER/SERIAL` entry names.
    static func serial(ofEntry entry: String) -> String { entry.split(separator: "/").last.map(String.init) ?? "" }

    /// What the record keeps: the revocations in force now, and those of `earlier` whose CA is
    /// not in `tls.ca` now — kept, not forgotten, or a CA rolled out and then back in (a
    /// rollover backed out, an old configuration restored) with its list from before a
    /// revocation would take that revocation back without a word.
    /// Those of CAs out of `tls.ca` are kept up to `maxKeptAbsent` (the record is read up to
    /// 4 MiB: one that grew past it would read as unreadable, and be kept as it is).
    static func recorded(revoked: Set<String>, caIssuers: Set<String>, earlier: Set<String>) -> Set<String> {
        revoked.union(earlier.filter { !caIssuers.contains(issuer(ofEntry: $0)) }.sorted().prefix(maxKeptAbsent))
    }

    static let maxKeptAbsent = 10_000

    /// The revocations in force when the node last ran (`revocations-in-force` in the data
    /// directory, one `ISSUER/SERIAL` a line), to compare at a start: a restart with an older
    /// list, or none, takes revocations back as a reload would.
    /// Nil when the record is there but cannot be read (too large, not a regular file): it is
    /// then not written over (`recordRevocations` is not called), so what it keeps is not lost.
    static func revocationsRecorded(dataDirectory: String) -> Set<String>? {
        let path = "\(dataDirectory)/\(recordFile)"
        var info = stat()
        guard lstat(path, &info) == 0 else { return errno == ENOENT ? [] : nil }
        guard let text = try? RegularFile.readText(path, limit: 4 << 20, followSymlinks: false) else { return nil }
        return Set(text.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    /// Records the revocations in force now, with those of CAs not in `tls.ca` now from
    /// `earlier` (`recorded`; `revocationsRecorded` reads them).
    func recordRevocations(dataDirectory: String, earlier: Set<String>) throws {
        let text = Self.recorded(revoked: revokedCertificates, caIssuers: caIssuers, earlier: earlier).sorted().map { $0 + "\n" }.joined()
        do { try RegularFile.writeDurably(Array(text.utf8), to: "\(dataDirectory)/\(Self.recordFile)", replacing: true) } catch {
            throw NodeStartupError("cannot record the revocations in force in \(dataDirectory): \(error)")
        }
    }

    static let recordFile = RevocationsInForce.fileName

    /// The configuration's revocation lists (`tls.crl`: one per CA in `tls.ca`) and their text,
    /// checked as a handshake would use them (`RevocationList.check`, with `leaf`, the node's
    /// own certificate): each list the key of a CA in the bundle signed, each CA in the bundle
    /// with its list (OpenSSL refuses every certificate of a CA without one: a rollover bundle
    /// of the old and new CA with the new CA's list alone cut off every member still on the
    /// old), and the node's own certificate verifying with them (a list that loads but refuses
    /// every peer — a critical extension OpenSSL does not know, a scope of CA certificates only
    /// — or that revokes this node's certificate). Refused at start, at the reload that brings
    /// it and by `config check`. A revocation list inside `tls.ca` is refused too: OpenSSL
    /// would read it beside `tls.crl` and may prefer an older one.
    static func revocationLists(_ configuration: NodeConfiguration, ca: String, leaf: Certificate) throws(ConfigurationError) -> ([RevocationList], String?) {
        guard !ca.contains("-----BEGIN X509 CRL-----") else {
            throw ConfigurationError(file: configuration.file, key: "tls.ca", "\(configuration.caCertificate) holds a revocation list: put revocation lists in the file tls.crl names, and only CA certificates in tls.ca")
        }
        guard let path = configuration.revocationList else { return ([], nil) }
        func refuse(_ message: String) -> ConfigurationError { ConfigurationError(file: configuration.file, key: "tls.crl", "\(path): \(message)") }
        let text = try ConfigObject.readPEM(path, what: "revocation list")
        let lists: [RevocationList], roots: [Certificate]
        do { lists = try RevocationList.all(pem: text) } catch { throw refuse("\(error)") }
        do { roots = try Certificate.all(pem: ca) } catch { throw refuse("the CA file tls.ca: \(error)") }
        for (i, list) in lists.enumerated() where !roots.contains(where: { (try? list.verify(issuedBy: $0)) != nil }) {
            throw refuse("revocation list \(i + 1) is not signed by a CA in tls.ca (its issuer, or its signature, is another CA's)")
        }
        for root in roots where !lists.contains(where: { (try? $0.verify(issuedBy: root)) != nil }) {
            throw refuse("the CA \(root.commonName ?? "?") in tls.ca (serial \(root.serialHex)) has no revocation list here: with tls.crl every CA in tls.ca needs its own list (quartet pki revoke --ca DIR --new-list on that CA), or OpenSSL refuses every certificate it issued")
        }
        do { try RevocationList.check(leaf, trustRoots: roots, lists: lists) } catch {
            throw refuse("this node's own certificate \(configuration.certificate): \(error.message)\(lists.contains { $0.revokes(leaf) } ? " (the list revokes it: put this node's renewed certificate in place)" : "")")
        }
        return (lists, text)
    }

    /// Why a reload must not put the configuration's certificate in force (nil: it may): out
    /// of its validity, or not issued by the CA in `tls.ca` (`config check`'s rules). Without
    /// this a renewal with the wrong CA or dates was reported reloaded and new handshakes then
    /// failed until the node was cut off; refused, the node goes on with the certificate it has.
    static func renewalProblem(_ configuration: NodeConfiguration, now: Date = Date()) -> String? {
        let cas: [Certificate], leaf: Certificate
        do {
            cas = try Certificate.all(pem: try ConfigObject.readPEM(configuration.caCertificate, what: "certificate"))
            leaf = try Certificate(pem: try ConfigObject.readPEM(configuration.certificate, what: "certificate"))
        } catch {
            return "\(configuration.file): tls: \(error)"
        }
        let errors = ConfigurationCheck.certificateErrors(cas: cas, leaf: leaf, caPath: configuration.caCertificate, now: now)
        return errors.isEmpty ? nil : errors.map { "\(configuration.file): \($0.key): \($0.message)" }.joined(separator: "; ")
    }

    /// Why the private key at `path` is no key of this node's (nil: it may be): every user has
    /// some access to it, or a group other than the one this process runs as. Group access is
    /// how a root-owned key is given to the service's group (`root:quartet`, 0640); any other
    /// group (`users`, `adm`) lets each of its members act as the node (finding 274).
    /// `group`: the node's group (the process's, when it is the node; `config check` run as
    /// root names the data directory's).
    static func openToOthers(_ path: String, group: gid_t = getegid()) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = String(info.st_mode & 0o777, radix: 8)
        if info.st_mode & 0o007 != 0 { return "\(path) gives every user access (mode \(mode)); run chmod o-rwx on it" }
        if info.st_mode & 0o070 != 0, info.st_gid != group {
            return "\(path) gives group \(info.st_gid) access (mode \(mode)), not the node's own group (\(group)): only the service's group may read its key; run chgrp on it to that group, or chmod g-rwx"
        }
        return nil
    }
}

/// What a reload (SIGHUP) changes while the node runs: the federation as accepted last, the
/// TLS contexts and the configuration's token grants. Readers take the current value for each
/// new connection or request, so a member removed is refused from its next request or
/// handshake on, a token removed from its next request on (browser sign-ins with it too), and a
/// renewed certificate is presented from the next handshake on (connections made before keep
/// theirs).
final class LiveSettings: Sendable {
    private let state: Mutex<(federation: Federation, contexts: TLSContexts, tokens: [TokenGrant])>

    /// A set of contexts a reload replaced, held weakly: it lives as long as a connection it
    /// verified (each holds its context), so a CA replaced at a later reload can still close
    /// what it verified — every reload makes a new set, and a connection from before several
    /// reloads holds one of the oldest.
    private struct Earlier {
        weak var client: TLSContext?
        weak var peer: TLSContext?
        weak var api: TLSContext?
        let trustRoots: [UInt8]
        var gone: Bool { client == nil && peer == nil && api == nil }
    }
    private let earlier = Mutex<[Earlier]>([])

    init(federation: Federation, contexts: TLSContexts, tokens: [TokenGrant] = []) {
        state = Mutex((federation, contexts, tokens))
    }

    var federation: Federation { state.withLock { $0.federation } }
    var contexts: TLSContexts { state.withLock { $0.contexts } }
    var tokens: [TokenGrant] { state.withLock { $0.tokens } }
    /// The other members' ids (the peer port accepts these).
    func peers(except me: String) -> Set<String> { Set(federation.members.map(\.id)).subtracting([me]) }

    func replace(federation: Federation, contexts: TLSContexts, tokens: [TokenGrant]) {
        let old = state.withLock { s in
            defer { s = (federation, contexts, tokens) }
            return s.contexts
        }
        earlier.withLock { list in
            list.removeAll(where: \.gone)
            list.append(Earlier(client: old.client, peer: old.peer, api: old.api, trustRoots: old.trustRoots))
        }
    }

    /// Retires every set of contexts in force before (`replace`) whose CA file is not
    /// `trustRoots`: the connections any of them verified are closed, however many reloads ago
    /// they were made. Whether there was one.
    @discardableResult
    func retireEarlierContexts(notTrusting trustRoots: [UInt8], reason: String) -> Bool {
        let retired = earlier.withLock { list -> [Earlier] in
            list.removeAll(where: \.gone)
            let other = list.filter { $0.trustRoots != trustRoots }
            list.removeAll { $0.trustRoots != trustRoots }
            return other
        }
        for set in retired {
            for context in [set.client, set.peer, set.api] { context?.retire(reason: reason) }
        }
        return !retired.isEmpty
    }

    /// Drops the tokens `kept` does not list as they are (digest, name and role); returns those
    /// dropped. Fails closed: a token whose role changed is refused, not left at the old role.
    func dropTokens(keeping kept: [TokenGrant]) -> [TokenGrant] {
        state.withLock { s in
            let gone = { (grant: TokenGrant) in !kept.contains(grant) }
            let dropped = s.tokens.filter(gone)
            s.tokens.removeAll(where: gone)
            return dropped
        }
    }
}

/// What `Node.reload` did.
public struct ReloadReport: Sendable, CustomStringConvertible {
    public var federationVersion: UInt64
    public var previousVersion: UInt64
    public var added: [String] = []
    public var removed: [String] = []
    public var moved: [String] = []
    public var certificateNotAfter: Date
    /// Token grants the configuration added and removed (by name and role).
    public var tokensAdded: [String] = []
    public var tokensRemoved: [String] = []
    /// Serials of certificates revoked before the reload and not by the revocation lists now.
    public var revocationsTakenBack: [String] = []
    /// Settings the configuration file changed that only a restart takes (`restartOnly`).
    public var needsRestart: [String] = []

    public var description: String {
        var parts = ["federation version \(federationVersion)" + (previousVersion == federationVersion ? " (unchanged)" : " (was \(previousVersion))")]
        if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
        if !moved.isEmpty { parts.append("new addresses for \(moved.joined(separator: ", "))") }
        if !tokensAdded.isEmpty { parts.append("tokens added \(tokensAdded.joined(separator: ", "))") }
        if !tokensRemoved.isEmpty { parts.append("tokens removed \(tokensRemoved.joined(separator: ", ")) (their browser sign-ins ended)") }
        if !revocationsTakenBack.isEmpty {
            parts.append("REVOCATIONS TAKEN BACK: certificates with serials \(revocationsTakenBack.joined(separator: ", ")) are no longer revoked here (tls.crl taken out, or an older or shorter list)")
        }
        if !needsRestart.isEmpty { parts.append("NOT TAKEN until a restart: \(needsRestart.joined(separator: ", "))") }
        parts.append("certificate valid until \(ISO8601DateFormatter().string(from: certificateNotAfter))")
        return parts.joined(separator: "; ")
    }
}

extension Federation {
    /// Owner `id`'s entry as this file states it (nil: not listed).
    func ownerEntry(_ id: String) -> OwnerHistory.Entry? {
        owners[id].map { OwnerHistory.Entry(key: $0, labels: labels.patterns[id] ?? [], history: ownerHistory[id] ?? OwnerHistory()) }
    }

    /// Why this file cannot follow `accepted` as far as the data owners go (nil when it can):
    /// each owner accepted keeps its entry, or changes it by statements it signed, or is
    /// retired (`OwnerHistory.succession`). A quorum of members signs the file, not the owners.
    public func ownersConflict(after accepted: Federation) -> String? {
        for id in accepted.owners.keys.sorted() {
            if let conflict = OwnerHistory.succession(owner: id, accepted: accepted.ownerEntry(id)!, new: ownerEntry(id)) { return conflict }
        }
        return nil
    }

    /// Why `new` cannot replace `self` in a running node `me` (nil when it can): members keep
    /// their logs and log keys (a key changes by rotation, in the log), this node stays a member
    /// with its log, and the aggregator and data owners stay (the view and the agreements are
    /// folded with them; changing them needs a restart).
    func reloadConflict(with new: Federation, me: String) -> String? {
        guard let mine = member(me), let theirs = new.member(me) else { return "the new file does not list this node (\(me))" }
        if mine.log != theirs.log { return "the new file says this node writes log \(theirs.log), not \(mine.log)" }
        for old in members {
            guard let now = new.member(old.id) else { continue }
            if now.log != old.log || now.verifier != old.verifier { return "member \(old.id)'s log or log key differs; that needs a restart (or a key rotation)" }
            if now.role != old.role { return "member \(old.id)'s role differs; that needs a restart" }
        }
        if new.members.first(where: { $0.role == .aggregator })?.log != members.first(where: { $0.role == .aggregator })?.log {
            return "the aggregator differs; that needs a restart"
        }
        if new.owners != owners || new.labels != labels || new.ownerHistory != ownerHistory { return "the data owners or their labels differ; that needs a restart" }
        for added in new.members where member(added.id) == nil {
            if let holder = members.first(where: { $0.log == added.log }) { return "new member \(added.id) writes log \(added.log), which was \(holder.id)'s" }
        }
        return nil
    }
}
