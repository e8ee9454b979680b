import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetStore

/// `quartet key rotate`: a new signing key for a node's own log, inside the log
/// (docs/operations.md, "Rotating a log's key").
struct KeyRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Move a node's own log to a new signing key, recorded in the log.",
        discussion: """
            Stop the node first (the command takes the data directory's writer lock). It makes a \
            new Ed25519 key (keys/<log>.next.pem, 0600), appends a key.rotation entry stating it, \
            signed by the key in force and by the new key, with a checkpoint signed by the new key \
            (and, unless --no-overlap, by the old one too: for 7 days checkpoints carry both, so \
            clients that know only the old key still verify them), then makes the new key the \
            log's key file (the old one is kept as keys/<log>.previous.pem for the overlap). The log \
            keeps its origin; peers and `quartet verify` follow the rotation from the key the \
            federation file pins. Back the new key up at once. After a compromise use \
            --no-overlap, then `quartet key revoke`.
            """)

    @Option(help: "The node's configuration file.") var config: String
    @Flag(help: "Do not sign with the old key any more (it is compromised); removes keys/<log>.previous.pem.") var noOverlap = false
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration.load(path: config) } catch { throw CLIError("\(error)") }
        let directory = DataDirectory(path: configuration.dataDirectory)
        if let refusal = CopyMarkers.offlineWriteRefusal(directory.url.path) { throw CLIError(refusal) }
        // As the directory's owner: a key written by root would be one the node cannot read.
        var owner = stat()
        if stat(directory.url.path, &owner) == 0, owner.st_uid != geteuid() {
            throw CLIError("quartet key rotate runs as the data directory's owner, user \(owner.st_uid) (sudo -u <that user> quartet key rotate …); this is user \(geteuid())")
        }
        do { try directory.checkOwnership() } catch {
            throw CLIError("quartet key rotate: \(error.message)")
        }
        let store: LedgerStore
        do { store = try LedgerStore.open(directory, mode: .writer) } catch {
            guard error.code == .locked else { throw error }
            throw CLIError("the node is running (it holds \(directory.lockPath)); stop it, rotate, then start it again")
        }
        defer { try? store.close() }
        sayMigration(store)
        let log = try store.log(named: configuration.log)
        let chain = try store.keyChain(log)
        let keys = try directory.signingKeys(log: log.name, chain: chain)
        // A key left by a rotation that never reached the log is not used: a fresh one is made.
        unlink(directory.nextKeyPath(log: log.name))
        unlink(directory.noOverlapPath(log: log.name))
        let key = try Ed25519PrivateKey()
        try directory.writeSigningKey(key, log: log.name, path: directory.nextKeyPath(log: log.name))
        // Kept before the entry goes in: a rotation interrupted after it is finished as asked.
        if noOverlap { try directory.writeNoOverlapMarker(log: log.name) }
        let appended: (rotation: KeyRotation, checkpoint: StoredCheckpoint) = try store.appendRotation(log, previous: keys.current, key: key, overlap: !noOverlap)
        let rotation: KeyRotation = appended.rotation, checkpoint: StoredCheckpoint = appended.checkpoint
        try directory.finishRotation(log: log.name, keepPrevious: !noOverlap)
        let previous: String = NoteVerifier(name: log.origin, publicKey: rotation.previous).vkey
        let after: UInt64 = rotation.index + 1
        // On a working copy, not the file the node runs: the edit raises its version, so the
        // .sig beside the file in force would no longer match it, and any start or reload before a
        // quorum had signed again would be refused (the copy goes in place, with its .sig, once signed).
        let copy = "federation.next.json"
        let revoke: String = "quartet key revoke --file \(copy) --member \(configuration.node) --vkey \(previous) --after \(after) --current \(rotation.verifier.vkey)"
        // Where the federation file revokes a key of this log, naming the new key must keep the
        // one named until now (`key current --revoke-previous-after`); and a file naming another
        // current key than the one this rotation moved from (a rotation before it not named yet)
        // needs each key between named or revoked in turn, which the command says.
        let member = (try? FederationTrust.read(configuration.federationFile, signatures: false))?.federation.member(configuration.node)
        let named = member?.current ?? member?.verifier
        var name: String = "quartet key current --file \(copy) --member \(configuration.node) --vkey \(rotation.verifier.vkey)"
        // (Only where `key current` takes it: the file names another current key to keep.)
        if let member, !member.revoked.isEmpty, let current = member.current, current.publicKey != rotation.key {
            name += " --revoke-previous-after \(after)"
        }
        let unnamedBetween: String? = named.flatMap { named in
            named.publicKey == rotation.previous ? nil
                : "the federation file names \(named.vkey) as the log's current key, not \(previous), the key this rotation moved from: name each key in turn (a federation update per rotation, each with `key current`), or a member following the log may stop at the rotation to a key the file never named"
        }
        let steps = "on a copy of the federation file (cp \(configuration.federationFile) \(copy)); a quorum signs the copy (quartet federation sign --file \(copy) --member ID --data DIR --accepted DIR/federation.accepted.json, each member on its own host, the first signer with --fresh); then put it and its .sig in place on every member's host and reload them (docs/operations.md, \"Changing the federation\")"
        switch output.format {
        case .json:
            var report: [String: Any] = ["log": log.name, "index": Int(rotation.index), "vkey": rotation.verifier.vkey]
            report["previous"] = previous
            report["overlap"] = !noOverlap
            report["checkpoint"] = checkpoint.note
            report["revoke"] = revoke
            report["name_current"] = name
            report["steps"] = steps
            if let unnamedBetween { report["warning"] = unnamedBetween }
            printJSON(report)
        case .text:
            print("log \(log.name) rotated to a new key at index \(rotation.index)")
            print("new key:      \(rotation.verifier.vkey)  (in \(directory.keyPath(log: log.name)); back it up now)")
            let note: String = noOverlap ? "" : " (co-signs checkpoints for 7 days)"
            print("previous key: \(previous)\(note)")
            print("so that \(configuration.node) signs federation files with the new key, name it in a federation update:\n  \(name)")
            print("if the previous key is compromised, revoke it instead (this also names the new key):\n  \(revoke)")
            print(steps)
            if let unnamedBetween { print("warning: \(unnamedBetween)") }
        }
    }
}

