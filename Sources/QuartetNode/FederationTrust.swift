import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetReplication
import QuartetStore

// (Over ~350 lines: the quorum-signed federation file's rules (reading it, checking its
// signatures, the accepted copy) are the trust root, read in one place.)

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

// MARK: Files

extension FederationTrust {
    /// The largest federation file read (a federation of hundreds of members is a few hundred KiB).
    public static let maxFileBytes = 4 << 20

    /// Where a node keeps the federation file it accepted last (and its signatures).
    public static func acceptedPath(dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("federation.accepted.json").path
    }

    /// A federation file and its signatures as read from disk.
    public struct SignedFile: Sendable {
        public let path: String
        public let bytes: [UInt8]
        public let federation: Federation
        public let note: SignedNote?
    }

    /// Reads and parses `path` and `path.sig` (absent: nil note); bounded sizes.
    /// `accepted`: a version a node accepted before (`Federation.parse(_:file:accepted:)`).
    public static func read(_ path: String, signatures: Bool = true, accepted: Bool = false) throws -> SignedFile {
        try read(path, signatures: signatures) { _ in accepted }
    }

    /// `read`, deciding from the bytes read whether they are a version accepted before (the
    /// file is read once: the bytes compared are the bytes parsed).
    static func read(_ path: String, signatures: Bool = true, accepted: ([UInt8]) -> Bool) throws -> SignedFile {
        let bytes = try readBounded(path, limit: maxFileBytes, what: "federation file")
        let federation = try Federation.parse(Data(bytes), file: path, accepted: accepted(bytes))
        return SignedFile(path: path, bytes: bytes, federation: federation, note: signatures ? try readNote(of: path) : nil)
    }

    /// The signatures of the federation file at `path` (`path.sig`), or nil when there are none.
    static func readNote(of path: String) throws -> SignedNote? {
        let sigPath = signaturePath(of: path)
        guard FileManager.default.fileExists(atPath: sigPath) else { return nil }
        let sig = try readBounded(sigPath, limit: SignedNote.maxLength, what: "federation signature file")
        do { return try SignedNote(parsing: String(decoding: sig, as: UTF8.self)) } catch {
            throw Refusal("\(sigPath): not a signed note: \(error)")
        }
    }

    /// What `admit` decided.
    public struct Admission: Sendable {
        public let federation: Federation
        public let signers: [String]
        /// The version accepted before, if any (nil on a first start).
        public let previous: UInt64?
    }

    /// Checks the federation file at `path` against what the node in `dataDirectory` accepted
    /// before and, if it is newer (or the first), keeps it as the accepted one. Throws `Refusal`
    /// (or a configuration error) saying why a file is not accepted; nothing is changed then.
    /// The signatures alone: a node does not use this, since a file must also be admissible
    /// with the logs it holds before it is kept (`Node` calls `evaluate`, then
    /// `ReplicationEngine.admissibility`, and `keep` last).
    public static func admit(path: String, dataDirectory: String) throws -> Admission {
        let (file, admission) = try evaluate(path: path, dataDirectory: dataDirectory)
        try keep(file, dataDirectory: dataDirectory)
        return admission
    }

    /// `admit`'s check alone: what would be accepted, and the file to `keep` once it is.
    static func evaluate(path: String, dataDirectory: String) throws -> (SignedFile, Admission) {
        let acceptedFile = acceptedPath(dataDirectory: dataDirectory)
        var accepted: (federation: Federation, bytes: [UInt8])?
        if FileManager.default.fileExists(atPath: acceptedFile) {
            let bytes = try readBounded(acceptedFile, limit: maxFileBytes, what: "accepted federation file")
            accepted = (try Federation.parse(Data(bytes), file: acceptedFile, accepted: true), bytes)
        }
        // The version accepted before, given again, is read as it was accepted; any other must
        // follow the rules for new versions.
        let file = try read(path) { bytes in bytes == accepted?.bytes }
        let signers: [String]
        do { signers = try check(file: file.bytes, federation: file.federation, note: file.note, accepted: accepted) } catch {
            throw Refusal("\(path): \(error.description)")
        }
        if let reused = try reusedID(file.federation, seen: membersSeen(dataDirectory: dataDirectory)) { throw Refusal("\(path): \(reused)") }
        return (file, Admission(federation: file.federation, signers: signers, previous: accepted?.federation.version))
    }

    /// The member ids this node has accepted in any federation file, each with the log key it
    /// was listed with then (`federation.members-seen.json`, kept by `keep`).
    static func membersSeenPath(dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("federation.members-seen.json").path
    }

    /// What `membersSeenPath` holds (empty when there is no such file: a node from before it).
    static func membersSeen(dataDirectory: String) throws -> [String: String] {
        let path = membersSeenPath(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let bytes = try readBounded(path, limit: maxFileBytes, what: "record of the members accepted before")
        guard let seen = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) else {
            throw Refusal("\(path): not the record of the members accepted before (a JSON object of member ids and log keys); move it aside only if the data directory is known to be this node's own")
        }
        return seen
    }

