import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import QuartetTestKit
import QuartetPolicy
import QuartetReplication
import Testing

/// The signed, versioned federation file: who must sign a change, and what a node refuses.
@Suite struct FederationTrustTests {
    /// Five members, each with its log key; files are written as JSON text.
    struct Members {
        let ids = ["uk", "wales", "england", "scotland", "northern-ireland"]
        let keys: [String: Ed25519PrivateKey]
        let outsider: Ed25519PrivateKey

        init() throws {
            var keys: [String: Ed25519PrivateKey] = [:]
            for id in ids { keys[id] = try Ed25519PrivateKey() }
            self.keys = keys
            outsider = try Ed25519PrivateKey()
        }

        func vkey(_ id: String, key: Ed25519PrivateKey? = nil) -> String {
            NoteVerifier(name: "quartet.test/\(id)", publicKey: (key ?? keys[id]!).publicKey).vkey
        }

        /// The bytes of a federation file of `members` at `version`.
        func file(version: UInt64, members: [String]? = nil, replacing: [String: Ed25519PrivateKey] = [:], owners: [String]? = nil) -> [UInt8] {
            let nodes = (members ?? ids).enumerated().map { i, id in
                #"{"id": "\#(id)", "role": "\#(id == "uk" ? "aggregator" : "nation")", "peer": "127.0.0.1:\#(7400 + i)", "api": "https://127.0.0.1:\#(8400 + i)", "vkey": "\#(vkey(id, key: replacing[id]))"}"#
            }
            let ownerList = owners.map { #", "owners": [\#($0.joined(separator: ", "))]"# } ?? ""
            return Array(#"{"federation": "quartet-test", "version": \#(version), "nodes": [\#(nodes.joined(separator: ", "))]\#(ownerList)}"#.utf8)
        }

        func parse(_ bytes: [UInt8]) throws -> Federation { try Federation.parse(Data(bytes), file: "federation.json") }

        /// `bytes` signed by `signers` (member ids; their keys unless `keys` says otherwise).
        func sign(_ bytes: [UInt8], by signers: [String], keys override: [String: Ed25519PrivateKey] = [:]) throws -> SignedNote {
            let statement = FederationTrust.Statement(file: bytes, federation: try parse(bytes))
            var note: SignedNote?
            for id in signers {
                note = try FederationTrust.sign(statement, adding: try NoteSigner(name: "quartet.test/\(id)", key: override[id] ?? keys[id]!), to: note)
            }
            return try #require(note)
        }

        func check(_ bytes: [UInt8], _ note: SignedNote?, accepted: [UInt8]? = nil) throws -> [String] {
            try FederationTrust.check(file: bytes, federation: try parse(bytes), note: note, accepted: try accepted.map { (try parse($0), $0) })
        }

        func refusal(_ bytes: [UInt8], _ note: SignedNote?, accepted: [UInt8]? = nil) -> String? {
            do { _ = try check(bytes, note, accepted: accepted); return nil } catch { return "\(error)" }
        }
    }

    /// A member id this node accepted before comes back only with the log key it had:
    /// agreements name recipients by id, and a quorum removing a member and adding another
    /// party under its id (two versions, no owner involved) would give that party every row
    /// the agreements naming the id cover (finding 243). The same party may come back.
    @Test func anIdAcceptedBeforeComesBackOnlyWithItsKey() throws {
        let m = try Members()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("federation.json").path
        func publish(_ bytes: [UInt8], by signers: [String]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try Data(try m.sign(bytes, by: signers).serialized.utf8).write(to: URL(fileURLWithPath: FederationTrust.signaturePath(of: path)))
        }
        try publish(m.file(version: 1), by: m.ids)
        _ = try FederationTrust.admit(path: path, dataDirectory: dir.path)
        try publish(m.file(version: 2, members: ["uk", "wales", "scotland", "northern-ireland"]), by: ["uk", "wales", "scotland"])
        _ = try FederationTrust.admit(path: path, dataDirectory: dir.path)
        try publish(m.file(version: 3, replacing: ["england": m.outsider]), by: ["uk", "wales", "scotland"])
        #expect { try FederationTrust.admit(path: path, dataDirectory: dir.path) } throws: {
            "\($0)".contains("member england is listed with log key \(m.vkey("england", key: m.outsider))") && "\($0)".contains("give the new member another id")
        }
        #expect(try FederationTrust.evaluate(path: FederationTrust.acceptedPath(dataDirectory: dir.path), dataDirectory: dir.path).1.federation.version == 2,
                "nothing was kept of the refused version")
        try publish(m.file(version: 3), by: ["uk", "wales", "scotland"])
        #expect(try FederationTrust.admit(path: path, dataDirectory: dir.path).federation.member("england") != nil, "the same party back")
    }

