import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetReplication
import QuartetStore

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
        // The signatures read, added to and written back under a lock on their folder: two
        // members signing at once each wrote what it read, and one signature was lost.
        let folder = (path as NSString).deletingLastPathComponent
        let lock = try DirectoryLock(folder.isEmpty ? "." : folder, busy: "another federation sign is writing \(signaturePath(of: path)); try again when it is done")
        defer { lock.release() }
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
            case .cannotOpen(let reason), .cannotRead(let reason), .refused(let reason): throw Refusal("cannot read the \(what) \(path): \(reason)")
            }
        }
    }

    /// Writes `bytes` to a temporary file, syncs it and renames it over `path`, with `mode`
    /// exactly (the process's umask does not narrow it). `keepingOwnership`: the mode, owner and
    /// group of the file replaced, where it exists (a federation file readable by the node's
    /// service user stays so when root edits it).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, keepingOwnership: Bool = false) throws {
        var mode = mode
        var owner: (uid: uid_t, gid: gid_t)?
        var existing = stat()
        if keepingOwnership, stat(path, &existing) == 0 {
            mode = existing.st_mode & 0o777
            owner = (existing.st_uid, existing.st_gid)
        }
        // `writeDurably`'s copy: a name of its own (two runs at once never rename each other's
        // half-written file into place; one a kill left in a data directory is removed when the
        // store opens), never through a link planted at the name, synced, renamed over `path`,
        // the folder synced (the accepted federation file is the floor a node never goes below).
        do { try RegularFile.writeDurably(bytes, to: path, mode: mode, replacing: true, owner: owner) } catch { throw Refusal(error.description) }
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
