import QuartetLedger
import QuartetReplication

/// What a peer's statement of the federation file it runs (`Message.federation`: its
/// `federation.json.sig`) says of the file in force here. A node restored with its host (data
/// directory, configuration and federation file together, from before a change) runs an older
/// file, with members removed since still dialled and served and revocations forgotten: its
/// peers' statements tell it, and a quorum's signatures make that more than one peer's word.
enum PeerFederation: Equatable, Sendable {
    /// The file in force here.
    case same
    /// An older version (the peer learns from this node's statement).
    case older(version: UInt64)
    /// A newer version signed by a quorum of the members of the file in force here: the
    /// federation moved on without this node.
    case newer(version: UInt64, signers: [String])
    /// A newer version whose signatures do not make a quorum of the members in force here
    /// (more than one version ahead with the members changed, or not genuine).
    case newerUnverified(version: UInt64)
    /// Another file under the version in force here, signed by a quorum of its members: two
    /// files of one version, which no honest quorum signs.
    case conflicting(signers: [String])
    /// Another file under the version in force here, without a quorum's signatures.
    case conflictingUnverified
    /// Not a statement of this federation's file.
    case refused(String)

    /// Judges the statement `text` against the file in force (`inForce`, whose own statement
    /// is `ours`). Its signatures are checked only when it claims another file (a member's
    /// signature each, counted as `FederationTrust.check` counts them, but for revocations the
    /// newer file itself makes: that file is not here to read).
    static func judge(_ text: String, ours: FederationTrust.Statement, inForce: Federation) -> PeerFederation {
        guard let note = try? SignedNote(parsing: text) else { return .refused("its statement of the federation file is not a signed note") }
        guard let stated = FederationTrust.Statement(text: note.text) else {
            return .refused("its statement is not one of a federation file (`\(FederationTrust.header)`, the federation, `version N`, `sha256 HEX`)")
        }
        guard stated.federation == ours.federation else {
            return .refused("its statement is of federation \(PeerText.clean(stated.federation, limit: 64)), not \(ours.federation)")
        }
        if stated.version < ours.version { return .older(version: stated.version) }
        if stated.version == ours.version && stated.sha256 == ours.sha256 { return .same }
        let signers = FederationTrust.signers(of: note, among: inForce)
        let quorum = signers.count >= FederationTrust.quorum(of: inForce.members.count)
        if stated.version == ours.version { return quorum ? .conflicting(signers: signers) : .conflictingUnverified }
        return quorum ? .newer(version: stated.version, signers: signers) : .newerUnverified(version: stated.version)
    }

    /// `text` with only the signature lines of `federation`'s members' signing keys (by name
    /// and key id; not verified), or nil if it is not a signed note: the same statement with
    /// other lines added is the same statement, not one to check again.
    static func membersLines(_ text: String, federation: Federation) -> String? {
        guard let note = try? SignedNote(parsing: text) else { return nil }
        let keys = federation.members.map(\.signingVerifier)
        let kept = note.signatures.filter { line in keys.contains { $0.name == line.keyName && $0.keyID == line.keyID } }
        return SignedNote(text: note.text, signatures: kept).serialized
    }

    /// A newer file a quorum of the members in force signed: counted towards readiness
    /// (`ReplicationEngine.federationProblems`: only when most of the other members say so).
    var isNewer: Bool { if case .newer = self { return true }; return false }

    /// The version of a newer file stated, verified or not (nil: not a newer file).
    var newerVersion: UInt64? {
        switch self {
        case .newer(let version, _), .newerUnverified(let version): return version
        default: return nil
        }
    }

    /// The alert to raise (nil: none): a newer or conflicting file, verified or not, or a
    /// statement that is not one.
    func alert(peer: String, ours: UInt64) -> ReplicationAlert? {
        let unverified = "its signatures do not make a quorum of the members of version \(ours) in force here (more than one version ahead, or not genuine): compare `quartet_federation_version` with the other members'"
        switch self {
        case .same, .older:
            return nil
        case .newer(let version, let signers):
            return ReplicationAlert(kind: .federationFile, log: nil, peer: peer,
                                    message: "\(peer) runs version \(version) of the federation file, signed by \(signers.joined(separator: ", ")); this node runs version \(ours): put the current federation file and its .sig in place and reload (SIGHUP)")
        case .conflicting(let signers):
            return ReplicationAlert(kind: .federationFile, log: nil, peer: peer,
                                    message: "\(peer) runs another federation file under version \(ours), signed by \(signers.joined(separator: ", ")): two files of one version")
        case .newerUnverified(let version):
            return ReplicationAlert(kind: .federationFile, log: nil, peer: peer,
                                    message: "\(peer) runs version \(version) of the federation file, this node version \(ours); \(unverified)")
        case .conflictingUnverified:
            return ReplicationAlert(kind: .federationFile, log: nil, peer: peer,
                                    message: "\(peer) runs another federation file under version \(ours); \(unverified)")
        case .refused(let reason):
            return ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer, message: "\(peer): \(reason)")
        }
    }
}