    @Test func aFirstFileNeedsMoreThanHalfOfItsOwnMembers() throws {
        let m = try Members()
        let file = m.file(version: 1)
        #expect(try m.check(file, try m.sign(file, by: ["uk", "wales", "england"])) == ["uk", "wales", "england"])
        #expect(m.refusal(file, try m.sign(file, by: ["uk", "wales"]))?.contains("signed by uk, wales of its own 5 members; 3 must sign") == true)
        #expect(m.refusal(file, nil)?.contains("not signed") == true)
        #expect(FederationTrust.quorum(of: 4) == 3 && FederationTrust.quorum(of: 5) == 3 && FederationTrust.quorum(of: 1) == 1)
    }

    @Test func signaturesByOtherKeysOrBrokenOnesCountForNothing() throws {
        let m = try Members()
        let file = m.file(version: 1)
        // Three lines, but one made by a key the file does not pin for england.
        let forged = try m.sign(file, by: ["uk", "wales", "england"], keys: ["england": m.outsider])
        #expect(m.refusal(file, forged)?.contains("signed by uk, wales of") == true)
        // A signature line with its bytes flipped.
        var broken = try m.sign(file, by: ["uk", "wales", "england"])
        broken.signatures[2].signature[0] ^= 1
        #expect(m.refusal(file, broken)?.contains("3 must sign") == true)
        // The same member twice is one signer.
        var doubled = try m.sign(file, by: ["uk", "wales"])
        doubled.signatures.append(doubled.signatures[1])
        #expect(m.refusal(file, doubled)?.contains("3 must sign") == true)
    }

    @Test func aFileChangedAfterSigningIsRefused() throws {
        let m = try Members()
        let file = m.file(version: 1)
        let note = try m.sign(file, by: m.ids)
        var changed = file
        changed.append(contentsOf: Array(" ".utf8))
        #expect(m.refusal(changed, note)?.contains("changed after it was signed") == true)
        // Signatures over another version of the same federation.
        #expect(m.refusal(m.file(version: 2), note)?.contains("signatures are for quartet-test version 1, but the file is quartet-test version 2") == true)
        // A note that is not a statement at all (a checkpoint-shaped text).
        let other = try NoteSigner(name: "quartet.test/uk", key: m.keys["uk"]!).sign(text: "quartet.test/uk\n3\nAAAA\n")
        #expect(m.refusal(file, other)?.contains("not a statement about a federation file") == true)
    }

    @Test func aChangeNeedsAQuorumOfTheMembersTrustedBefore() throws {
        let m = try Members()
        let v1 = m.file(version: 1)
        // Version 2 removes england and scotland and adds nobody: three of the five old members
        // must sign, not two of the three that remain.
        let v2 = m.file(version: 2, members: ["uk", "wales", "northern-ireland"])
        #expect(m.refusal(v2, try m.sign(v2, by: ["uk", "wales"]), accepted: v1)?.contains("of the 5 members of version 1; 3 must sign") == true)
        #expect(try m.check(v2, try m.sign(v2, by: ["uk", "wales", "northern-ireland"]), accepted: v1).count == 3)
        // A member whose key the new file replaces (a takeover) cannot sign with the new key.
        let second = try Ed25519PrivateKey()
        let takeover = m.file(version: 2, replacing: ["wales": m.outsider, "england": second])
        let note = try m.sign(takeover, by: ["uk", "wales", "england"], keys: ["wales": m.outsider, "england": second])
        #expect(m.refusal(takeover, note, accepted: v1)?.contains("signed by uk of the 5 members of version 1") == true)
    }

