import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Logging
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetStore
import QuartetTLS
import ServiceLifecycle

/// Reloading (SIGHUP): the federation file, the TLS files and the token grants read again,
/// and whether this node's witness cosigns.
extension Node {
    /// Reads the federation file and the TLS certificate and key again (SIGHUP). A newer
    /// federation file that a quorum signed replaces the one in force: members added are
    /// dialled, members removed are cut off at once (their connections closed, their
    /// certificates refused at the peer port and the API from then on). A renewed certificate
    /// is presented from the next handshake on. Nothing changes when anything is refused (but
    /// tokens removed or changed in the configuration, below): the error says why, and the node
    /// goes on as it was.
    ///
    /// All or nothing: every check comes first (signatures, `reloadConflict`, the logs held
    /// here by `ReplicationEngine.admissibility`, the TLS files, the configuration's tokens);
    /// then the logs of members added are registered, then the file is kept as accepted, and
    /// only then is it put in force (`live` and the replicator switched together, removed
    /// members' connections closed), which cannot fail.
    ///
    /// One thing is not all or nothing: a token taken out of the configuration file, or given
    /// another name or role there, is refused even when the rest is refused (a stolen token must not outlive a reload refused for a
    /// reason of its own, a half-renewed certificate or a file short of signatures).
    public func reload() throws -> ReloadReport {
        // The token grants, from the configuration file as it is now (a token removed is
        // refused from the next request on, browser sign-ins with it too). A configuration
        // that does not load as a whole (a TLS file missing or not yet readable,
        // a typo elsewhere) still has its token list read alone: a token taken out in the same
        // edit is refused all the same (finding 281).
        let tokens: [TokenGrant]
        let tlsFiles: NodeConfiguration
        do { (tokens, tlsFiles) = try reloadedSettings() } catch {
            let (listed, how) = NodeConfiguration.tokenGrantsStillListed(path: configuration.file, log: configuration.log, inForce: live.tokens)
            try refuseDroppedTokens(keeping: listed, error: NodeStartupError("\(error); a revocation list (tls.crl) it names is not put in force: the node keeps the one it had (\(live.contexts.revocations == nil ? "none" : "a list"))"),
                                    how: how)
        }
        let revocationList = tlsFiles.revocationList
        do { return try reload(tokens: tokens, tlsFiles: tlsFiles) } catch {
            // A revocation list that only adds revocations is put in force all the same (a
            // stolen certificate must not outlive a federation file short of signatures); one
            // that takes revocations back, or comes with another CA, certificate or key, is not:
            // said, so an operator revoking a stolen key does not take it for done.
            let added = applyRevocationsAlone(tlsFiles)
            let listNow = revocationList.flatMap { try? ConfigObject.readPEM($0, what: "revocation list") }
            let error: any Error = added
                ? NodeStartupError("\(error); the revocation list (tls.crl) in the configuration IS in force (it only adds revocations): every connection verified before it is closed")
                : listNow != live.contexts.revocations
                ? NodeStartupError("\(error); the revocation list (tls.crl) in the configuration is NOT in force: the node keeps the one it had (\(live.contexts.revocations == nil ? "none" : "another")); a list is put in force by a refused reload only when it revokes at least all the one in force does and the CA, certificate and key are unchanged")
                : error
            try refuseDroppedTokens(keeping: tokens, error: error, how: nil)
        }
    }

    /// A reload refused for another reason: puts the configuration's revocation list in force
    /// alone when it revokes every certificate revoked now and more, and the CA, the
    /// certificate and the key are the ones in force (finding 285); the connections verified
    /// before are closed, as at an accepted reload. Returns whether it did.
    private func applyRevocationsAlone(_ tlsFiles: NodeConfiguration) -> Bool {
        var tls = configuration
        tls.caCertificate = tlsFiles.caCertificate
        tls.certificate = tlsFiles.certificate
        tls.privateKey = tlsFiles.privateKey
        tls.revocationList = tlsFiles.revocationList
        let now = live.contexts
        guard let contexts = try? TLSContexts(tls), contexts.files == now.files, contexts.revocations != now.revocations,
              contexts.revokedCertificates.isStrictSuperset(of: now.revokedCertificates) else { return false }
        live.replace(federation: live.federation, contexts: contexts, tokens: live.tokens)
        _ = live.retireEarlierContexts(notTrusting: contexts.trustRoots,
                                       reason: "the node's revocation list (tls.crl) changed at a reload (the rest of it refused): connections verified before are closed")
        // Recorded as an accepted reload records them: not over a record that cannot be read
        // (it keeps the revocations of CAs rolled out of tls.ca before).
        if let readable = TLSContexts.revocationsRecorded(dataDirectory: configuration.dataDirectory) {
            do { try contexts.recordRevocations(dataDirectory: configuration.dataDirectory, earlier: readable.union(now.revokedCertificates)) } catch { logger.warning("\(error)") }
        }
        logger.notice("the revocation list changed at a reload refused for another reason; it only adds revocations, so it is in force: connections verified before are closed")
        return true
    }