/// `quartet key revoke`: marks a log key as compromised in the federation file, beyond a size.
struct KeyRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a member's log key beyond a log size, in the federation file (raises its version).",
        discussion: """
            Adds {"vkey", "after"} to the member's "revoked" list and raises the file's version by \
            one. The change takes effect once a quorum of members has signed the file (`quartet \
            federation sign`) and the nodes reload it: peers then refuse checkpoints larger than \
            --after signed by that key, and rotations it signs at or beyond --after. Rotate the \
            key first (`quartet key rotate --no-overlap`) and give the rotation's index + 1, and \
            --current with the new key, so the member signs federation files again. A revoked \
            key's rotations count only to a key the file names for the log (its pinned key, \
            current_vkey or a revoked key), so a thief holding it cannot fork the log under a key \
            of its own below --after: to revoke a key older than the one the log just rotated \
            from, revoke each key between as well (each at its own rotation's index + 1), or \
            peers stop the log's chain at the first key the file does not name and say so \
            (a rotation-fork alert).
            """)

    @Option(help: "The federation file to change.") var file: String
    @Option(help: "The member whose log key is revoked.") var member: String
    @Option(help: "The revoked key (name+keyid+key).") var vkey: String
    @Option(help: "The largest log size whose checkpoints that key may still sign.") var after: UInt64
    @Option(help: "The key the log signs with now (as `quartet key rotate` printed it), named as the member's current_vkey.") var current: String?

    func run() async throws {
        // What a federation file can hold (`ConfigObject.positiveInteger`); beyond it the value
        // could not even be written as a JSON integer.
        guard (1...(UInt64(1) << 53)).contains(after) else { throw CLIError("--after must be a whole number from 1 to 2^53, got \(after)") }
        let revokedKey = try FederationFileEdit.verifier(vkey, option: "--vkey")
        let currentKey = try current.map { try FederationFileEdit.verifier($0, option: "--current") }
        if let currentKey, currentKey.publicKey == revokedKey.publicKey { throw CLIError("--current is the key being revoked") }
        let version: Int
        do {
            version = try FederationFileEdit.change(file, member: member, keysOf: revokedKey) { node in
            var revoked: [[String: Any]] = (node["revoked"] as? [[String: Any]]) ?? []
            // The key named current until now, neither the one revoked nor the new one: once this
            // revocation is in, a rotation by the revoked key may be the one that moved to it
            // (routine K1→K2, then K1 stolen: `revoke K1 --current K3` would leave K2 named
            // nowhere), and every member would stop the log's chain there (`key current`).
            if let currentKey, let previous = (node["current_vkey"] as? String).flatMap({ try? NoteVerifier(vkey: $0) }),
               previous.publicKey != currentKey.publicKey, previous.publicKey != revokedKey.publicKey {
                throw CLIError("\(member)'s current key \(previous.vkey) is neither the key revoked nor --current: "
                               + "revoke it too (its own `key revoke`, at the index + 1 of the rotation away from it), or name the new key with `quartet key current --revoke-previous-after`")
            }
            revoked.removeAll { (item: [String: Any]) -> Bool in (item["vkey"] as? String) == vkey }
            revoked.append(["vkey": vkey, "after": Int(after)])
            node["revoked"] = revoked
            if let currentKey { node["current_vkey"] = currentKey.vkey }
            }
        } catch {
            // (A plain catch: a pattern with a `where` clause here slows the compiler badly.)
            guard currentKey == nil, "\(error)".contains("current_vkey") else { throw error }
            throw CLIError("\(error) (revoking the member's current key: name the key its log moved to with --current)")
        }
        let named = currentKey.map { " and names \($0.vkey) as its current key" } ?? ""
        print("\(file): version \(version) revokes \(vkey) beyond size \(after)\(named); now have a quorum of members sign it (quartet federation sign) and reload the nodes")
    }
}