    /// Why `federation` may not be accepted (nil: it may): it lists a member under an id this
    /// node accepted before with another log key. Agreements name recipients by member id: a
    /// member removed and another party added back under its id (two versions a quorum signs,
    /// with no owner involved) would take every row the agreements naming that id cover
    /// (finding 243). The same party (the same pinned key) may come back.
    static func reusedID(_ federation: Federation, seen: [String: String]) -> String? {
        for member in federation.members {
            guard let before = seen[member.id], before != member.verifier.vkey else { continue }
            return "member \(member.id) is listed with log key \(member.verifier.vkey), but this node accepted a member under that id before with \(PeerText.clean(before, limit: 200)): "
                + "agreements name recipients by member id, so another party under it would take what they give the one before; give the new member another id"
        }
        return nil
    }

    /// Keeps `file` (checked by `evaluate`) as the accepted federation file. Called only once
    /// every other check of the file has passed: a file kept is one the node cannot go back from.
    static func keep(_ file: SignedFile, dataDirectory: String) throws {
        // The members it lists join the record of those accepted (first: a crash after it and
        // before the file is kept refuses nothing the file lists).
        var seen = try membersSeen(dataDirectory: dataDirectory)
        let before = seen
        for member in file.federation.members where seen[member.id] == nil { seen[member.id] = member.verifier.vkey }
        if seen != before {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writeAtomically(Array(try encoder.encode(seen)), to: membersSeenPath(dataDirectory: dataDirectory))
        }
        let acceptedFile = acceptedPath(dataDirectory: dataDirectory)
        let current = try? readBounded(acceptedFile, limit: maxFileBytes, what: "accepted federation file")
        // The file first, then its signatures: a crash between leaves the new file beside the
        // old signatures, which the next start (the file unchanged) writes again.
        if current != file.bytes { try writeAtomically(file.bytes, to: acceptedFile) }
        if let note = file.note {
            let signatures = Array(note.serialized.utf8)
            let kept = try? readBounded(signaturePath(of: acceptedFile), limit: SignedNote.maxLength, what: "accepted federation signature file")
            if kept != signatures { try writeAtomically(signatures, to: signaturePath(of: acceptedFile)) }
        }
    }

    /// Adds member `id`'s signature (made with `key`, its log's signing key) to the signature
    /// file of the federation file at `path`, creating it (or starting it again with `fresh`).
    /// The key must be one the file names for that member: its pinned key (unless revoked) or
    /// its `current_vkey` (which one counts is decided by the file each node trusts). Returns
    /// the note written.
    @discardableResult
    public static func sign(file path: String, member id: String, key: Ed25519PrivateKey, fresh: Bool = false) throws -> SignedNote {
        try sign(try read(path, signatures: false), member: id, key: key, fresh: fresh)
    }

    /// Adds member `id`'s signature over `file`'s bytes, as read once and reviewed (`quartet
    /// federation sign` prints them before it signs), to the signature file beside `file.path`:
    /// the federation file is not read again, so a file changed after it was read is never
    /// signed unseen (the statement's SHA-256 is of the bytes reviewed, and a node refuses the
    /// signatures for any other bytes). The signature file is read now (unless `fresh`), so
    /// signatures other members added meanwhile are kept; one over other bytes is refused.
    @discardableResult
    public static func sign(_ file: SignedFile, member id: String, key: Ed25519PrivateKey, fresh: Bool = false) throws -> SignedNote {
        let path = file.path
        guard let member = file.federation.member(id) else {
            throw Refusal("\(path) lists no member \(id) (it lists \(file.federation.members.map(\.id).joined(separator: ", ")))")
        }
        let named = [member.verifier, member.current].compactMap { $0 }.filter { member.revoked[$0.publicKey] == nil }
        guard named.contains(where: { $0.publicKey.rawRepresentation == key.publicKey.rawRepresentation }) else {
            let keys = named.isEmpty ? "none: its pinned key is revoked and it names no current_vkey" : named.map(\.vkey).joined(separator: " or ")
            throw Refusal("this key is not one \(path) names for \(id) (\(keys)); sign with the key of log \(member.log)")
        }
        let signer = try NoteSigner(name: member.verifier.name, key: key)
        let note = try sign(Statement(file: file.bytes, federation: file.federation), adding: signer, to: fresh ? nil : try readNote(of: path))
        try writeAtomically(Array(note.serialized.utf8), to: signaturePath(of: path), mode: 0o644)
        return note
    }

    static func readBounded(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        // A FIFO or device would block the open or never end: only regular files are read.
        do { return try RegularFile.read(path, limit: limit) } catch {
            switch error {
            case .notRegular: throw Refusal("the \(what) \(path) is not a regular file")
            case .tooLarge: throw Refusal("the \(what) \(path) is larger than \(limit) bytes")
            case .cannotOpen(let reason), .cannotRead(let reason): throw Refusal("cannot read the \(what) \(path): \(reason)")
            }
        }
    }