    /// A reload refused (`error`): the tokens in force but not among `kept` are refused all the
    /// same, with their browser sign-ins; throws `error`, saying which were dropped.
    private func refuseDroppedTokens(keeping kept: [TokenGrant], error: any Error, how: String?) throws -> Never {
        let dropped = live.dropTokens(keeping: kept)
        guard !dropped.isEmpty else { throw error }
        sessions.retain(digests: Set(live.tokens.map(\.sha256)))
        _ = closeUntrustedAPIConnections(())
        let names = dropped.map { "\($0.name) (\($0.identity.fileLabel))" }.joined(separator: ", ")
        logger.notice("tokens removed from the configuration are refused, though the reload was not", metadata: ["tokens": "\(names)"])
        throw NodeStartupError("\(error); the tokens removed from the configuration file are refused all the same\(how.map { " (\($0))" } ?? ""): \(names)")
    }

    private func reload(tokens: [TokenGrant], tlsFiles: NodeConfiguration) throws -> ReloadReport {
        let (file, admission) = try FederationTrust.evaluate(path: configuration.federationFile, dataDirectory: configuration.dataDirectory)
        let current = live.federation
        let new = admission.federation
        if let conflict = current.reloadConflict(with: new, me: configuration.node) {
            throw NodeStartupError("\(configuration.federationFile): not reloaded: \(conflict)")
        }
        if let problem = ReplicationEngine.admissibility(of: new, held: try store.logs().map(HeldLog.init), ownLog: configuration.log,
                                                         directory: configuration.dataDirectory) {
            throw NodeStartupError("\(configuration.federationFile): not reloaded: \(problem)")
        }
        // The TLS files as the configuration names them now: a renewal installed over the same
        // paths, or in a new directory the configuration was pointed at (docs/operations.md,
        // "Reloading"), and a revocation list added, replaced or taken out.
        var tls = configuration
        tls.caCertificate = tlsFiles.caCertificate
        tls.certificate = tlsFiles.certificate
        tls.privateKey = tlsFiles.privateKey
        tls.revocationList = tlsFiles.revocationList
        let contexts = try TLSContexts(tls)
        // A changed certificate or CA is checked as `config check` would; one unchanged is
        // in force already (expired, it is the reload that may bring what fixes it).
        if contexts.files != live.contexts.files, let problem = TLSContexts.renewalProblem(tls) {
            throw NodeStartupError("not reloaded: \(problem)")
        }
        let logs = try engine.register(new)
        try FederationTrust.keep(file, dataDirectory: configuration.dataDirectory)
        let oldTokens = live.tokens
        let contextsBefore = live.contexts
        engine.apply(new, statement: file.note?.serialized, logs: logs) { live.replace(federation: new, contexts: contexts, tokens: tokens) }
        // UK figures count the members listed now: a member removed no longer counts.
        view.countOnly(Set(new.members.map(\.log)))
        // A CA replaced (after a compromise, say): the certificates the old one vouched for are
        // not the node's to trust, on connections open now either (peers reconnect at once
        // with certificates of the new CA; readers and operators with theirs) — those made
        // under any earlier set of contexts with another CA, not only the set just replaced.
        // A revocation list changed likewise: every connection verified before it is closed,
        // and those whose certificate it revokes cannot come back.
        if live.retireEarlierContexts(notTrusting: contexts.trustRoots,
                                      reason: "the node's CA (tls.ca) or revocation list (tls.crl) changed at a reload: connections verified before are closed") {
            logger.notice("the CA or the revocation list changed: connections verified before are closed")
        }
        // A file that now lists this node's witness key turns witnessing on (one listing
        // another key turns it off), saying so.
        let witnessWas = witness.disabled.withLockedValue { $0 }
        let witnessNow = Self.witnessDisabled(witness, listed: new.member(configuration.node)?.witness, configuration: configuration)
        witness.disabled.withLockedValue { $0 = witnessNow?.shown }
        if witnessWas != witnessNow?.shown {
            if let witnessNow { logger.warning("this node does not witness the other members' logs", metadata: ["reason": "\(witnessNow.detail)"]) } else {
                logger.notice("this node witnesses the other members' logs again: the federation file lists its witness key")
            }
        }
        var report = ReloadReport(federationVersion: new.version, previousVersion: current.version, certificateNotAfter: contexts.notAfter)
        report.added = new.members.map(\.id).filter { current.member($0) == nil }
        report.removed = current.members.map(\.id).filter { new.member($0) == nil }
        report.moved = new.members.filter { m in current.member(m.id).map { $0.peer != m.peer || $0.api != m.api } ?? false }.map(\.id)
        // A token is its digest: a new name or role for the same token is not a removal.
        func described(_ grant: TokenGrant) -> String { "\(grant.name) (\(grant.identity.fileLabel))" }
        let newDigests = Set(tokens.map(\.sha256)), oldDigests = Set(oldTokens.map(\.sha256))
        report.tokensAdded = tokens.filter { !oldDigests.contains($0.sha256) }.map(described)
        report.tokensRemoved = oldTokens.filter { !newDigests.contains($0.sha256) }.map(described)
        sessions.retain(digests: newDigests)
        // Connections keeping slots for a member removed or a token dropped are closed now, not
        // when they age out (finding 284).
        if let closed = closeUntrustedAPIConnections(()), closed > 0 {
            logger.notice("API connections of members or tokens this reload removed are closed", metadata: ["connections": "\(closed)"])
        }
        // Against the record too: it keeps the revocations of CAs rolled out of tls.ca before.
        let readable = TLSContexts.revocationsRecorded(dataDirectory: configuration.dataDirectory)
        let recorded = (readable ?? []).union(contextsBefore.revokedCertificates)
        report.revocationsTakenBack = contexts.revocationsTakenBack(since: recorded)
        report.needsRestart = Self.restartOnly(running: configuration, file: tlsFiles)
        do { if readable != nil { try contexts.recordRevocations(dataDirectory: configuration.dataDirectory, earlier: recorded) } } catch {
            logger.warning("\(error)")
        }
        if !report.revocationsTakenBack.isEmpty {
            logger.warning("certificates revoked before this reload are no longer revoked: tls.crl was taken out, or replaced by an older or shorter list",
                           metadata: ["serials": "\(report.revocationsTakenBack.joined(separator: ","))"])
        }
        logger.notice("reloaded", metadata: ["federation.version": "\(new.version)", "added": "\(report.added.joined(separator: ","))",
                                             "removed": "\(report.removed.joined(separator: ","))", "certificate.not_after": "\(contexts.notAfter)"])
        return report
    }

