import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import QuartetTestKit
import Testing

/// What `quartet federation sign` and `verify --config` rely on: the bytes signed are the bytes
/// read (and reviewed) once, a reviewed digest pins them, a baseline's signatures are checked,
/// and a reload's conflicts are found from a node's data directory.
@Suite struct FederationSigningTests {
    typealias Members = FederationTrustTests.Members

    @Test func signingSignsTheBytesReadNotTheFileAsItIsNow() throws {
        let m = try Members()
        let directory = try TestKit.temporaryDirectory("federation-signing")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("federation.json").path
        let reviewed = m.file(version: 2), swapped = m.file(version: 2, members: ["uk", "wales", "england", "scotland"])
        try Data(reviewed).write(to: URL(fileURLWithPath: path))
        let read = try FederationTrust.read(path, signatures: false)
        // The file changes between the review and the signature (a shared checkout).
        try Data(swapped).write(to: URL(fileURLWithPath: path))
        // Another member signs the reviewed bytes meanwhile: its line is kept.
        let england = try m.sign(reviewed, by: ["england"])
        try Data(england.serialized.utf8).write(to: URL(fileURLWithPath: FederationTrust.signaturePath(of: path)))
        let note = try FederationTrust.sign(read, member: "uk", key: m.keys["uk"]!)
        #expect(FederationTrust.Statement(text: note.text) == FederationTrust.Statement(file: reviewed, federation: try m.parse(reviewed)))
        #expect(FederationTrust.signers(of: note, among: try m.parse(reviewed)) == ["uk", "england"])
        // What was written is that note: over the reviewed bytes, refused for the file on disk.
        let written = try #require(try FederationTrust.read(path).note)
        #expect(written.text == note.text)
        #expect(m.refusal(swapped, written)?.contains("changed after it was signed") == true)
        #expect(m.refusal(reviewed, try m.sign(reviewed, by: ["uk", "england", "wales"])) == nil)
        // Signatures over other bytes are not mixed in; --fresh starts again.
        try Data(try m.sign(swapped, by: ["wales"]).serialized.utf8).write(to: URL(fileURLWithPath: FederationTrust.signaturePath(of: path)))
        #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.sign(read, member: "uk", key: m.keys["uk"]!) }
        #expect(try FederationTrust.sign(read, member: "uk", key: m.keys["uk"]!, fresh: true).signatures.count == 1)
    }

    @Test func aPinnedDigestMustBeTheBytes() throws {
        let m = try Members()
        let bytes = m.file(version: 1), other = m.file(version: 2)
        let digest = Hex.encode(SHA256.hash(bytes))
        try FederationTrust.checkPinned(bytes, sha256: digest)
        try FederationTrust.checkPinned(bytes, sha256: digest.uppercased())
        do {
            try FederationTrust.checkPinned(other, sha256: digest)
            Issue.record("other bytes passed")
        } catch {
            #expect(error.description.contains(digest) && error.description.contains(Hex.encode(SHA256.hash(other))), "\(error)")
            #expect(error.description.contains("nothing was signed"))
        }
        for bad in ["", String(digest.dropLast()), digest + "0", String(digest.dropLast()) + "g", "sha256:" + digest] {
            #expect(throws: FederationTrust.Refusal.self) { try FederationTrust.checkPinned(bytes, sha256: bad) }
        }
    }

    @Test func aBaselinesSignaturesMustBeAboutItsBytesAndAreSaidWhenNoQuorum() throws {
        let m = try Members()
        let v1 = m.file(version: 1)
        let federation = try m.parse(v1)
        // Unsigned: nothing to check (the command warns).
        #expect(try FederationTrust.checkBaseline(file: v1, federation: federation, note: nil) == nil)
        let full = try FederationTrust.checkBaseline(file: v1, federation: federation, note: try m.sign(v1, by: ["uk", "wales", "england"]))
        #expect(full?.signers == ["uk", "wales", "england"] && full?.quorum == true)
        // Too few of its own members, or by outsiders' keys: returned as no quorum (a node may
        // have accepted it on the version before's quorum; the command says so loudly).
        let few = try FederationTrust.checkBaseline(file: v1, federation: federation, note: try m.sign(v1, by: ["uk", "wales"]))
        #expect(few?.signers == ["uk", "wales"] && few?.quorum == false)
        let outsiders = try FederationTrust.checkBaseline(file: v1, federation: federation,
                                                          note: try m.sign(v1, by: ["uk", "wales", "england"], keys: ["uk": m.outsider, "wales": m.outsider]))
        #expect(outsiders?.signers == ["england"] && outsiders?.quorum == false)
        // Signatures about other bytes: refused (a baseline altered to hide what a change does).
        let edited = m.file(version: 1, members: ["uk", "wales", "england"])
        #expect(throws: FederationTrust.Refusal.self) {
            try FederationTrust.checkBaseline(file: edited, federation: try m.parse(edited), note: try m.sign(v1, by: m.ids))
        }
    }

    @Test func aReloadConflictIsReadFromTheNodesAcceptedFile() throws {
        let m = try Members()
        let directory = try TestKit.temporaryDirectory("federation-reload-conflict")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let v2 = try m.parse(m.file(version: 2))
        // Nothing accepted yet: a first start makes no such check.
        #expect(try FederationTrust.reloadConflict(of: v2, dataDirectory: data, node: "wales") == nil)
        try Data(m.file(version: 1)).write(to: URL(fileURLWithPath: FederationTrust.acceptedPath(dataDirectory: data)))
        #expect(try FederationTrust.reloadConflict(of: v2, dataDirectory: data, node: "wales") == nil)
        // A member's role, a member's log key, this node dropped.
        let demoted = try m.parse(Array(String(decoding: m.file(version: 2), as: UTF8.self).replacingOccurrences(of: "\"aggregator\"", with: "\"nation\"").utf8))
        #expect(try FederationTrust.reloadConflict(of: demoted, dataDirectory: data, node: "wales")?.contains("member uk's role differs") == true)
        let rekeyed = try m.parse(m.file(version: 2, replacing: ["england": m.outsider]))
        #expect(try FederationTrust.reloadConflict(of: rekeyed, dataDirectory: data, node: "wales")?.contains("member england's log or log key differs") == true)
        let without = try m.parse(m.file(version: 2, members: ["uk", "england", "scotland", "northern-ireland"]))
        #expect(try FederationTrust.reloadConflict(of: without, dataDirectory: data, node: "wales")?.contains("does not list this node (wales)") == true)
        // The same check as a running node's (`Federation.reloadConflict`, pure).
        #expect(try m.parse(m.file(version: 1)).reloadConflict(with: demoted, me: "wales") == FederationTrust.reloadConflict(of: demoted, dataDirectory: data, node: "wales"))
    }
}