/// `quartet key current`: names the key a member's log signs with after a rotation.
struct KeyCurrent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "current", abstract: "Name the key a member's log signs with now, in the federation file (raises its version).",
        discussion: """
            Sets the member's "current_vkey" (the key `quartet key rotate` printed, or `quartet key \
            vkey` prints) and raises the file's version by one. Once a quorum of the members \
            trusted before has signed the file and the nodes reload it, the member signs \
            federation files with that key, and `quartet policy` names it as the log's key. Peers \
            follow the log's rotation entries whatever the file says — except a rotation signed \
            by a key the file revokes, which counts only to a key the file names (its pinned \
            key, current_vkey or a revoked key). So where the file revokes a key of the log, \
            the key named current until now (which such a rotation may have moved to) must stay \
            named: give --revoke-previous-after with the index + 1 of the rotation away from it \
            (the index `quartet key rotate` printed), and it is revoked beyond that size, as a \
            key the log moved away from; without it the change is refused, since every member \
            would otherwise stop following the log's keys at that rotation.
            """)

    @Option(help: "The federation file to change.") var file: String
    @Option(help: "The member whose log rotated.") var member: String
    @Option(help: "The key its log signs with now (name+keyid+key).") var vkey: String
    @Option(help: "Revoke the key named current until now beyond this size (the rotation away from it: its index + 1); required where the file revokes a key of the log.")
    var revokePreviousAfter: UInt64?

    func run() async throws {
        let key = try FederationFileEdit.verifier(vkey, option: "--vkey")
        if let after = revokePreviousAfter, !(1...(UInt64(1) << 53)).contains(after) {
            throw CLIError("--revoke-previous-after must be a whole number from 1 to 2^53, got \(after)")
        }
        var revokedPrevious: String?
        let version = try FederationFileEdit.change(file, member: member, keysOf: key) { node in
            let revoked = (node["revoked"] as? [[String: Any]]) ?? []
            let previous = (node["current_vkey"] as? String).flatMap { try? NoteVerifier(vkey: $0) }
            if let previous, previous.publicKey != key.publicKey, revokePreviousAfter != nil || !revoked.isEmpty {
                // A rotation by a revoked key counts only to a key the file names, and the key
                // named current may be one (compromise → rotate → revoke --current K2, then a
                // routine rotation to K3): dropped from the file, every member would stop the
                // log's chain at the rotation to it and disown every later head.
                guard let after = revokePreviousAfter else {
                    throw CLIError("the file revokes a key of \(member)'s log, and its current key \(previous.vkey) may be one a rotation by that key moved to: "
                                   + "named nowhere, every member would stop following the log's keys at that rotation. Give --revoke-previous-after with the "
                                   + "index + 1 of the log's rotation away from it (the index `quartet key rotate` printed): it is revoked beyond that size and stays named")
                }
                var list = revoked
                list.removeAll { ($0["vkey"] as? String).flatMap { try? NoteVerifier(vkey: $0) }?.publicKey == previous.publicKey }
                list.append(["vkey": previous.vkey, "after": Int(after)])
                node["revoked"] = list
                revokedPrevious = previous.vkey
            } else if revokePreviousAfter != nil {
                throw CLIError("--revoke-previous-after: the file names no other current key of \(member)'s log to revoke")
            }
            node["current_vkey"] = key.vkey
        }
        let revokedNote = revokedPrevious.map { " and revokes \($0), its current key until now, beyond size \(revokePreviousAfter ?? 0)" } ?? ""
        print("\(file): version \(version) names \(vkey) as \(member)'s current key\(revokedNote); now have a quorum of members sign it (quartet federation sign) and reload the nodes")
    }
}