    /// Why this node's witness does not cosign (nil: it does). A witness that lost what it
    /// cosigned (a restored or recovered data directory) must not cosign again under its key;
    /// one whose key is not the one the federation file lists (`listed`) is trusted by no one.
    /// The node runs either way, without witnessing, and says what to do. Decided at start and
    /// again at each reload (a federation file that now lists the node's new key turns it on).
    /// `shown` is what the witness answers (503) anyone who asks — members keep it and show it
    /// to their readers — so it names no file of this host; `detail`, for this node's log, does
    /// (finding 287).
    static func witnessDisabled(_ witness: WitnessService, listed: CosignatureVerifier?, configuration: NodeConfiguration) -> (shown: String, detail: String)? {
        let keyPath = WitnessStore.keyPath(DataDirectory(path: configuration.dataDirectory))
        let add = "to \(configuration.federationFile) as node \(configuration.node)'s \"witness\" and have the members sign it (docs/witness.md)"
        if witness.stateLost {
            return ("its witness state is missing beside its key, or belongs to another key (a restored or recovered data directory, a key copied back): a witness must not forget what it cosigned; its operator's log says what to do",
                    "its witness state is missing beside its key, or belongs to another key (a restored or recovered data directory, a key copied back); a witness must not forget what it cosigned: delete \(keyPath), then add the new key `quartet key witness-vkey` makes \(add)")
        }
        if let listed, listed != witness.signer.verifier {
            return ("the federation file lists \(listed.vkey) as this node's witness key, but it holds \(witness.signer.verifier.vkey); its operator's log says what to do",
                    "\(configuration.federationFile) lists \(listed.vkey) as this node's witness key, but \(keyPath) holds another: add \(witness.signer.verifier.vkey) \(add)")
        }
        return nil
    }

    /// What the configuration file now says differently from the running node, of what only a
    /// start reads (the federation file's and the data directory's paths, the listen addresses,
    /// the log's level and format, the peers' read budget): said in the reload's report, not ignored in silence (finding 291).
    static func restartOnly(running: NodeConfiguration, file: NodeConfiguration) -> [String] {
        [("federation", running.federationFile, file.federationFile), ("data", running.dataDirectory, file.dataDirectory),
         ("peer.listen", "\(running.peerListen)", "\(file.peerListen)"), ("api.listen", "\(running.apiListen)", "\(file.apiListen)"),
         ("log_level", "\(running.logLevel)", "\(file.logLevel)"), ("log_format", "\(running.logFormat)", "\(file.logFormat)"),
         ("peer.read_budget_mib_per_second", "\(running.peerReadBudget.bytesPerSecond >> 20)", "\(file.peerReadBudget.bytesPerSecond >> 20)")]
            .filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) → \($0.2)" }
    }

    /// What a reload takes from the configuration file as it is now: the token grants and the
    /// TLS files (`tls.ca`, `tls.certificate`, `tls.key`, `tls.crl`: the configuration as read
    /// now, of which only those are used); the rest needs a restart. Refused (the reload changes
    /// nothing) when the file no longer parses or names another node or log.
    func reloadedSettings() throws -> (tokens: [TokenGrant], tlsFiles: NodeConfiguration) {
        let now: NodeConfiguration
        do { now = try NodeConfiguration.load(path: configuration.file) } catch {
            throw NodeStartupError("\(configuration.file): not reloaded: \(error)")
        }
        guard now.node == configuration.node, now.log == configuration.log else {
            throw NodeStartupError("\(configuration.file): not reloaded: it now names node \(now.node) and log \(now.log), not \(configuration.node) and \(configuration.log); that needs a restart")
        }
        return (now.tokens, now)
    }
}
