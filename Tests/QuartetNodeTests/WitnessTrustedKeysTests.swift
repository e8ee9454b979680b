import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
@testable import QuartetStore
import QuartetTestKit
import Testing

/// The log keys a witness trusts for a checkpoint of a member's log it holds a copy of
/// (`WitnessService.trustedKeys`): the key in force at the checkpoint's size, as replication
/// checks it, never a key the log rotated away from; beyond what it holds, also the key the
/// federation names as current; never a key the federation revoked at or below the size.
@Suite struct WitnessTrustedKeysTests {
    static let origin = "quartet.test/wales"

    static func keys(_ size: UInt64, chain: KeyChain, held: UInt64, current: Ed25519PrivateKey? = nil,
                     revoked: [Ed25519PublicKey: UInt64] = [:]) -> [Ed25519PublicKey] {
        WitnessService.trustedKeys(size: size, chain: chain, held: held, current: current.map { NoteVerifier(name: origin, publicKey: $0.publicKey) },
                                   revoked: revoked).map(\.publicKey)
    }

    @Test func aKeyTheLogRotatedAwayFromSignsNothingAfterTheRotation() throws {
        let old = try Ed25519PrivateKey(), new = try Ed25519PrivateKey(), newer = try Ed25519PrivateKey()
        var chain = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: old.publicKey))
        try chain.apply(try KeyRotation.make(origin: Self.origin, index: 7, previous: old, key: new))
        // Held to 10 entries, the rotation at index 7 among them.
        #expect(Self.keys(5, chain: chain, held: 10) == [old.publicKey])
        #expect(Self.keys(9, chain: chain, held: 10) == [new.publicKey], "the old key, leaked or not, signs nothing beyond the rotation")
        #expect(Self.keys(12, chain: chain, held: 10) == [new.publicKey], "nor beyond what is held")
        // A rotation beyond what is held, named in the federation file: trusted beyond what is held only.
        #expect(Self.keys(12, chain: chain, held: 10, current: newer) == [new.publicKey, newer.publicKey])
        #expect(Self.keys(9, chain: chain, held: 10, current: newer) == [new.publicKey])
        // A key the federation revoked beyond a size signs nothing larger.
        #expect(Self.keys(12, chain: chain, held: 10, current: newer, revoked: [new.publicKey: 10]) == [newer.publicKey])
        #expect(Self.keys(9, chain: chain, held: 10, current: newer, revoked: [new.publicKey: 10]) == [new.publicKey])
    }

    @Test func aRotationNotHeldYetLeavesThePinnedKeyAndTheCurrentOneBeyondWhatIsHeld() throws {
        let old = try Ed25519PrivateKey(), new = try Ed25519PrivateKey()
        let chain = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: old.publicKey))
        #expect(Self.keys(8, chain: chain, held: 10, current: new) == [old.publicKey])
        #expect(Self.keys(12, chain: chain, held: 10, current: new) == [old.publicKey, new.publicKey])
        #expect(Self.keys(12, chain: chain, held: 10, current: old) == [old.publicKey], "the current key named twice is trusted once")
    }

    /// Read from this node's copy of the log: the pinned key while the copy holds no rotation;
    /// no key at all while the copy cannot be read (here: it records a rotation with no entry
    /// behind it), never the federation's keys in its place, which would trust a key the log
    /// may have rotated away from for as long as the store fails.
    @Test func aCopyThatCannotBeReadTrustsNoKey() throws {
        let store = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory("witness-keys").path))
        let pinned = try Ed25519PrivateKey(), current = try Ed25519PrivateKey()
        func member(_ log: String) -> Federation.Member {
            Federation.Member(id: log, role: .nation, peer: HostPort(host: "127.0.0.1", port: 1), api: "https://127.0.0.1:2", log: log,
                              verifier: NoteVerifier(name: "quartet.test/\(log)", publicKey: pinned.publicKey),
                              current: NoteVerifier(name: "quartet.test/\(log)", publicKey: current.publicKey))
        }
        let wales = try store.addLog(name: "wales", origin: "quartet.test/wales", publicKey: pinned.publicKey, own: false, nowMillis: 0)
        let scotland = try store.addLog(name: "scotland", origin: "quartet.test/scotland", publicKey: pinned.publicKey, own: false, nowMillis: 0)
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO log_keys (log_id, rotation_index, public_key) VALUES (?, 3, ?)",
                           arguments: [scotland.id, Data(current.publicKey.rawRepresentation)])
        }
        #expect(throws: StoreError.self) { try store.keyChain(scotland) }
        // Size 0 is held (nothing beyond it): the key chain's key only.
        #expect(WitnessService.trustedKeys(member("wales"), size: 0, ledger: store, info: wales).map(\.publicKey) == [pinned.publicKey])
        #expect(WitnessService.trustedKeys(member("wales"), size: 5, ledger: store, info: wales).map(\.publicKey) == [pinned.publicKey, current.publicKey])
        #expect(WitnessService.trustedKeys(member("scotland"), size: 0, ledger: store, info: scotland).isEmpty)
        #expect(WitnessService.trustedKeys(member("scotland"), size: 5, ledger: store, info: scotland).isEmpty)
        // Told apart where the witness answers: its own fault (500), not a refused key (403).
        #expect(throws: StoreError.self) { try WitnessService.readTrustedKeys(member("scotland"), size: 5, ledger: store, info: scotland) }
        // A log this node holds no copy of: the keys the federation names.
        #expect(WitnessService.trustedKeys(member("england"), size: 5, ledger: store, info: nil).map(\.publicKey) == [pinned.publicKey, current.publicKey])
    }

    /// A thief holding the log's key rotated it to a key of its own at an index the honest
    /// writer's copy never reached, and this witness's copy stored that history before the
    /// federation revoked the key (the writer rotated to its successor at 10 with
    /// `--no-overlap`; the file revokes the old key after 11, naming the successor as
    /// current_vkey). After the revocation the witness follows its copy's rotations with the
    /// federation's word on the log: the thief's rotation stops the chain, its key is trusted
    /// at no size, and the stop is told (logged once by the service) (finding 115).
    @Test func aStoredThiefRotationIsNoLongerTrustedOnceTheKeyIsRevoked() throws {
        let store = try TestKit.makeStore(log: "england")
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let origin = "quartet.test/wales"
        let old = try Ed25519PrivateKey(), successor = try Ed25519PrivateKey(), thief = try Ed25519PrivateKey()
        let wales = try store.addLog(name: "wales", origin: origin, publicKey: old.publicKey, own: false, nowMillis: 1)
        // The thief's history: five entries, then its rotation at 5 (signed by the old key it
        // holds and by its own), checkpoint of 6 signed by its key.
        var entries: [Entry] = []
        for i in 0..<5 {
            entries.append(try Entry(log: "wales", index: UInt64(i), timeMillis: 5, type: "test.note", classification: "public",
                                     author: "x", payload: TestKit.payload(i), salt: [UInt8](repeating: UInt8(i + 1), count: 32)))
        }
        let rotation = try KeyRotation.make(origin: origin, index: 5, previous: old, key: thief)
        entries.append(try Entry(log: "wales", index: 5, timeMillis: 5, type: KeyRotation.entryType, classification: "public",
                                 author: "x", payload: rotation.payload, salt: [UInt8](repeating: 9, count: 32)))
        var frontier = MerkleFrontier()
        for entry in entries { frontier.append(entry.leafHash) }
        let checkpoint = Checkpoint(origin: origin, size: 6, root: frontier.root, timeMillis: 5)
        try store.ingest(wales, from: 0, entries: entries, note: try NoteSigner(name: origin, key: thief).sign(checkpoint).serialized, checkpoint: checkpoint)
        #expect(try store.keyChain(wales).current == thief.publicKey)

        var member = Federation.Member(id: "wales", role: .nation, peer: HostPort(host: "127.0.0.1", port: 1), api: "https://127.0.0.1:2", log: "wales",
                                       verifier: NoteVerifier(name: origin, publicKey: old.publicKey),
                                       current: NoteVerifier(name: origin, publicKey: successor.publicKey))
        var stops: [KeyChain.Stop] = []
        func trusted(_ size: UInt64) -> [Ed25519PublicKey] {
            WitnessService.trustedKeys(member, size: size, ledger: store, info: wales, stopped: { stops.append($0) }).map(\.publicKey)
        }
        // Before the revocation the copy's chain leads to the thief's key (nothing tells it
        // from a rotation of the writer's).
        #expect(trusted(6) == [thief.publicKey])
        #expect(stops.isEmpty)
        // The revocation: the thief's rotation is disowned; the old key signs within its limit,
        // the successor beyond what is held, the thief's key nothing.
        member.revoked = [old.publicKey: 11]
        #expect(trusted(6) == [old.publicKey])
        #expect(trusted(8) == [old.publicKey, successor.publicKey])
        #expect(trusted(12) == [successor.publicKey])
        for size: UInt64 in [1, 6, 7, 12, 100] { #expect(!trusted(size).contains(thief.publicKey), "size \(size)") }
        #expect(stops.first?.rotation == rotation && stops.first?.leftOut == [rotation], "\(stops)")
        // Nothing stored was deleted: the copy still holds the rotation.
        #expect(try store.keyChain(wales).current == thief.publicKey && store.size(wales) == 6)
    }
}