/// Edits of a member's entry in a federation file, by the key commands.
enum FederationFileEdit {
    static func verifier(_ vkey: String, option: String) throws -> NoteVerifier {
        do { return try NoteVerifier(vkey: vkey) } catch { throw CLIError("\(option): \(error)") }
    }

    /// Changes member `member`'s entry of `file` with `body` and raises the version by one;
    /// `key` must sign as that member's log. Returns the new version.
    static func change(_ file: String, member: String, keysOf key: NoteVerifier, _ body: (inout [String: Any]) throws -> Void) throws -> Int {
        // Read, changed and written back under the lock `federation sign` takes on the file's
        // folder: two edits at once both wrote version N+1 from one read, and one was lost.
        let folder = (file as NSString).deletingLastPathComponent
        let lock: DirectoryLock
        do { lock = try DirectoryLock(folder.isEmpty ? "." : folder, busy: "another quartet command is changing or signing \(file); try again when it is done") } catch { throw CLIError("\(error)") }
        defer { lock.release() }
        let text: Data
        do { text = Data(try RegularFile.read(file, limit: FederationTrust.maxFileBytes)) } catch { throw CLIError("\(file): \(error)") }
        // The file as a node reads it first (a key given twice, say, is refused): the change is
        // made to the file its members reviewed, not to what JSONSerialization keeps of it.
        do { _ = try Federation.parse(text, file: file) } catch { throw CLIError("not changed: \(error)") }
        let parsed: Any = try JSONSerialization.jsonObject(with: text)
        guard var root: [String: Any] = parsed as? [String: Any], var nodes: [[String: Any]] = root["nodes"] as? [[String: Any]],
              let version: Int = root["version"] as? Int else {
            throw CLIError("\(file): not a federation file (an object with version and nodes)")
        }
        guard let position: Int = nodes.firstIndex(where: { (node: [String: Any]) -> Bool in (node["id"] as? String) == member }) else {
            throw CLIError("\(file) lists no member \(member)")
        }
        let pinned: String = (nodes[position]["vkey"] as? String) ?? ""
        guard let pinnedKey: NoteVerifier = try? NoteVerifier(vkey: pinned), pinnedKey.name == key.name else {
            throw CLIError("the key signs as \(key.name), not as member \(member)'s log")
        }
        guard (1..<(1 << 53)).contains(version) else { throw CLIError("\(file): version \(version) is not a whole number from 1 to 2^53 - 1") }
        try body(&nodes[position])
        root["nodes"] = nodes
        root["version"] = version + 1
        var data: Data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        // The changed file must be one a node loads (a revoked, pinned or other member's key
        // as current_vkey is refused), or nothing is written.
        do { _ = try Federation.parse(data, file: file) } catch { throw CLIError("not changed: \(error)") }
        // Written as `federation sign` writes: a temporary name of its own, and the file keeps its
        // mode, owner and group (the nodes' service user must still read it).
        do { try FederationTrust.writeAtomically(Array(data), to: file, keepingOwnership: true) } catch { throw CLIError("\(error)") }
        return version + 1
    }
}