    /// Writes `bytes` to a temporary file, syncs it and renames it over `path`, with `mode`
    /// exactly (the process's umask does not narrow it). `keepingOwnership`: the mode, owner and
    /// group of the file replaced, where it exists (a federation file readable by the node's
    /// service user stays so when root edits it).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, keepingOwnership: Bool = false) throws {
        let temporary = path + ".new"
        var mode = mode
        var owner: (uid_t, gid_t)?
        var existing = stat()
        if keepingOwnership, stat(path, &existing) == 0 {
            mode = existing.st_mode & 0o777
            owner = (existing.st_uid, existing.st_gid)
        }
        // A fresh file of our own: a `.new` left there (or planted, as a symlink to a file
        // elsewhere, in a directory others can write) is removed, not written through.
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw Refusal("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        // Only root may give a file away; anyone else keeps the file as theirs.
        if let (uid, gid) = owner { _ = fchown(fd, uid, gid) }
        guard fchmod(fd, mode) == 0 else {
            close(fd)
            unlink(temporary)
            throw Refusal("cannot set the mode of \(temporary): \(String(cString: strerror(errno)))")
        }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Refusal("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        // The new name too, or a power cut could bring back the file it replaced (the accepted
        // federation file is the floor a node never goes below).
        let folder = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
        if folder >= 0 { fsync(folder); close(folder) }
    }
}

extension FederationTrust {
    /// Why `federation` could not be taken by a node whose data directory is `dataDirectory`
    /// and whose own log is `ownLog`, given the logs held there (`ReplicationEngine.admissibility`,
    /// the check `serve` and a reload make before keeping a file), or nil. Opens the directory
    /// for reading only (no writer lock: a running node's may be checked).
    public static func admissibility(of federation: Federation, dataDirectory: String, ownLog: String) throws -> String? {
        let store = try LedgerStore.open(DataDirectory(path: dataDirectory), mode: .reader)
        defer { try? store.close() }
        return admissibility(of: federation, held: try store.logs(), ownLog: ownLog, dataDirectory: dataDirectory)
    }

    /// The same, given the logs the directory holds (read by a caller that has the store open).
    public static func admissibility(of federation: Federation, held: [LogInfo], ownLog: String, dataDirectory: String) -> String? {
        ReplicationEngine.admissibility(of: federation, held: held.map(HeldLog.init), ownLog: ownLog, directory: dataDirectory)
    }
}

// MARK: Reviewing before signing

extension FederationTrust {
    /// Checks that `bytes` are the file a member reviewed, pinned by the SHA-256 `show` printed
    /// (`hex`, 64 hex digits, either case). Throws saying both digests otherwise.
    public static func checkPinned(_ bytes: [UInt8], sha256 hex: String) throws(Refusal) {
        guard hex.utf8.count == 64, let pinned = Hex.decode(hex.lowercased()), pinned.count == 32 else {
            throw Refusal("--sha256 expects the 64 hex digits `quartet federation show` prints, found \"\(hex.prefix(80))\"")
        }
        let actual = SHA256.hash(bytes)
        guard actual == pinned else {
            throw Refusal("the file's sha256 is \(Hex.encode(actual)), not \(Hex.encode(pinned)) as given with --sha256: it is not the file that was reviewed (it changed since); nothing was signed")
        }
    }

    /// What the signatures of a baseline (the version in use a change is reviewed against, given
    /// as `--accepted`) show: nil when it has none (the caller warns that it is unsigned);
    /// otherwise the members of its own who signed, when they are a quorum of them, as a node
    /// that accepted nothing before checks a file. Throws when the signatures are not over these
    /// bytes or are no quorum: a baseline handed over with a change could be made up to hide
    /// what the change does. (A node's `federation.accepted.json` was accepted on the signatures
    /// of the version before, which is not kept: a version that changed most of the members can
    /// fail this check though a node accepted it.)
    ///
    /// Signatures about other bytes are refused (a baseline altered to hide what a change does);
    /// signatures about these bytes by fewer than a quorum of its own members are returned with
    /// `quorum` false (the caller says so): honest after a change of most members.
    public static func checkBaseline(file bytes: [UInt8], federation: Federation, note: SignedNote?) throws(Refusal) -> (signers: [String], quorum: Bool)? {
        guard let note else { return nil }
        do {
            return (try check(file: bytes, federation: federation, note: note, accepted: nil), true)
        } catch {
            // About these bytes (the statement matches them), yet no quorum: said, not refused.
            guard let stated = Statement(text: note.text), stated == Statement(file: bytes, federation: federation) else { throw error }
            return (signers(of: note, among: federation, revocations: federation), false)
        }
    }

    /// Why the node `node`, whose data directory is `dataDirectory`, would refuse `federation`
    /// at a reload for what it changes from the version in force there (the accepted file,
    /// `Federation.reloadConflict`: a member's log, log key or role, the aggregator, the data
    /// owners), or nil; nil too when the node has accepted no file yet (a first start makes
    /// no such check).
    public static func reloadConflict(of federation: Federation, dataDirectory: String, node: String) throws -> String? {
        let acceptedFile = acceptedPath(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: acceptedFile) else { return nil }
        let bytes = try readBounded(acceptedFile, limit: maxFileBytes, what: "accepted federation file")
        return try Federation.parse(Data(bytes), file: acceptedFile, accepted: true).reloadConflict(with: federation, me: node)
    }
}