    /// A compromised key helps make no quorum: once the file (the accepted one, or the one
    /// being checked) revokes a member's pinned key, that member's signature counts for nothing.
    @Test func aMemberWhosePinnedKeyIsRevokedDoesNotCount() throws {
        let m = try Members()
        let v1 = m.file(version: 1)
        var text = String(decoding: m.file(version: 2), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"vkey\": \"\(m.vkey("wales"))\"",
                                         with: "\"vkey\": \"\(m.vkey("wales"))\", \"revoked\": [{\"vkey\": \"\(m.vkey("wales"))\", \"after\": 10}]")
        let v2 = Array(text.utf8)
        #expect(try m.parse(v2).member("wales")?.revoked.isEmpty == false)
        // The revoking file itself: wales's signature is not one of the three.
        #expect(m.refusal(v2, try m.sign(v2, by: ["uk", "wales", "england"]), accepted: v1)?.contains("signed by uk, england of the 5 members of version 1") == true)
        #expect(try m.check(v2, try m.sign(v2, by: ["uk", "england", "scotland"]), accepted: v1) == ["uk", "england", "scotland"])
        // Once accepted, the next version: still not.
        let v3 = Array(text.replacingOccurrences(of: "\"version\": 2", with: "\"version\": 3").utf8)
        #expect(m.refusal(v3, try m.sign(v3, by: ["uk", "wales", "england"]), accepted: v2)?.contains("signed by uk, england of the 5 members of version 2") == true)
    }

