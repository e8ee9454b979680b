import Foundation
import QuartetCrypto
import QuartetLedger

/// Who may change the federation: a quorum of its members, never one operator alone.
///
/// The federation file (`federation.json`) carries a `version`; beside it, `federation.json.sig`
/// is a C2SP signed note whose text states the file's federation name, version and SHA-256:
///
///     quartet federation file
///     uk-ot-workforce
///     version 3
///     sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
///
///     — quartet.ot-workforce.uk/wales Az3f…
///     — quartet.ot-workforce.uk/england 4n8Q…
///
/// and each signature line is a member's, made with its log's signing key (the key the file
/// names for that member — its `current_vkey` once its log has rotated, else the pinned
/// `vkey` — so the file names who may sign the next one). A node accepts a
/// file when more than half of the members it already trusts have signed it: the members of the
/// version it accepted last (kept in its data directory), or — on a node's first start, when it
/// has accepted none — the members of the file itself. A newer version replaces the accepted
/// one; an older version is refused, and so is a different file under the same version (two
/// files with one version would let a quorum show different nodes different federations).
/// The first line is no valid log origin, so a statement can never pass as a checkpoint, though
/// both are signed by the same keys. docs/security.md says why members' keys and not the CA's.
public enum FederationTrust {
    /// The note's first line: what the signatures are about.
    static let header = "quartet federation file"

    /// What a signature note states.
    public struct Statement: Sendable, Equatable {
        public var federation: String
        public var version: UInt64
        public var sha256: [UInt8]

        public init(federation: String, version: UInt64, sha256: [UInt8]) {
            self.federation = federation
            self.version = version
            self.sha256 = sha256
        }

        /// The statement of a federation file's bytes.
        public init(file bytes: [UInt8], federation: Federation) {
            self.init(federation: federation.name, version: federation.version, sha256: SHA256.hash(bytes))
        }

        /// The note text.
        public var text: String {
            "\(FederationTrust.header)\n\(federation)\nversion \(version)\nsha256 \(Hex.encode(sha256))\n"
        }

        /// Parses a note's text; nil when it is not a statement of this form.
        public init?(text: String) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count == 5, lines[4].isEmpty, lines[0] == FederationTrust.header, !lines[1].isEmpty,
                  lines[2].hasPrefix("version "), let version = UInt64(lines[2].dropFirst(8)), String(version) == lines[2].dropFirst(8),
                  lines[3].hasPrefix("sha256 "), let digest = Hex.decode(String(lines[3].dropFirst(7))), digest.count == 32 else { return nil }
            self.init(federation: String(lines[1]), version: version, sha256: digest)
        }
    }

    /// Why a federation file is not accepted.
    public struct Refusal: Error, CustomStringConvertible, Sendable, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Why a file cannot follow the version `accepted`, whatever its signatures.
    public enum Succession: Sendable, Equatable {
        case otherFederation, older, sameVersionOtherBytes
    }

    /// Whether `federation` (as `bytes`) may follow `accepted`: same federation, a version no
    /// older, and a new version for any change (nil: it may). The one rule for nodes (`check`)
    /// and for `federation sign`'s warning.
    public static func succession(_ bytes: [UInt8], _ federation: Federation, after accepted: (federation: Federation, bytes: [UInt8])) -> Succession? {
        if federation.name != accepted.federation.name { return .otherFederation }
        if federation.version < accepted.federation.version { return .older }
        if federation.version == accepted.federation.version && bytes != accepted.bytes { return .sameVersionOtherBytes }
        return nil
    }

    /// The signature file of a federation file.
    public static func signaturePath(of file: String) -> String { file + ".sig" }

    /// How many signatures a change needs when `members` are trusted: more than half.
    public static func quorum(of members: Int) -> Int { members / 2 + 1 }

    /// The members (ids) whose valid signatures `note` carries over `statement`, among
    /// `trusted`'s members, each by the key `trusted` names for it (`signingVerifier`). Lines
    /// by other keys, and bad signatures, count for nothing. A member whose key is revoked
    /// (`quartet key revoke`, in `trusted` or in `revocations`, the file being checked) counts
    /// for nothing either: whoever holds a compromised key must not help make a quorum. Such
    /// a member signs again once a file naming its new key (`current_vkey`) is accepted — a
    /// file the others' quorum signed, since its new key counts only from then.
    public static func signers(of note: SignedNote, among trusted: Federation, revocations: Federation? = nil) -> [String] {
        trusted.members.filter { member in
            let key = member.signingVerifier.publicKey
            guard member.revoked[key] == nil, revocations?.member(member.id)?.revoked[key] == nil else { return false }
            return (try? member.signingVerifier.verify(note)) != nil
        }.map(\.id)
    }

    /// Checks that `note` is a quorum's signature over `bytes` (the file, parsed as
    /// `federation`), given the version accepted before (`accepted`, with its bytes), if any.
    /// Returns the members who signed.
    public static func check(file bytes: [UInt8], federation: Federation, note: SignedNote?,
                             accepted: (federation: Federation, bytes: [UInt8])?) throws(Refusal) -> [String] {
        guard let note else {
            throw Refusal("the federation file is not signed: members sign it with `quartet federation sign`, and a quorum of them must")
        }
        guard let stated = Statement(text: note.text) else {
            throw Refusal("the signature file is not a statement about a federation file (its text must be `\(header)`, the federation, `version N` and `sha256 HEX`)")
        }
        let actual = Statement(file: bytes, federation: federation)
        guard stated.federation == actual.federation, stated.version == actual.version else {
            throw Refusal("the signatures are for \(stated.federation) version \(stated.version), but the file is \(actual.federation) version \(actual.version)")
        }
        guard stated.sha256 == actual.sha256 else {
            throw Refusal("the signatures are for another file (sha256 \(Hex.encode(stated.sha256)); this file's is \(Hex.encode(actual.sha256))): it changed after it was signed")
        }
        if let accepted {
            switch succession(bytes, federation, after: accepted) {
            case .otherFederation?:
                throw Refusal("the file is for federation \(federation.name), but this node belongs to \(accepted.federation.name)")
            case .older?:
                throw Refusal("the file is version \(federation.version), older than version \(accepted.federation.version) this node has accepted")
            case .sameVersionOtherBytes?:
                throw Refusal("the file differs from the version \(federation.version) this node has accepted, under the same version number; a change needs a new version")
            case nil:
                break
            }
            if let conflict = federation.ownersConflict(after: accepted.federation) { throw Refusal(conflict) }
        }
        let trusted = accepted?.federation ?? federation
        let signers = signers(of: note, among: trusted, revocations: federation)
        let needed = quorum(of: trusted.members.count)
        guard signers.count >= needed else {
            let whose = accepted == nil ? "its own \(trusted.members.count) members" : "the \(trusted.members.count) members of version \(trusted.version)"
            throw Refusal("signed by \(signers.isEmpty ? "none" : signers.joined(separator: ", ")) of \(whose); \(needed) must sign")
        }
        return signers
    }

    /// `note` (or a new note over `statement` if nil) with `signer`'s signature added; an
    /// earlier signature by the same key is replaced. Refuses to mix statements.
    public static func sign(_ statement: Statement, adding signer: NoteSigner, to note: SignedNote?) throws -> SignedNote {
        if let note, note.text != statement.text {
            let other = Statement(text: note.text).map { "\($0.federation) version \($0.version), sha256 \(Hex.encode($0.sha256))" } ?? "something else"
            throw Refusal("the signature file holds signatures over \(other), not this file; start it again (--fresh) so every member signs the file as it is now")
        }
        let mine = try signer.sign(text: statement.text).signatures[0]
        let others = (note?.signatures ?? []).filter { !($0.keyName == mine.keyName && $0.keyID == mine.keyID) }
        return SignedNote(text: statement.text, signatures: others + [mine])
    }
}