    /// A member whose log rotated signs again once a file naming its new key (`current_vkey`)
    /// is accepted; that file needs the others' quorum (the new key counts only from then on),
    /// and the old key counts for nothing once the new one is named.
    @Test func aRotatedMemberSignsWithTheKeyTheFileNamesAsCurrent() throws {
        let m = try Members()
        let newKey = try Ed25519PrivateKey()
        let v1 = m.file(version: 1)
        func named(_ version: Int, revoked: Bool) -> [UInt8] {
            var text = String(decoding: m.file(version: UInt64(version)), as: UTF8.self)
            let revocation = revoked ? ", \"revoked\": [{\"vkey\": \"\(m.vkey("wales"))\", \"after\": 10}]" : ""
            text = text.replacingOccurrences(of: "\"vkey\": \"\(m.vkey("wales"))\"",
                                             with: "\"vkey\": \"\(m.vkey("wales"))\", \"current_vkey\": \"\(m.vkey("wales", key: newKey))\"\(revocation)")
            return Array(text.utf8)
        }
        let v2 = named(2, revoked: true)
        let parsed = try m.parse(v2)
        #expect(parsed.member("wales")?.signingVerifier.publicKey == newKey.publicKey)
        #expect(parsed.member("wales")?.signingKeyRevoked == false)
        // The file naming the new key: wales's new signature does not count under version 1.
        #expect(m.refusal(v2, try m.sign(v2, by: ["uk", "wales", "england"], keys: ["wales": newKey]), accepted: v1)?
            .contains("signed by uk, england of the 5 members of version 1") == true)
        #expect(try m.check(v2, try m.sign(v2, by: ["uk", "england", "scotland"]), accepted: v1) == ["uk", "england", "scotland"])
        // Once it is accepted, wales signs with its new key, and no longer with the old one.
        let v3 = named(3, revoked: true)
        #expect(try m.check(v3, try m.sign(v3, by: ["uk", "wales", "england"], keys: ["wales": newKey]), accepted: v2) == ["uk", "wales", "england"])
        #expect(m.refusal(v3, try m.sign(v3, by: ["uk", "wales", "england"]), accepted: v2)?.contains("signed by uk, england of") == true)
        // A routine rotation (the old key not revoked): the current key is the one that counts.
        let r2 = named(2, revoked: false), r3 = named(3, revoked: false)
        #expect(try m.check(r2, try m.sign(r2, by: ["uk", "wales", "england"]), accepted: v1) == ["uk", "wales", "england"])
        #expect(try m.check(r3, try m.sign(r3, by: ["uk", "wales", "england"], keys: ["wales": newKey]), accepted: r2) == ["uk", "wales", "england"])
        #expect(m.refusal(r3, try m.sign(r3, by: ["uk", "wales", "england"]), accepted: r2)?.contains("signed by uk, england of") == true)
    }

    /// `current_vkey` must be a key of the member's log that is new, unrevoked and no one else's.
    @Test func aCurrentKeyThatIsNotNewAndTheMembersOwnIsRefused() throws {
        let m = try Members()
        let base = String(decoding: m.file(version: 1), as: UTF8.self)
        func refusal(_ extra: String) -> String? {
            let text = base.replacingOccurrences(of: "\"vkey\": \"\(m.vkey("wales"))\"", with: "\"vkey\": \"\(m.vkey("wales"))\", \(extra)")
            do { _ = try m.parse(Array(text.utf8)); return nil } catch { return "\(error)" }
        }
        let other = try Ed25519PrivateKey()
        #expect(refusal("\"current_vkey\": \"\(m.vkey("wales"))\"")?.contains("is the pinned key itself") == true)
        #expect(refusal("\"current_vkey\": \"\(m.vkey("england"))\"")?.contains("names quartet.test/england") == true)
        #expect(refusal("\"current_vkey\": \"\(NoteVerifier(name: "quartet.test/wales", publicKey: m.keys["england"]!.publicKey).vkey)\"")?
            .contains("every member's log has its own key") == true)
        #expect(refusal("\"current_vkey\": \"\(m.vkey("wales", key: other))\", \"revoked\": [{\"vkey\": \"\(m.vkey("wales", key: other))\", \"after\": 3}]")?
            .contains("a key the file revokes") == true)
        #expect(refusal("\"current_vkey\": \"not a key\"")?.contains("current_vkey") == true)
        #expect(refusal("\"current_vkey\": \"\(m.vkey("wales", key: other))\"") == nil)
    }

    /// A quorum of members signs the file, not the data owners: a node takes a change of an
    /// owner's key or labels only with the owner's own statement (`OwnerHistory.succession`).
    @Test func aQuorumCannotChangeAnOwnersKeyOrLabelsWithoutTheOwner() throws {
        let m = try Members()
        let heiw = try Ed25519PrivateKey(), next = try Ed25519PrivateKey(), theirs = try Ed25519PrivateKey()
        func vkey(_ key: Ed25519PrivateKey) -> String { NoteVerifier(name: "HEIW", publicKey: key.publicKey).vkey }
        func owner(_ key: Ed25519PrivateKey, labels: String = #""heiw.*""#, statements: [String] = [], retired: Bool = false) throws -> String {
            let list = String(decoding: try JSONSerialization.data(withJSONObject: statements), as: UTF8.self)
            return #"{"id": "HEIW", "vkey": "\#(vkey(key))", "labels": [\#(labels)], "statements": \#(list)\#(retired ? #", "retired": true"# : "")}"#
        }
        let accepted = m.file(version: 1, owners: [try owner(heiw)])
        let all = Array(m.ids.prefix(3))
        // The quorum pins a key of its own: refused whatever the signatures.
        let pinned = m.file(version: 2, owners: [try owner(theirs)])
        #expect(m.refusal(pinned, try m.sign(pinned, by: all), accepted: accepted)?.contains("without a statement signed by its key") == true)
        // It moves HEIW's labels to an owner of its own: HEIW's entry changed without HEIW.
        let hcpcKey = try Ed25519PrivateKey()
        let moved = m.file(version: 2, owners: [try owner(heiw, labels: #""other.*""#),
                                                #"{"id": "HCPC", "vkey": "\#(NoteVerifier(name: "HCPC", publicKey: hcpcKey.publicKey).vkey)", "labels": ["heiw.*"]}"#])
        #expect(m.refusal(moved, try m.sign(moved, by: all), accepted: accepted) != nil)
        // It leaves HEIW out: refused (an owner is retired, so its agreements end).
        let left = m.file(version: 2, owners: [])
        #expect(m.refusal(left, try m.sign(left, by: all), accepted: accepted)?.contains("retired") == true)
        // HEIW's own rotation: taken.
        let text = OwnerStatement(federation: "quartet-test", owner: "HEIW", sequence: 1, from: NoteVerifier(name: "HEIW", publicKey: heiw.publicKey),
                                  key: NoteVerifier(name: "HEIW", publicKey: next.publicKey), labels: ["heiw.*"]).text
        let rotation = try NoteSigner(name: "HEIW", key: heiw).sign(text: text).serialized
        let rotated = m.file(version: 2, owners: [try owner(next, statements: [rotation])])
        #expect(try m.check(rotated, try m.sign(rotated, by: all), accepted: accepted) == all)
        // A statement that does not lead to the entry is refused when the file is read.
        #expect(throws: (any Error).self) { try m.parse(m.file(version: 2, owners: [try owner(theirs, statements: [rotation])])) }
        // Retired: taken, and final.
        let retired = m.file(version: 2, owners: [try owner(heiw, retired: true)])
        #expect(try m.check(retired, try m.sign(retired, by: all), accepted: accepted) == all)
        let back = m.file(version: 3, owners: [try owner(heiw)])
        #expect(m.refusal(back, try m.sign(back, by: all), accepted: retired)?.contains("retired") == true)
        // A first start has nothing to compare with: the file's own chain is all there is.
        #expect(try m.check(pinned, try m.sign(pinned, by: all)) == all)
    }

    @Test func olderVersionsAndSameVersionDifferentFilesAreRefused() throws {
        let m = try Members()
        let v1 = m.file(version: 1), v2 = m.file(version: 2)
        #expect(m.refusal(v1, try m.sign(v1, by: m.ids), accepted: v2)?.contains("version 1, older than version 2 this node has accepted") == true)
        let v2b = m.file(version: 2, members: ["uk", "wales", "england", "scotland"])
        #expect(m.refusal(v2b, try m.sign(v2b, by: m.ids), accepted: v2)?.contains("under the same version number") == true)
        // The very file accepted before is accepted again (a restart).
        #expect(try m.check(v2, try m.sign(v2, by: ["uk", "wales", "england"]), accepted: v2).count == 3)
    }

    /// A peer's statement of the file it runs (`Message.federation`) set against the one in
    /// force: only a newer (or conflicting) file a quorum of the members in force signed takes
    /// the node out of readiness; one member's word, or a file signed by strangers, is an alert.
    @Test func aPeersStatementOfItsFileIsJudgedByTheMembersInForce() throws {
        let m = try Members()
        let v1 = m.file(version: 1), v2 = m.file(version: 2), v3 = m.file(version: 3, members: ["uk", "wales", "england"])
        let inForce = try m.parse(v2)
        let ours = FederationTrust.Statement(file: v2, federation: inForce)
        func judge(_ bytes: [UInt8], by signers: [String], keys: [String: Ed25519PrivateKey] = [:]) throws -> PeerFederation {
            PeerFederation.judge(try m.sign(bytes, by: signers, keys: keys).serialized, ours: ours, inForce: inForce)
        }
        #expect(try judge(v2, by: ["uk"]) == .same)
        #expect(try judge(v1, by: ["uk", "wales", "england"]) == .older(version: 1))
        #expect(try judge(v3, by: ["uk", "wales", "england"]) == .newer(version: 3, signers: ["uk", "wales", "england"]))
        // Two signatures of five, or three by keys that are not the members', are no quorum.
        #expect(try judge(v3, by: ["uk", "wales"]) == .newerUnverified(version: 3))
        let strangers = Dictionary(uniqueKeysWithValues: ["uk", "wales", "england"].map { ($0, try! Ed25519PrivateKey()) })
        #expect(try judge(v3, by: ["uk", "wales", "england"], keys: strangers) == .newerUnverified(version: 3))
        // Another file under version 2.
        let other = m.file(version: 2, members: ["uk", "wales", "england", "scotland"])
        #expect(try judge(other, by: ["uk", "wales", "england"]) == .conflicting(signers: ["uk", "wales", "england"]))
        #expect(try judge(other, by: ["scotland"]) == .conflictingUnverified)
        // Another federation, or something else.
        let foreign = FederationTrust.Statement(federation: "elsewhere", version: 9, sha256: ours.sha256)
        var note: SignedNote?
        for id in ["uk", "wales", "england"] { note = try FederationTrust.sign(foreign, adding: try NoteSigner(name: "quartet.test/\(id)", key: m.keys[id]!), to: note) }
        guard case .refused(let why) = PeerFederation.judge(try #require(note).serialized, ours: ours, inForce: inForce) else { Issue.record("another federation's file judged"); return }
        #expect(why.contains("elsewhere"))
        guard case .refused = PeerFederation.judge("not a note", ours: ours, inForce: inForce) else { Issue.record("a non-note judged"); return }
        // Only a file a quorum signed counts towards readiness; every verdict but `same` and
        // `older` alerts.
        #expect(try judge(v3, by: ["uk", "wales", "england"]).isNewer)
        #expect(try judge(v3, by: ["uk", "wales", "england"]).alert(peer: "wales", ours: 2)?.message.contains("version 3") == true)
        #expect(try !judge(v3, by: ["uk", "wales"]).isNewer && !judge(other, by: ["uk", "wales", "england"]).isNewer)
        #expect(try judge(v3, by: ["uk", "wales"]).alert(peer: "wales", ours: 2)?.kind == .federationFile)
        #expect(try judge(v1, by: ["uk", "wales", "england"]).alert(peer: "wales", ours: 2) == nil)
        // Lines of keys no member signs with make no new statement to check.
        let signed = try m.sign(v3, by: ["uk", "wales", "england"])
        let junk = try FederationTrust.sign(FederationTrust.Statement(text: signed.text)!, adding: try NoteSigner(name: "quartet.test/uk", key: m.outsider), to: nil)
        let padded = SignedNote(text: signed.text, signatures: signed.signatures + junk.signatures)
        #expect(PeerFederation.membersLines(padded.serialized, federation: inForce) == PeerFederation.membersLines(signed.serialized, federation: inForce))
        #expect(PeerFederation.membersLines(padded.serialized, federation: inForce) != padded.serialized)
        #expect(PeerFederation.membersLines("not a note", federation: inForce) == nil)
    }

    @Test func signingRefusesToMixStatementsAndReplacesItsOwnLine() throws {
        let m = try Members()
        let v1 = m.file(version: 1), v2 = m.file(version: 2)
        let note = try m.sign(v1, by: ["uk"])
        let statement = FederationTrust.Statement(file: v2, federation: try m.parse(v2))
        #expect(throws: FederationTrust.Refusal.self) {
            try FederationTrust.sign(statement, adding: try NoteSigner(name: "quartet.test/wales", key: m.keys["wales"]!), to: note)
        }
        let again = try m.sign(v1, by: ["uk", "wales", "uk"])
        #expect(again.signatures.map(\.keyName) == ["quartet.test/wales", "quartet.test/uk"])
        #expect(FederationTrust.Statement(text: again.text) == FederationTrust.Statement(file: v1, federation: try m.parse(v1)))
    }

    /// A folder holding a federation file's path and a node's data directory (made).
    static func nodeDirectory(_ name: String) throws -> (directory: URL, path: String, data: String) {
        let directory = try TestKit.temporaryDirectory(name)
        let data = directory.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent("federation.json").path, data)
    }

    @Test func aNodeKeepsTheAcceptedFileAndRefusesToGoBack() throws {
        let m = try Members()
        let (directory, path, data) = try Self.nodeDirectory("federation-trust")
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ bytes: [UInt8], signedBy signers: [String]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try? FileManager.default.removeItem(atPath: FederationTrust.signaturePath(of: path))
            for id in signers { try FederationTrust.sign(file: path, member: id, key: m.keys[id]!) }
        }
        // Unsigned: refused, and nothing is kept.
        try Data(m.file(version: 1)).write(to: URL(fileURLWithPath: path))
        #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.admit(path: path, dataDirectory: data) }
        #expect(!FileManager.default.fileExists(atPath: FederationTrust.acceptedPath(dataDirectory: data)))
        // Signing with a key the file does not name for the member is refused at once.
        #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.sign(file: path, member: "wales", key: m.outsider) }
        // A key the file names as the member's current one is taken.
        let rotated = String(decoding: m.file(version: 1), as: UTF8.self)
            .replacingOccurrences(of: "\"vkey\": \"\(m.vkey("wales"))\"", with: "\"vkey\": \"\(m.vkey("wales"))\", \"current_vkey\": \"\(m.vkey("wales", key: m.outsider))\"")
        try Data(rotated.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try FederationTrust.sign(file: path, member: "wales", key: m.outsider).signatures.count == 1)
        try? FileManager.default.removeItem(atPath: FederationTrust.signaturePath(of: path))
        try write(m.file(version: 2), signedBy: ["uk", "wales", "england"])
        #expect(try FederationTrust.admit(path: path, dataDirectory: data).previous == nil)
        #expect(try FederationTrust.admit(path: path, dataDirectory: data).previous == 2)
        // An older file, even signed by everyone, is refused; the accepted one stays.
        try write(m.file(version: 1), signedBy: m.ids)
        #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.admit(path: path, dataDirectory: data) }
        let kept = try Data(contentsOf: URL(fileURLWithPath: FederationTrust.acceptedPath(dataDirectory: data)))
        #expect(Array(kept) == m.file(version: 2))
        try write(m.file(version: 3), signedBy: ["scotland", "england", "northern-ireland"])
        #expect(try FederationTrust.admit(path: path, dataDirectory: data).federation.version == 3)
        // A garbage signature file is a clear refusal.
        try Data("not a note".utf8).write(to: URL(fileURLWithPath: FederationTrust.signaturePath(of: path)))
        #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.admit(path: path, dataDirectory: data) }
    }

    /// A file a node accepted before finding 215's rules (an `api` with a path) still starts the
    /// node, given again unchanged; a new version must follow the rules (a corrected one is
    /// taken on the old version's quorum, one keeping the path is refused).
    @Test func aFileAcceptedBeforeTheAPIRuleStillStartsTheNodeAndANewVersionFollowsIt() throws {
        let m = try Members()
        let (directory, path, data) = try Self.nodeDirectory("federation-legacy")
        defer { try? FileManager.default.removeItem(at: directory) }
        func withPath(_ bytes: [UInt8]) -> [UInt8] {
            Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"https://127.0.0.1:8402\"", with: "\"https://127.0.0.1:8402/v1/logs/wales?\"").utf8)
        }
        func write(_ bytes: [UInt8], to file: String) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let statement = FederationTrust.Statement(file: bytes, federation: try Federation.parse(Data(bytes), file: file, accepted: true))
            var note: SignedNote?
            for id in ["uk", "wales", "england"] { note = try FederationTrust.sign(statement, adding: try NoteSigner(name: "quartet.test/\(id)", key: m.keys[id]!), to: note) }
            try Data(try #require(note).serialized.utf8).write(to: URL(fileURLWithPath: FederationTrust.signaturePath(of: file)))
        }
        let old = withPath(m.file(version: 1))
        #expect(throws: (any Error).self) { try Federation.parse(Data(old), file: "federation.json") }
        // Accepted by a node before the rule: its accepted copy, and the same file configured.
        try write(old, to: FederationTrust.acceptedPath(dataDirectory: data))
        try write(old, to: path)
        #expect(try FederationTrust.admit(path: path, dataDirectory: data).federation.version == 1)
        // A new version keeping the path: refused, naming the rule; nothing kept.
        try write(withPath(m.file(version: 2)), to: path)
        let refused = #expect(throws: (any Error).self) { try FederationTrust.admit(path: path, dataDirectory: data) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("no path, query or fragment"))
        // Corrected: taken on version 1's quorum, and compared with it (a reload's check) as well.
        try write(m.file(version: 2), to: path)
        // The command line reads the accepted copy by the rules it was accepted under too: the
        // corrected version reviewed against it, and a policy written from it (its `api` cut to
        // scheme, host and port).
        let accepted = FederationTrust.acceptedPath(dataDirectory: data)
        let verified = try TestKit.quartet(["federation", "verify", "--file", path, "--accepted", accepted])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // (These members list no witness keys: the policy gets as far as saying so, past the read.)
        let policy = try TestKit.quartet(["policy", "--federation", accepted, "--log", "wales"])
        #expect(policy.stderr.contains("no member lists a witness key") && !policy.stderr.contains("path, query or fragment"), "\(policy.stdout)\(policy.stderr)")
        #expect(try FederationTrust.admit(path: path, dataDirectory: data).federation.version == 2)
    }
}
